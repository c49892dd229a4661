"""Conformance suite generated from the method registry: every registered method must pass."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.conftest import counting_examples
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.methods import METHODS, UnlearningError, unlearn
from unlearnkit.methods.api import methods_of
from unlearnkit.methods.base import EditMethod, InferenceMethod
from unlearnkit.models.adapters import CausalLMAdapter, model_fingerprint

#: the family this module covers (classifier and recommender methods have their own suites:
#: test_classifier_methods.py, test_recommender_methods.py; test_coverage.py checks that
#: every registered method of every family is covered, and the contract every method keeps)
FAMILY = "lm"
ALL = methods_of(FAMILY)
CORE = ["grad_ascent", "grad_diff", "kl", "npo", "simnpo", "idk_dpo", "idk_nll", "rmu"]


def test_the_core_set_is_registered():
    assert set(CORE) <= set(ALL)


def _data():
    ex = counting_examples()
    pairs = [
        (e.prompt.removeprefix("Question: ").removesuffix("\nAnswer:"), e.completion.strip())
        for e in ex
    ]
    qa = [p for p, e in zip(pairs, ex, strict=True) if e.prompt.startswith("Question:")]
    return qa[:2], qa[2:]


def _adapter(tiny_lm) -> CausalLMAdapter:
    from unlearnkit.data.formatting import PromptFormat

    return CausalLMAdapter(
        copy.deepcopy(tiny_lm.model), tiny_lm.tokenizer, prompt_format=PromptFormat()
    )


def _nll(adapter: CausalLMAdapter, pairs) -> float:
    fmt = adapter.prompt_format
    scores = adapter.score(
        [fmt.prompt(q) for q, _ in pairs], [fmt.continuation(a) for _, a in pairs]
    )
    return sum(s.nll for s in scores) / sum(s.n_tokens for s in scores)


def _edits(name: str) -> bool:
    return issubclass(METHODS.get(name), EditMethod)


def _wraps(name: str) -> bool:
    return issubclass(METHODS.get(name), InferenceMethod)


@pytest.fixture
def model_for(request):
    """The fixture model a method runs on: the counting MoE for methods that need experts."""

    def pick(name: str):
        moe = getattr(METHODS.get(name), "requires_moe", False)
        return request.getfixturevalue("tiny_moe" if moe else "tiny_lm")

    return pick


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_two_steps_change_parameters_deterministically(name, model_for):
    tiny_lm = model_for(name)
    forget, retain = _data()
    fps = []
    if _wraps(name):  # no weight change: a wrapper, deterministic, that acts
        weights = model_fingerprint(tiny_lm.model)
        for _ in range(2):
            adapter = _adapter(tiny_lm)
            out, record = unlearn(adapter, forget, retain, name, progress=False, seed=3)
            assert record.steps == 0 and record.parameters_changed == 0
            bare = getattr(out.model, "target", out.model)  # ULD serves target + assistant
            assert model_fingerprint(bare) == weights and out.fingerprint() != weights
            fps.append(out.fingerprint())
        assert fps[0] == fps[1]
        return
    if _edits(name):  # one closed-form edit instead of steps
        for _ in range(2):
            adapter = _adapter(tiny_lm)
            before = adapter.fingerprint()
            out, record = unlearn(adapter, forget, retain, name, progress=False, seed=3)
            assert record.steps == 0 and record.parameters_changed > 0
            assert record.parameters_changed <= record.parameters_trainable
            fps.append(out.fingerprint())
            assert fps[-1] != before
        assert fps[0] == fps[1]
        return
    for _ in range(2):
        adapter = _adapter(tiny_lm)
        before = adapter.fingerprint()
        out, record = unlearn(
            adapter, forget, retain, name, max_steps=2, batch_size=2, progress=False, seed=3
        )
        assert record.steps == 2 and record.parameters_changed > 0
        assert record.parameters_changed <= record.parameters_trainable <= record.parameters_total
        fps.append(out.fingerprint())
        assert fps[-1] != before
    assert fps[0] == fps[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_lora_changes_only_adapter_weights_and_merges(name, model_for):
    tiny_lm = model_for(name)
    forget, retain = _data()
    adapter = _adapter(tiny_lm)
    if _edits(name):
        with pytest.raises(UnlearnkitError, match="lora"):
            unlearn(adapter, forget, retain, name, progress=False, lora=True)
        return
    if not METHODS.get(name).supports_lora:
        with pytest.raises(UnlearningError, match="does not train LoRA adapters"):
            unlearn(adapter, forget, retain, name, max_steps=1, progress=False, lora=True)
        return
    original = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    kw = {"max_steps": 2, "batch_size": 2, "progress": False, "lora": True, "lora_rank": 2}
    out, record = unlearn(adapter, forget, retain, name, merge_lora=False, **kw)
    assert record.parameters_trainable < record.parameters_total / 4
    lora_moved = False
    for key, value in out.model.state_dict().items():
        if "lora_" in key:
            lora_moved |= "lora_B" in key and bool(value.abs().sum() > 0)
            continue
        base = key.replace("base_model.model.", "", 1).replace(".base_layer", "")
        if METHODS.get(name).edits_base_weights and ".base_layer" in key:
            continue  # rewritten at setup, the model's function kept (tested per method)
        assert torch.equal(value, original[base]), f"{name} changed {base} under LoRA"
    assert lora_moved
    merged, _ = unlearn(_adapter(tiny_lm), forget, retain, name, **kw)
    assert set(merged.model.state_dict()) == set(original)  # a plain model again
    assert model_fingerprint(merged.model) != model_fingerprint(tiny_lm.model)


# LoKU's learning rate in the test below. FILA starts its LoRA factors at B ≈ 10, A ≈ 0.01 on
# this fixture (B scales as 1/sqrt(the forget Fisher), and the fixture fits its data to
# ~5e-5 nats/token), so an Adam step of lr on A moves the weights ~100 times more than the
# same lr does for the other methods, and the near-zero gradients of so well fitted a model
# make the direction of those steps depend on float rounding. At lr 1e-3 the outcome after 6
# steps varied with the CPU kernels (ATEN_CPU_CAPABILITY avx512 / avx2 / default: retain NLL
# 0.30 / 0.70 / 0.42) and with the fixture's seed (1.3 to 2.8); one AVX-512 machine saw the
# forget IHL rise. At 2e-4, measured over those three kernels and fixture seeds 0-5, the IHL
# fell by 0.08 to 0.33 and the retain NLL stayed at or below 0.41.
LOKU_LR = 2e-4


@pytest.mark.parametrize("name", ALL)
def test_forget_objective_falls_while_retain_loss_holds(name, model_for, tmp_path):
    tiny_lm = model_for(name)
    """The method's own forget term (logged as forget_*) goes the way it is minimised, and
    the retain NLL stays within 0.5 nats/token. One learning rate for every method (the
    defaults are tuned for the demo world, not for this fixture), except LoKU, whose
    FILA-initialised factors make the same lr a much larger step (see LOKU_LR)."""
    import json

    forget, retain = _data()
    adapter = _adapter(tiny_lm)
    r0 = _nll(adapter, retain)
    if _wraps(name):  # the wrapper changes what the model says, and is saved with it
        out, _ = unlearn(adapter, forget, retain, name, progress=False, out_dir=tmp_path)
        assert _nll(out, forget) != _nll(adapter, forget)
        loaded = type(adapter).from_pretrained(tmp_path / "model")
        assert type(loaded) is type(out) and loaded.fingerprint() == out.fingerprint()
        return
    if _edits(name):  # one edit: its own objective falls, reported in the record
        out, record = unlearn(adapter, forget, retain, name, progress=False)
        assert record.details["objective_after"] < record.details["objective_before"]
        assert _nll(out, retain) < r0 + 0.5
        return
    out, _ = unlearn(
        adapter,
        forget,
        retain,
        name,
        max_steps=6,
        batch_size=2,
        lr=LOKU_LR if name == "loku" else 1e-3,
        out_dir=tmp_path,
        progress=False,
    )
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    (term,) = [k for k in log[0] if k.startswith("forget_")]
    assert log[-1][term] < log[0][term], f"{name}: {term} {log[0][term]:.4f} -> {log[-1][term]:.4f}"
    assert _nll(out, retain) < r0 + 0.5


@pytest.mark.parametrize("name", ["grad_ascent", "grad_diff", "kl", "npo", "simnpo"])
def test_likelihood_methods_raise_the_forget_nll(name, tiny_lm):
    forget, retain = _data()
    adapter = _adapter(tiny_lm)
    f0 = _nll(adapter, forget)
    out, _ = unlearn(
        adapter, forget, retain, name, max_steps=6, batch_size=2, lr=1e-3, progress=False
    )
    assert _nll(out, forget) > f0 + 0.5
