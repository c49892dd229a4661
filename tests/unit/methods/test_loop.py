"""The shared unlearning loop: batching, logging, checkpoints and resume, errors (a loss,
gradient or weights turning non-finite: tests/reliability/test_divergence.py)."""

from __future__ import annotations

import json
import random

import pytest
import torch

from tests.conftest import counting_qa_pairs, fresh_adapter
from unlearnkit.core.errors import ConfigError
from unlearnkit.methods import METHODS, UnlearningError, load_refusals, unlearn
from unlearnkit.methods.api import as_pairs, method_config, register_builtin_methods
from unlearnkit.methods.loop import epoch_batches

register_builtin_methods()


pairs, fresh = counting_qa_pairs, fresh_adapter


def test_epoch_batches_are_a_pure_function():
    a = epoch_batches(10, 3, seed=1, key="forget", epoch=2)
    assert a == epoch_batches(10, 3, seed=1, key="forget", epoch=2)
    assert a != epoch_batches(10, 3, seed=1, key="forget", epoch=3)
    assert a != epoch_batches(10, 3, seed=1, key="retain", epoch=2)
    assert sorted(i for b in a for i in b) == list(range(10)) and [len(b) for b in a] == [
        3,
        3,
        3,
        1,
    ]


def test_log_has_terms_grad_norm_and_lr(tiny_lm, tmp_path):
    forget, retain = pairs()
    _, record = unlearn(
        fresh(tiny_lm),
        forget,
        retain,
        "grad_diff",
        max_steps=3,
        batch_size=2,
        scheduler="linear",
        out_dir=tmp_path,
        progress=False,
    )
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [1, 2, 3]
    assert {"loss", "forget_ascent", "retain_nll", "grad_norm", "lr"} <= set(lines[0])
    assert lines[0]["lr"] > lines[1]["lr"] > lines[2]["lr"]  # linear decay
    assert (tmp_path / "model" / "config.json").is_file()
    saved = json.loads((tmp_path / "record.json").read_text())
    assert saved["steps"] == 3 and saved["method"] == "grad_diff" == record.method


def test_gradient_accumulation_counts_optimizer_steps(tiny_lm, tmp_path):
    forget, retain = pairs()
    _, record = unlearn(
        fresh(tiny_lm),
        forget,
        retain,
        "grad_diff",
        epochs=2,
        batch_size=1,
        grad_accum=3,
        out_dir=tmp_path,
        progress=False,
    )
    assert record.steps == 2  # 3 forget examples x 2 epochs / 3 micro-batches per step
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2


def test_interrupted_run_resumes_to_the_same_weights(tiny_lm, tmp_path, monkeypatch):
    forget, retain = pairs()
    kw = {"max_steps": 4, "batch_size": 2, "checkpoint_every": 2, "progress": False}
    straight, _ = unlearn(fresh(tiny_lm), forget, retain, "npo", out_dir=tmp_path / "a", **kw)

    cls = METHODS.get("npo")
    real_loss, calls = cls.loss, {"n": 0}

    def interrupt_at_step_3(self, ctx, f, r):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_loss(self, ctx, f, r)

    monkeypatch.setattr(cls, "loss", interrupt_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        unlearn(fresh(tiny_lm), forget, retain, "npo", out_dir=tmp_path / "b", **kw)
    monkeypatch.setattr(cls, "loss", real_loss)
    assert (tmp_path / "b" / "checkpoints" / "step_000002" / "manifest.json").is_file()
    resumed, record = unlearn(fresh(tiny_lm), forget, retain, "npo", out_dir=tmp_path / "b", **kw)
    assert record.resumed_from_step == 2
    assert resumed.fingerprint() == straight.fingerprint()
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_bad_inputs_fail_clearly(tiny_lm, tmp_path):
    forget, retain = pairs()
    with pytest.raises(UnlearningError, match="uses retain data"):
        unlearn(fresh(tiny_lm), forget, None, "npo", progress=False)
    with pytest.raises(UnlearningError, match="forget set is empty"):
        unlearn(fresh(tiny_lm), [], retain, "grad_ascent", progress=False)
    with pytest.raises(UnlearningError, match="no out_dir"):
        unlearn(fresh(tiny_lm), forget, retain, "npo", checkpoint_every=1, progress=False)
    with pytest.raises(UnlearningError, match="record 0 has no 'answer'"):
        as_pairs([{"question": "q"}], "forget")
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        method_config("npo", epoch=3)
    with pytest.raises(ConfigError, match="unknown tracker"):
        method_config("npo", trackers=["tensorbored"])
    with pytest.raises(UnlearningError, match="not modules of this model"):
        unlearn(
            fresh(tiny_lm),
            forget,
            retain,
            "npo",
            lora=True,
            lora_target_modules=["c_attn"],
            progress=False,
        )
    from unlearnkit.core.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean 'npo'"):
        method_config("nop")


def test_reference_model_only_for_methods_that_use_it():
    uses = {n: METHODS.get(n).uses_reference for n in METHODS.names()}
    assert uses["npo"] and uses["kl"] and uses["idk_dpo"] and uses["rmu"]
    assert not uses["grad_ascent"] and not uses["grad_diff"] and not uses["simnpo"]
    assert not uses["idk_nll"]


def test_refusals_shipped_and_replaceable(tmp_path):
    shipped = load_refusals()
    assert len(shipped) >= 10 and "I don't know." in shipped
    f = tmp_path / "r.txt"
    f.write_text("Nope.\n\nNo idea.\n")
    assert load_refusals(f) == ["Nope.", "No idea."]
    method = METHODS.get("idk_nll")(method_config("idk_nll", refusals_file=str(f)))
    views = method.views("Question: q\nAnswer:", " The answer.", random.Random(0))
    assert views["forget"] == ("Question: q\nAnswer:", " The answer.")
    assert views["idk"][1] in (" Nope.", " No idea.")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="no refusal answers"):
        load_refusals(tmp_path / "empty.txt")


def test_rmu_trains_only_the_chosen_mlp_matrices(tiny_lm):
    forget, retain = pairs()
    adapter = fresh(tiny_lm)
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    out, record = unlearn(
        adapter, forget, retain, "rmu", max_steps=2, batch_size=2, layer=1, progress=False
    )
    changed = {k for k, v in out.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight"}
    assert record.parameters_trainable == 2 * 64 * 128


@pytest.mark.slow
def test_tensorboard_tracker_receives_the_step_log(tiny_lm, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    forget, retain = pairs()
    unlearn(
        fresh(tiny_lm),
        forget,
        retain,
        "npo",
        max_steps=3,
        batch_size=2,
        trackers=["tensorboard"],
        out_dir=tmp_path,
        progress=False,
    )
    events = list(tmp_path.rglob("events.out.tfevents.*"))
    assert events, "no tensorboard event file written"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss", "forget_npo", "retain_nll", "grad_norm", "lr"} <= tags
    assert [e.step for e in acc.Scalars("loss")] == [1, 2, 3]
