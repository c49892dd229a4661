"""Conformance suite generated from the metric registry for the classifier and recommender
families: every registered metric of each (audits included) runs on the family's tiny model
(the memorising CNN of the test identity world; a BPR-MF trained on the test interaction
world) and returns Results with per-example ids matching their values, a finite aggregate
(or a NaN documented below), a boolean direction, an interval when asked for, the same
numbers twice, and an error naming what it misses. The evaluations run exactly the
registered metrics. (Configs round-trip for every metric of every family in
test_metrics.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import unlearnkit.audit.classifier
import unlearnkit.audit.recommender  # noqa: F401  (they register the audits' metrics)
from unlearnkit.core.results import Result
from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.classifier import evaluate_classifier
from unlearnkit.evaluation.classifier.metrics import ClassifierMetric
from unlearnkit.evaluation.classifier.population import shadow_models
from unlearnkit.evaluation.metrics import METRICS, MetricError, metric_family, metrics_of
from unlearnkit.evaluation.recommender import (
    RecommenderMetric,
    evaluate_recommender,
)
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
from unlearnkit.models.vision import build_classifier, classifier_preset

#: the families this module covers, with their metric base class
FAMILIES = {"classifier": ClassifierMetric, "recommender": RecommenderMetric}
CASES = [(f, n) for f in FAMILIES for n in metrics_of(f, audit=None)]
IDS = [n for _, n in CASES]
#: short settings so that the suite stays fast (a metric not named here runs its defaults)
SHORT = {
    "classifier_audit": {"relearn_steps": [2, 4], "bits": [4], "noise": [0.01]},
    "recommender_audit": {"relearn_steps": [2, 4], "bits": [4], "noise": [0.01], "k": 10},
}
#: the inputs beyond the model and the splits a metric may declare it needs
INPUTS = {"needs_oracle": "oracle", "needs_shadows": "shadows", "needs_before": "before"}
NEEDS = [
    (n, arg)
    for _, n in CASES
    for flag, arg in INPUTS.items()
    if getattr(METRICS.get(n), flag, False)
]
#: results whose aggregate may be NaN on these models, with the reason (none so far)
NAN_OK: dict[str, str] = {}


def test_every_metric_of_these_families_is_covered() -> None:
    """A registered metric's family and class agree, so that this suite runs it."""
    assert all(IDS.count(n) == 1 for n in IDS)
    for family, base in FAMILIES.items():
        assert metrics_of(family, audit=True), f"{family} has no registered audit"
        for name in metrics_of(family, audit=None):
            cls = METRICS.get(name)
            assert issubclass(cls, base), name
            assert METRICS.entry(name).meta["family"] == family
            assert isinstance(cls.higher_is_better, bool)
    assert set(SHORT) <= set(IDS)


# ------------------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def classifier_setup(tiny_classifier, tiny_classifier_oracle):
    """The tiny CNN, its oracle, the four splits and two LiRA shadows (trained like the
    target on halves of the train and unseen images)."""
    model, world = tiny_classifier
    splits = {s: world.split(s) for s in ("forget", "retain", "test", "unseen", "train")}
    pool = ClassificationData(
        torch.cat([splits["train"].images, splits["unseen"].images]),
        torch.cat([splits["train"].labels, splits["unseen"].labels]),
        torch.cat([splits["train"].identity, splits["unseen"].identity]),
        name="pool",
    )

    def train(data: ClassificationData, seed: int) -> ClassifierAdapter:
        shadow = build_classifier(classifier_preset("cnn"), seed=seed)
        train_classifier(shadow, data.images, data.labels, ClassifierTrainConfig(epochs=10))
        return ClassifierAdapter(shadow)

    shadows = shadow_models(train, pool, 2, seed=0)
    del splits["train"]
    return ClassifierAdapter(model), ClassifierAdapter(tiny_classifier_oracle), splits, shadows


