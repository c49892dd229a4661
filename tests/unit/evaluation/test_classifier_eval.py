"""Classifier evaluation on the tiny memorising CNN: the report's shape and the sanity
laws (the target is told apart from unseen people, the oracle much less; CKA of a model
with itself is 1)."""

from __future__ import annotations

import math

import pytest

from unlearnkit.evaluation.classifier import evaluate_classifier, identity_probe, summary
from unlearnkit.models.adapters.classifier import ClassifierAdapter


@pytest.fixture(scope="module")
def reports(tiny_classifier, tiny_classifier_oracle):
    model, world = tiny_classifier
    splits = {s: world.split(s) for s in ("forget", "retain", "test", "unseen")}
    target, oracle = ClassifierAdapter(model), ClassifierAdapter(tiny_classifier_oracle)
    return (
        evaluate_classifier(target, splits, oracle=oracle),
        evaluate_classifier(oracle, splits, oracle=oracle),
        splits,
    )


@pytest.mark.slow
def test_report_has_every_measure_with_per_example_values(reports) -> None:
    target, _, splits = reports
    for s in ("forget", "retain", "test", "unseen"):
        assert len(target[f"acc/{s}"].values) == len(splits[s])
    n = len(splits["forget"]) + len(splits["unseen"])
    for k in ("loss_threshold", "confidence", "entropy", "m_entropy", "loss_auc"):
        assert len(target[f"mia/{k}"].values) == n
    for k in ("mia/logistic", "mia/svc_efficacy", "nomus", "repr/knn_test", "repr/identity_probe"):
        assert k in target
    assert target["acc/forget"].higher_is_better is False


@pytest.mark.slow
def test_sanity_laws(reports) -> None:
    target, oracle, _ = reports
    t, o = summary(target), summary(oracle)
    # the target memorised its forget images; the oracle never saw them
    assert t["acc/forget"] == 1.0 and o["acc/forget"] < 0.9
    assert t["mia/loss_auc"] > 0.8
    assert o["mia/loss_auc"] < t["mia/loss_auc"] - 0.2
    assert abs(o["mia/logistic"] - 0.5) < abs(t["mia/logistic"] - 0.5) + 1e-9
    # SalUn's efficacy: the target's forget set looks like members, the oracle's less so
    assert t["mia/svc_efficacy"] < o["mia/svc_efficacy"]
    # a model compared with itself
    for k, v in o.items():
        if k.startswith("repr/cka"):
            assert v == pytest.approx(1.0, abs=1e-6)


def test_identity_probe_needs_two_people(tiny_classifier) -> None:
    model, world = tiny_classifier
    forget = world.split("forget")
    one = forget.__class__(
        images=forget.images[:4], labels=forget.labels[:4], identity=forget.identity[:4] * 0
    )
    assert math.isnan(identity_probe(ClassifierAdapter(model), one))  # nothing to tell apart
