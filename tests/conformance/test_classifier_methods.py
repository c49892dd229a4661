"""Conformance suite generated from the registry: every classifier method must pass."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from unlearnkit.methods import METHODS, UnlearningError
from unlearnkit.methods.api import method_config, methods_of
from unlearnkit.methods.classifier.base import classifier_methods, unlearn_classifier
from unlearnkit.models.adapters.classifier import ClassifierAdapter

#: the family this module covers (tests/conformance/test_coverage.py checks that every
#: registered method of every family is covered)
FAMILY = "classifier"
NAMES = methods_of(FAMILY)


def test_the_family_and_the_method_class_agree():
    """A method registered as a classifier method is a ClassifierMethod, and back."""
    assert NAMES and classifier_methods() == NAMES
    for name in NAMES:
        assert METHODS.entry(name).meta["family"] == FAMILY


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_two_steps_change_parameters_deterministically(name, tiny_classifier, tmp_path):
    model, world = tiny_classifier
    before = _state(model)
    forget, retain = world.split("forget"), world.split("retain")
    short = {"epochs": 1, "batch_size": 8}
    out1, rec1 = unlearn_classifier(model, forget, retain, name, out_dir=tmp_path / "a", **short)
    out2, _rec2 = unlearn_classifier(model, forget, retain, name, **short)
    # the given model is untouched; the same seed gives the same weights
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{name} changed the input model's {k}"
    for k, v in out1.model.state_dict().items():
        assert torch.equal(v, out2.model.state_dict()[k]), f"{name} is not deterministic ({k})"
    assert rec1.steps >= 2 and rec1.parameters_changed > 0
    assert rec1.method == name and rec1.config == method_config(name, **short).to_dict()
    # another seed, other weights (every method draws batches from the seed)
    out3, _ = unlearn_classifier(model, forget, retain, name, seed=1, **short)
    assert any(
        not torch.equal(v, out3.model.state_dict()[k]) for k, v in out1.model.state_dict().items()
    )
    # saved and reloaded: the same predictions
    again = ClassifierAdapter.from_pretrained(tmp_path / "a" / "model")
    assert torch.equal(again.logits(forget.images), out1.logits(forget.images))
    assert (tmp_path / "a" / "record.json").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_the_forget_set_moves_away_from_the_target(name, tiny_classifier):
    """At lr 0.01 (its other settings the defaults) every method raises the forget set's
    loss above the target's. (Some tuned defaults barely move the model: on the tuning
    world nothing else kept both utility and NoMUS; see docs/classifiers.md.)"""
    model, world = tiny_classifier
    forget, retain = world.split("forget"), world.split("retain")
    target = ClassifierAdapter(model)
    out, _ = unlearn_classifier(model, forget, retain, name, lr=0.01)
    before = float(target.losses(forget.images, forget.labels).mean())
    after = float(out.losses(forget.images, forget.labels).mean())
    assert after > before, f"{name}: forget loss {before:.3f} -> {after:.3f}"


def test_bad_input_is_refused(tiny_classifier):
    model, world = tiny_classifier
    forget, retain = world.split("forget"), world.split("retain")
    empty = dataclasses.replace(
        forget, images=forget.images[:0], labels=forget.labels[:0], identity=forget.identity[:0]
    )
    with pytest.raises(UnlearningError, match="not a classifier method"):
        unlearn_classifier(model, forget, retain, "npo")
    with pytest.raises(UnlearningError, match="forget set is empty"):
        unlearn_classifier(model, empty, retain, "neg_grad")
    with pytest.raises(UnlearningError, match="retain set is empty"):
        unlearn_classifier(model, forget, empty, "finetune")


def test_cf_k_trains_only_the_last_blocks(tiny_classifier):
    model, world = tiny_classifier
    out, rec = unlearn_classifier(
        model, world.split("forget"), world.split("retain"), "cf_k", k=1, epochs=1
    )
    first = dict(model.blocks[0].named_parameters())
    for n, p in out.model.blocks[0].named_parameters():
        assert torch.equal(p, first[n]), f"frozen block 0 moved: {n}"
    assert not torch.equal(out.model.head.weight, model.head.weight)
    assert rec.details["trained_blocks"] == 1


def test_salun_moves_only_salient_weights_besides_decay(tiny_classifier):
    model, world = tiny_classifier
    forget, retain = world.split("forget"), world.split("retain")
    out, rec = unlearn_classifier(
        model, forget, retain, "salun", fraction=0.1, weight_decay=0.0, momentum=0.0, epochs=1
    )
    moved = sum(
        int((p != q).sum()) for p, q in zip(out.model.parameters(), model.parameters(), strict=True)
    )
    assert 0 < moved <= rec.details["salient_weights"]
    assert rec.details["salient_weights"] == pytest.approx(0.1 * rec.details["weights"], rel=0.05)


def test_unsir_noise_is_error_maximising(tiny_classifier):
    model, world = tiny_classifier
    _, rec = unlearn_classifier(model, world.split("forget"), world.split("retain"), "unsir")
    assert rec.details["noise_norm"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_multilabel_two_steps(name, tiny_multilabel_classifier):
    """Every method runs on the multi-label variant (binary attributes), deterministically,
    and moves the forget set's loss up at lr 0.01."""
    model, world = tiny_multilabel_classifier
    forget, retain = world.split("forget", "attributes"), world.split("retain", "attributes")
    a, rec = unlearn_classifier(model, forget, retain, name, epochs=1, batch_size=8)
    b, _ = unlearn_classifier(model, forget, retain, name, epochs=1, batch_size=8)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    assert rec.steps >= 2 and a.multilabel
    target = ClassifierAdapter(model)
    out, _ = unlearn_classifier(model, forget, retain, name, lr=0.01)
    before = float(target.losses(forget.images, forget.labels).mean())
    after = float(out.losses(forget.images, forget.labels).mean())
    assert after > before, f"{name}: forget loss {before:.3f} -> {after:.3f}"