@pytest.fixture(scope="module")
def recommender_setup(tiny_recommender):
    """The tiny BPR-MF, its oracle and the users request's splits (tests/conftest.py)."""
    return tiny_recommender


def run(request, name: str, *, drop: str | None = None, **overrides) -> dict[str, Result]:
    """Compute metric ``name`` on its family's tiny model with every input it may read
    (``drop``: one left out: oracle, shadows or before)."""
    cls = METRICS.get(name)
    metric = cls({**SHORT.get(name, {}), **overrides})
    if metric_family(name) == "classifier":
        model, oracle, splits, shadows = request.getfixturevalue("classifier_setup")
        inputs = {"oracle": oracle, "shadows": shadows}
        inputs.pop(drop or "", None)
        return metric.compute(model, splits, **inputs)
    target, oracle, splits = request.getfixturevalue("recommender_setup")
    inputs = {"oracle": oracle, "before": target}
    inputs.pop(drop or "", None)
    return metric.compute(oracle, splits, **inputs)


def _has_interval(name: str) -> bool:
    return "bootstrap" in METRICS.get(name).config_class.__dataclass_fields__


# ------------------------------------------------------------------------------ running
@pytest.mark.parametrize(("family", "name"), CASES, ids=IDS)
def test_metric_returns_results(family, name, request) -> None:
    interval = _has_interval(name)
    results = run(request, name, **({"bootstrap": 50} if interval else {}))
    assert results and all(isinstance(k, str) and k for k in results)
    for key, res in results.items():
        assert isinstance(res, Result), key
        assert isinstance(res.higher_is_better, bool), key
        assert res.values, key
        assert all(math.isfinite(v) or math.isnan(v) for v in res.values), key
        if len(res.values) > 1:  # per example: one id each
            assert res.ids is not None and len(res.ids) == len(res.values), key
            assert len(set(res.ids)) == len(res.ids), key
        if math.isnan(res.aggregate):
            assert key in NAN_OK, f"{name}: {key} is NaN; document why in NAN_OK or fix it"
            continue
        assert math.isfinite(res.aggregate), key
        if interval and len(res.values) > 1:
            assert res.ci is not None, key
            low, high = res.ci
            assert low <= res.aggregate <= high or math.isclose(low, high), (key, res.ci)


@pytest.mark.parametrize(("family", "name"), CASES, ids=IDS)
def test_metric_gives_the_same_numbers_twice(family, name, request) -> None:
    def plain(results: dict[str, Result]) -> dict:
        return {k: r.to_dict() for k, r in results.items()}  # NaN as a string: comparable

    assert plain(run(request, name)) == plain(run(request, name))


@pytest.mark.parametrize(("name", "arg"), NEEDS, ids=[f"{n}-without-{a}" for n, a in NEEDS])
def test_metric_names_the_input_it_misses(name, arg, request) -> None:
    with pytest.raises(MetricError, match=f"{arg}="):
        run(request, name, drop=arg)


# ------------------------------------------------------------------------------ evaluations
def test_the_classifier_evaluation_runs_exactly_its_registered_metrics(request) -> None:
    model, oracle, splits, shadows = request.getfixturevalue("classifier_setup")
    report = evaluate_classifier(model, splits, oracle=oracle, shadows=shadows)
    keys: list[str] = []
    for name in metrics_of("classifier"):
        keys += list(METRICS.get(name)().compute(model, splits, oracle=oracle, shadows=shadows))
    assert list(report) == keys
    assert "mia/lira" in report and not set(report) & set(SHORT)


def test_the_recommender_evaluation_runs_exactly_its_registered_metrics(request) -> None:
    target, oracle, splits = request.getfixturevalue("recommender_setup")
    report = evaluate_recommender(target, splits, before=target, oracle=oracle)
    keys: list[str] = []
    for name in metrics_of("recommender"):
        keys += list(METRICS.get(name)().compute(target, splits, before=target, oracle=oracle))
    assert list(report) == keys
    assert np.isclose(report["mi/bf"].aggregate, 1.0)  # the model against itself
