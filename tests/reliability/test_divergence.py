"""The divergence guard of the unlearning loop: a non-finite loss or gradient is never
applied, weights that explode or turn non-finite are put back, the model keeps the last
finite state, and the error names a checkpoint folder that exists (or says none was
written)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.conftest import counting_qa_pairs, fresh_adapter
from unlearnkit.cli import app
from unlearnkit.methods import METHODS, unlearn
from unlearnkit.methods.api import register_builtin_methods
from unlearnkit.methods.errors import DivergedError, UnlearningError
from unlearnkit.models.adapters import CausalLMAdapter

register_builtin_methods()
KW = {"batch_size": 2, "progress": False}


pairs, fresh = counting_qa_pairs, fresh_adapter


def steps_of(tiny_lm, n: int, method: str = "grad_diff", **config) -> CausalLMAdapter:
    forget, retain = pairs()
    out, _ = unlearn(fresh(tiny_lm), forget, retain, method, max_steps=n, **KW, **config)
    return out


def nan_gradient_at(monkeypatch, step: int, method: str = "grad_diff") -> None:
    """From the ``step``-th loss on, the loss stays finite but its gradient is NaN."""
    cls = METHODS.get(method)
    real, calls = cls.loss, {"n": 0}

    def loss(self, ctx, f, r):
        calls["n"] += 1
        terms = real(self, ctx, f, r)
        if calls["n"] >= step:
            terms["loss"].register_hook(lambda g: g * float("nan"))
        return terms

    monkeypatch.setattr(cls, "loss", loss)


def inf_weight_after_step(monkeypatch, step: int) -> None:
    """The ``step``-th optimiser step leaves one weight at inf (finite loss and gradient)."""
    real, calls = torch.optim.AdamW.step, {"n": 0}

    def bad_step(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == step:
            with torch.no_grad():
                self.param_groups[0]["params"][0].view(-1)[0] = float("inf")
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", bad_step)


def _finite(path) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in load_file(str(path)).values())


def test_a_nan_gradient_is_never_applied_and_the_saved_state_is_finite(
    tiny_lm, tmp_path, monkeypatch
):
    two = steps_of(tiny_lm, 2)
    four = steps_of(tiny_lm, 4)
    nan_gradient_at(monkeypatch, 3)
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    with pytest.raises(
        DivergedError, match=r"diverged at step 3: the gradient norm became nan"
    ) as e:
        unlearn(adapter, forget, retain, "grad_diff", max_steps=4, out_dir=tmp_path, **KW)
    err = e.value
    assert err.step == 2 and err.checkpoint == tmp_path / "checkpoints" / "step_000002"
    assert err.checkpoint.is_dir() and str(err.checkpoint) in str(err)  # the named path exists
    assert _finite(err.checkpoint / "weights.safetensors")
    assert _finite(err.checkpoint / "optimizer.safetensors")
    assert adapter.fingerprint() == two.fingerprint()  # the model object: 2 finite steps
    assert not (tmp_path / "record.json").exists()
    # the run resumes from the finite state: without the fault it ends as a clean run does
    monkeypatch.undo()
    resumed, record = unlearn(
        fresh(tiny_lm), forget, retain, "grad_diff", max_steps=4, out_dir=tmp_path, **KW
    )
    assert record.resumed_from_step == 2 and resumed.fingerprint() == four.fingerprint()


def test_a_nan_gradient_without_an_output_directory_says_nothing_was_written(tiny_lm, monkeypatch):
    two = steps_of(tiny_lm, 2, "npo", grad_accum=2)
    nan_gradient_at(monkeypatch, 5, "npo")  # micro-step 1 of step 3
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    with pytest.raises(DivergedError, match=r"after 2 steps; no checkpoint was written") as e:
        unlearn(adapter, forget, retain, "npo", max_steps=4, grad_accum=2, **KW)
    assert e.value.checkpoint is None
    assert adapter.fingerprint() == two.fingerprint()


def test_a_nan_gradient_in_the_first_step_keeps_the_initial_weights(tiny_lm, tmp_path, monkeypatch):
    nan_gradient_at(monkeypatch, 1)
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    before = adapter.fingerprint()
    with pytest.raises(DivergedError, match=r"after 0 steps \(its initial weights\); no check"):
        unlearn(adapter, forget, retain, "grad_diff", max_steps=4, out_dir=tmp_path, **KW)
    assert adapter.fingerprint() == before
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_a_non_finite_loss_keeps_the_last_good_state_and_names_its_checkpoint(
    bad, tiny_lm, tmp_path, monkeypatch
):
    two = steps_of(tiny_lm, 2, "simnpo")
    cls = METHODS.get("simnpo")
    real, calls = cls.loss, {"n": 0}

    def loss(self, ctx, f, r):
        calls["n"] += 1
        terms = real(self, ctx, f, r)
        if calls["n"] == 3:
            terms["loss"] = terms["loss"] * float(bad)
        return terms

    monkeypatch.setattr(cls, "loss", loss)
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    with pytest.raises(
        DivergedError, match=rf"step 3: the loss became {bad}.*last finite state, after 2 steps"
    ) as e:
        unlearn(adapter, forget, retain, "simnpo", max_steps=4, out_dir=tmp_path, **KW)
    assert e.value.checkpoint == tmp_path / "checkpoints" / "step_000002"
    assert f"saved in {e.value.checkpoint}" in str(e.value)
    assert e.value.checkpoint.is_dir() and _finite(e.value.checkpoint / "weights.safetensors")
    # the model object handed in was trained in place: it holds exactly the 2-step state
    assert adapter.fingerprint() == two.fingerprint()


def test_weights_exploding_at_a_huge_learning_rate_stop_the_run(tiny_lm, tmp_path):
    """lr=1e6: the loss stays finite while the weights' RMS grows ~1e7-fold in one step."""
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    before = adapter.fingerprint()
    with pytest.raises(
        DivergedError, match=r"diverged at step 1: .*exploded.*initial weights, put"
    ) as e:
        unlearn(adapter, forget, retain, "grad_ascent", lr=1e6, max_steps=4, out_dir=tmp_path, **KW)
    assert e.value.checkpoint is None and "no checkpoint was written" in str(e.value)
    assert adapter.fingerprint() == before  # the exploded weights were put back
    assert not (tmp_path / "record.json").exists() and not (tmp_path / "model").exists()


