"""Evaluation: metrics, attacks and probes that take a model adapter and data, and return
per-example results. Never imports ``methods``: it evaluates a model however it was made.

``evaluate(model, data, suites=["tofu", "muse", "mia"], oracle=...)`` is the entry point;
``METRICS``, ``MIA_ATTACKS`` and ``SUITES`` are the registries.
"""

from unlearnkit.evaluation.api import EvalConfig, EvalReport, evaluate
from unlearnkit.evaluation.context import EvalContext
from unlearnkit.evaluation.data import EvalData, eval_data
from unlearnkit.evaluation.metrics import METRICS, Metric, MetricError, Split
from unlearnkit.evaluation.mia import MIA_ATTACKS, MIAAttack
from unlearnkit.evaluation.suites import SUITES, Suite, SuiteItem, run_suite

__all__ = [
    "METRICS",
    "MIA_ATTACKS",
    "SUITES",
    "EvalConfig",
    "EvalContext",
    "EvalData",
    "EvalReport",
    "MIAAttack",
    "Metric",
    "MetricError",
    "Split",
    "Suite",
    "SuiteItem",
    "eval_data",
    "evaluate",
    "run_suite",
]
