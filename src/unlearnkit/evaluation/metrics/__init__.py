"""Evaluation metrics of every model family in one registry, ``METRICS``: the language
models' (TOFU's, memorisation, MUSE's, WMDP's), the image classifiers' and the
recommenders'. Each module registers its metrics on import; :func:`metrics_of` lists one
family's. The robustness audits register theirs (``audit=True``) when
:mod:`unlearnkit.audit.classifier` and :mod:`unlearnkit.audit.recommender` are imported
(the audit layer sits above this one)."""

# every family's metric modules, each registering its metrics
from unlearnkit.evaluation import recommender as _recommender  # noqa: F401
from unlearnkit.evaluation.classifier import metrics as _classifier  # noqa: F401
from unlearnkit.evaluation.metrics import memorisation as _memorisation  # noqa: F401
from unlearnkit.evaluation.metrics import muse as _muse  # noqa: F401
from unlearnkit.evaluation.metrics import tofu as _tofu  # noqa: F401
from unlearnkit.evaluation.metrics import wmdp as _wmdp  # noqa: F401
from unlearnkit.evaluation.metrics.base import (
    METRICS,
    IntervalConfig,
    Metric,
    MetricBase,
    MetricConfig,
    MetricError,
    MetricSpec,
    QAConfig,
    Split,
    metric_family,
    metrics_of,
    register_metric,
)

__all__ = [
    "METRICS",
    "IntervalConfig",
    "Metric",
    "MetricBase",
    "MetricConfig",
    "MetricError",
    "MetricSpec",
    "QAConfig",
    "Split",
    "metric_family",
    "metrics_of",
    "register_metric",
]