def test_weights_made_non_finite_by_a_step_are_restored_from_the_checkpoint(
    tiny_lm, tmp_path, monkeypatch
):
    two = steps_of(tiny_lm, 2)
    inf_weight_after_step(monkeypatch, 3)
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    with pytest.raises(
        DivergedError, match=r"step 3: the optimiser step made some weights non"
    ) as e:
        unlearn(
            adapter,
            forget,
            retain,
            "grad_diff",
            max_steps=4,
            checkpoint_every=2,
            out_dir=tmp_path,
            **KW,
        )
    ckpt = tmp_path / "checkpoints" / "step_000002"
    assert e.value.checkpoint == ckpt and e.value.step == 2 and ckpt.is_dir()
    assert f"restored from its checkpoint {ckpt}" in str(e.value)
    assert adapter.fingerprint() == two.fingerprint()


def test_weights_exploding_under_lora_are_caught(tiny_lm):
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    before = adapter.fingerprint()
    with pytest.raises(DivergedError, match=r"exploded"):
        unlearn(adapter, forget, retain, "grad_ascent", lr=1e6, max_steps=3, lora=True, **KW)
    assert adapter.fingerprint() == before  # adapters put back (B = 0) and merged: plain again


def test_a_working_learning_rate_is_not_taken_for_an_explosion(tiny_lm):
    forget, retain = pairs()
    _, record = unlearn(fresh(tiny_lm), forget, retain, "grad_ascent", lr=0.05, max_steps=20, **KW)
    assert record.steps == 20


def test_the_command_line_reports_divergence_in_one_paragraph(tiny_lm, tmp_path):
    forget, retain = pairs()
    data = tmp_path / "data"
    data.mkdir()
    for name, rows in (("forget10", forget), ("retain90", retain)):
        (data / f"{name}.json").write_text(
            json.dumps([{"question": q, "answer": a} for q, a in rows])
        )
    out = tmp_path / "run"
    args = ["unlearn", "--model", str(tiny_lm.path), "--data", str(data), "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--method", "grad_ascent", "lr=1e6", "max_steps=3"])
    assert res.exit_code == 2, res.output
    assert "diverged at step 1" in res.output and "Traceback" not in res.output
    assert not (out / "record.json").exists()


def test_a_cached_build_names_no_checkpoint_it_deletes(tiny_lm, tmp_path, monkeypatch):
    """`unlearnkit run` unlearns into a temporary cache folder that is deleted when the
    build fails: the error must not send the user to a checkpoint inside it."""
    from types import SimpleNamespace

    from unlearnkit.core.cache import Cache
    from unlearnkit.runner.families.lm import _unlearned

    forget, retain = pairs()
    data = SimpleNamespace(
        unlearning_sets=lambda: (
            [{"question": q, "answer": a} for q, a in forget],
            [{"question": q, "answer": a} for q, a in retain],
        )
    )
    target = CausalLMAdapter.from_pretrained(tiny_lm.path)
    m = SimpleNamespace(
        name="grad_diff",
        config={"max_steps": 4, "batch_size": 2, "checkpoint_every": 2},
        display="grad_diff",
    )
    nan_gradient_at(monkeypatch, 3)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(DivergedError, match=r"diverged at step 3.*temporary folder") as e:
        _unlearned(None, cache, target, tiny_lm.path, data, m, 0, lambda msg: None, False)
    assert e.value.checkpoint is None and str(cache.root) not in str(e.value)
    assert not list((cache.root / "unlearned").iterdir())  # the build folder is gone


def test_a_model_with_nan_weights_is_refused_before_any_step(tiny_lm, tmp_path):
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    with torch.no_grad():
        adapter.model.model.layers[1].mlp.down_proj.weight[0, 0] = float("nan")
    with pytest.raises(UnlearningError, match=r"NaN or inf before unlearning.*layers\.1\.mlp"):
        unlearn(adapter, forget, retain, "grad_diff", max_steps=2, out_dir=tmp_path, **KW)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "log.jsonl").exists()
