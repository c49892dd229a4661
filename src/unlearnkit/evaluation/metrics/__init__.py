"""Evaluation metrics: TOFU's, memorisation, MUSE's, WMDP's. ``METRICS`` is the registry; each
module registers its metrics on import."""

from unlearnkit.evaluation.metrics import memorisation as _memorisation  # noqa: F401
from unlearnkit.evaluation.metrics import muse as _muse  # noqa: F401
from unlearnkit.evaluation.metrics import tofu as _tofu  # noqa: F401
from unlearnkit.evaluation.metrics import wmdp as _wmdp  # noqa: F401
from unlearnkit.evaluation.metrics.base import (
    METRICS,
    Metric,
    MetricConfig,
    MetricError,
    MetricSpec,
    QAConfig,
    Split,
    register_metric,
)

__all__ = [
    "METRICS",
    "Metric",
    "MetricConfig",
    "MetricError",
    "MetricSpec",
    "QAConfig",
    "Split",
    "register_metric",
]
