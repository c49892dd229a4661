"""A suite scores a causal LM: naming another family's metric in it is a clear error."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from unlearnkit.core.errors import ConfigError
from unlearnkit.evaluation.suites import Suite, SuiteItem, run_suite


def test_a_classifier_metric_in_an_lm_suite_is_refused_by_family():
    suite = Suite(
        "mine", "a suite", (SuiteItem("forget/accuracy", "metric", "accuracy", ("forget",)),)
    )
    data = SimpleNamespace(split=lambda role: SimpleNamespace(name=role, records=[{}]))
    with pytest.raises(ConfigError, match=r"'accuracy' is a classifier metric.*LM metrics: "):
        run_suite(suite, ctx=None, data=data)  # type: ignore[arg-type]
