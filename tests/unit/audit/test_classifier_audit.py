"""The classifier's robustness audit returns Results: per forget image right or not, the
aggregate the adapter's accuracy after each attack (what the run's audit rows carried), the
relearning rows on the half of each person's images the attack did not teach."""

from __future__ import annotations

import numpy as np
import pytest

from unlearnkit.audit.classifier import (
    ClassifierAudit,
    ClassifierAuditConfig,
    audit_classifier,
    summary,
)
from unlearnkit.audit.quantization import quantized_copy
from unlearnkit.audit.tampering import noisy_copy
from unlearnkit.evaluation.classifier.metrics import example_ids
from unlearnkit.models.adapters.classifier import ClassifierAdapter

CONFIG = ClassifierAuditConfig(relearn_steps=(2, 6), bits=(8, 4), noise=(0.01,), seed=1)


@pytest.fixture(scope="module")
def audited(tiny_classifier):
    model, world = tiny_classifier
    adapter, forget = ClassifierAdapter(model), world.split("forget")
    return adapter, forget, audit_classifier(adapter, forget, CONFIG)


def test_keys_and_the_accuracies_of_the_attacked_models(audited) -> None:
    adapter, forget, res = audited
    keys = ["forget", "int8", "int4", "noise 0.01", "relearn@0", "relearn@2", "relearn@6"]
    assert list(res) == keys
    got = summary(res)
    assert got["forget"] == adapter.accuracy(forget.images, forget.labels)
    for b in (8, 4):
        attacked = adapter.like(quantized_copy(adapter.model, b))
        assert got[f"int{b}"] == attacked.accuracy(forget.images, forget.labels)
    noisy = adapter.like(noisy_copy(adapter.model, 0.01, seed=1))
    assert got["noise 0.01"] == noisy.accuracy(forget.images, forget.labels)
    assert all(0.0 <= v <= 1.0 for v in got.values())


def test_per_image_values_and_the_measured_half(audited) -> None:
    adapter, forget, res = audited
    ids = tuple(example_ids(forget))
    right = adapter.correct(forget.images, forget.labels).tolist()
    assert res["forget"].ids == ids and res["forget"].values == tuple(right)
    measured = res["relearn@0"].ids
    assert set(measured) < set(ids)
    people = forget.identity.numpy()
    for p in np.unique(people):  # half of each person's images (rounded up) are measured
        n = int((people == p).sum())
        assert sum(i.endswith(f":id{p}") for i in measured) == n - n // 2
    for key, r in res.items():
        assert r.name == f"audit/{key}" and r.higher_is_better is False
        assert r.aggregate == pytest.approx(np.mean(r.values), abs=1e-6)
        assert r.ids == (ids if not key.startswith("relearn") else measured)


def test_the_audit_is_deterministic_and_the_registered_metric_is_it(audited) -> None:
    adapter, forget, res = audited
    assert audit_classifier(adapter, forget, CONFIG) == res
    metric = ClassifierAudit(CONFIG.to_dict())
    assert metric.compute(adapter, {"forget": forget}) == res
