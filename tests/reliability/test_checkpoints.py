"""Checkpoints of the unlearning loop under attack and misuse: a planted pickle never runs, a
run resumes only from its own checkpoints (another run's are refused, and the record never
describes a run that did not happen), a damaged checkpoint is named, and a resumed run ends
bit for bit where an uninterrupted one does."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import counting_qa_pairs, fresh_adapter
from unlearnkit.cli import app
from unlearnkit.methods import METHODS, UnlearningError, unlearn
from unlearnkit.methods.api import register_builtin_methods
from unlearnkit.models.adapters import CausalLMAdapter

register_builtin_methods()
KW = {"max_steps": 4, "batch_size": 2, "checkpoint_every": 2, "progress": False}


pairs, fresh = counting_qa_pairs, fresh_adapter


def interrupted(tiny_lm, monkeypatch, out, method="grad_diff", at_step=4, **config):
    """A run of KW (4 steps, checkpoint after step 2) stopped by Ctrl-C in step ``at_step``,
    after its optimiser step (``after_step``), before its log line."""
    cls = METHODS.get(method)
    real, calls = cls.after_step, {"n": 0}

    def after_step(self, ctx, terms):
        calls["n"] += 1
        if calls["n"] == at_step:
            raise KeyboardInterrupt
        return real(self, ctx, terms)

    monkeypatch.setattr(cls, "after_step", after_step)
    forget, retain = pairs()
    with pytest.raises(KeyboardInterrupt):
        unlearn(fresh(tiny_lm), forget, retain, method, out_dir=out, **{**KW, **config})
    monkeypatch.setattr(cls, "after_step", real)
    assert (out / "checkpoints" / "step_000002").is_dir()
    return out / "checkpoints" / "step_000002"


class _Planted:
    """Unpickling this creates ``marker`` (it calls ``open(marker, "w")``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- 1. a planted pickle never runs ----------------------------------------------------------------
@pytest.mark.parametrize(
    "where",
    [
        "custom_checkpoint_0.pkl",  # accelerate's name for the scheduler's state
        "random_states_0.pkl",
        "optimizer.bin",
    ],
)
def test_a_pickle_planted_in_a_checkpoint_is_never_unpickled(tiny_lm, tmp_path, monkeypatch, where):
    out = tmp_path / "run"
    step = interrupted(tiny_lm, monkeypatch, out)
    marker = tmp_path / "PWNED"
    (step / where).write_bytes(pickle.dumps(_Planted(marker)))
    forget, retain = pairs()
    with pytest.raises(UnlearningError, match=rf"files unlearnkit did not write: \['{where}'\]"):
        unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, **KW)
    assert not marker.exists()
    # starting afresh deletes the folder with the planted file, never reading it
    _, record = unlearn(
        fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, resume=False, **KW
    )
    assert not marker.exists() and record.resumed_from_step is None
    assert not (out / "checkpoints").exists()


def test_a_pickle_in_place_of_a_checkpoint_file_is_never_unpickled(tiny_lm, tmp_path, monkeypatch):
    """An attacker who rewrites the manifest to match still gets no code run: every file
    is read as safetensors or JSON."""
    import hashlib

    out = tmp_path / "run"
    step = interrupted(tiny_lm, monkeypatch, out)
    marker = tmp_path / "PWNED"
    for name in ("optimizer.safetensors", "weights.safetensors"):
        (step / name).write_bytes(pickle.dumps(_Planted(marker)))
    manifest = json.loads((step / "manifest.json").read_text())
    for name in ("optimizer.safetensors", "weights.safetensors"):
        data = (step / name).read_bytes()
        manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (step / "manifest.json").write_text(json.dumps(manifest))
    forget, retain = pairs()
    with pytest.raises(UnlearningError, match=r"weights\.safetensors is not a readable safetens"):
        unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, **KW)
    assert not marker.exists()


def test_checkpoints_another_tool_or_version_wrote_are_refused_unread(tiny_lm, tmp_path):
    """A checkpoints folder in accelerate's layout (pickles, no run.json) is not ours."""
    out = tmp_path / "run"
    step = out / "checkpoints" / "step_000003"
    step.mkdir(parents=True)
    marker = tmp_path / "PWNED"
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin"):
        (step / name).write_bytes(pickle.dumps(_Planted(marker)))
    (step / "state.json").write_text('{"step": 3, "method": "grad_diff"}')
    forget, retain = pairs()
    with pytest.raises(UnlearningError, match=r"no valid run\.json.*--no-resume"):
        unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, **KW)
    assert not marker.exists() and not (out / "record.json").exists()
    _, record = unlearn(
        fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, overwrite=True, **KW
    )
    assert not marker.exists() and record.resumed_from_step is None


def test_resume_loads_no_pickle_at_all(tiny_lm, tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupted(tiny_lm, monkeypatch, out)
    files = _files(out / "checkpoints")
    assert files and all(f.endswith((".json", ".safetensors")) for f in files), files
    assert "step_000002/manifest.json" in files and "run.json" in files

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    forget, retain = pairs()
    _, record = unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, **KW)
    assert record.resumed_from_step == 2


# -- 2. a run resumes only from its own checkpoints ------------------------------------------------
def _other_model(tiny_lm) -> CausalLMAdapter:
    adapter = fresh(tiny_lm)
    with torch.no_grad():
        next(adapter.model.parameters()).view(-1)[0] += 1e-3
    return adapter


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"method": "npo", "lr": 0.05}, r"method 'grad_diff' \(checkpoints\) vs 'npo'.*lr=0\.0008"),
        ({"lr": 0.05}, r"lr=0\.0008 \(checkpoints\) vs 0\.05"),
        ({"seed": 1}, r"seed=0 \(checkpoints\) vs 1"),
        ({"max_steps": 6}, r"max_steps=4 \(checkpoints\) vs 6"),
        ({"forget": "edited"}, r"the forget data differ"),
        ({"retain": "fewer"}, r"the retain data differ"),
        ({"model": "other"}, r"the model's initial weights differ"),
        ({"prompt_format": "tofu"}, r"the prompt format differ"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(tiny_lm, tmp_path, monkeypatch, change, expected):
    out = tmp_path / "run"
    interrupted(tiny_lm, monkeypatch, out)
    log_before = (out / "log.jsonl").read_text()
    forget, retain = pairs()
    change = dict(change)
    method = change.pop("method", "grad_diff")
    model = _other_model(tiny_lm) if change.pop("model", None) else fresh(tiny_lm)
    if change.pop("forget", None):
        forget = [forget[0], (forget[1][0], forget[1][1] + " Really."), forget[2]]
    if change.pop("retain", None):
        retain = retain[:-1]
    kw = {**KW, **change}  # prompt_format="tofu" goes to unlearn() as well
    with pytest.raises(
        UnlearningError, match=rf"holds checkpoints of another run.*{expected}"
    ) as e:
        unlearn(model, forget, retain, method, out_dir=out, **kw)
    assert str(out / "checkpoints") in str(e.value) and "--no-resume" in str(e.value)
    # nothing of the refused run was written: no record, the log is the interrupted run's
    assert not (out / "record.json").exists() and not (out / "model").exists()
    assert (out / "log.jsonl").read_text() == log_before


def test_a_refused_run_starts_afresh_with_no_resume_or_overwrite(tiny_lm, tmp_path, monkeypatch):
    forget, retain = pairs()
    alone, _ = unlearn(fresh(tiny_lm), forget, retain, "npo", lr=0.05, out_dir=tmp_path / "a", **KW)
    for flag in ({"resume": False}, {"overwrite": True}):
        out = tmp_path / str(flag)
        interrupted(tiny_lm, monkeypatch, out)  # grad_diff, lr 1e-3
        again, record = unlearn(
            fresh(tiny_lm), forget, retain, "npo", lr=0.05, out_dir=out, **flag, **KW
        )
        assert record.resumed_from_step is None and record.method == "npo"
        assert again.fingerprint() == alone.fingerprint()  # nothing of grad_diff's run in it
        saved = json.loads((out / "record.json").read_text())
        assert saved["method"] == "npo" and saved["config"]["lr"] == 0.05
        steps = [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
        assert steps == [1, 2, 3, 4]  # the new run's log alone
        assert not (out / "checkpoints").exists()  # deleted once the run ended well


def test_resume_true_needs_a_checkpoint_and_an_output_directory(tiny_lm, tmp_path):
    forget, retain = pairs()
    with pytest.raises(UnlearningError, match=r"resume=True.*holds no checkpoint"):
        unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=tmp_path, resume=True, **KW)
    kw = {k: v for k, v in KW.items() if k != "checkpoint_every"}
    with pytest.raises(UnlearningError, match=r"resume=True needs the out_dir"):
        unlearn(fresh(tiny_lm), forget, retain, "grad_diff", resume=True, **kw)


def test_a_finished_run_is_not_replaced_without_overwrite(tiny_lm, tmp_path):
    forget, retain = pairs()
    unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=tmp_path, **KW)
    assert not (tmp_path / "checkpoints").exists()  # deleted after the model was saved
    record = (tmp_path / "record.json").read_text()
    with pytest.raises(UnlearningError, match=r"already holds a finished.*'grad_diff', 4 steps"):
        unlearn(fresh(tiny_lm), forget, retain, "npo", out_dir=tmp_path, **KW)
    assert (tmp_path / "record.json").read_text() == record
    unlearn(fresh(tiny_lm), forget, retain, "npo", out_dir=tmp_path, overwrite=True, **KW)
    assert json.loads((tmp_path / "record.json").read_text())["method"] == "npo"


def test_keep_checkpoints_keeps_the_last_one(tiny_lm, tmp_path):
    forget, retain = pairs()
    kw = {**KW, "max_steps": 5}
    unlearn(
        fresh(tiny_lm), forget, retain, "grad_diff", out_dir=tmp_path, keep_checkpoints=True, **kw
    )
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["run.json", "step_000004"]  # latest only
    assert json.loads((root / "run.json").read_text())["fingerprint"]["method"] == "grad_diff"


# -- 3. damaged and half-written checkpoints -----------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("truncate", r"weights\.safetensors has \d+ bytes, its manifest says \d+"),
        ("flip", r"weights\.safetensors does not match the sha256"),
        ("delete", r"weights\.safetensors is missing"),
        ("manifest", r"manifest.*cannot be read"),
        ("escape", r"lists names that are not files of its folder: \['\.\./\.\./log\.jsonl'\]"),
    ],
)
def test_a_damaged_checkpoint_is_named(tiny_lm, tmp_path, monkeypatch, damage, expected):
    out = tmp_path / "run"
    step = interrupted(tiny_lm, monkeypatch, out)
    weights = step / "weights.safetensors"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "delete":
        weights.unlink()
    elif damage == "escape":  # a manifest naming a file outside the checkpoint
        manifest = json.loads((step / "manifest.json").read_text())
        manifest["files"]["../../log.jsonl"] = {"bytes": 1, "sha256": "0" * 64}
        (step / "manifest.json").write_text(json.dumps(manifest))
    else:
        (step / "manifest.json").write_text('{"format": 1, "step": ')
    forget, retain = pairs()
    with pytest.raises(UnlearningError, match=expected) as e:
        unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, **KW)
    assert "--no-resume" in str(e.value)


def test_a_half_written_checkpoint_is_ignored_and_removed(tiny_lm, tmp_path, monkeypatch):
    """A kill while a checkpoint is written leaves `.step_N.tmp`; the run resumes from the
    last whole one."""
    out = tmp_path / "run"
    step = interrupted(tiny_lm, monkeypatch, out)
    half = out / "checkpoints" / ".step_000004.tmp"
    shutil.copytree(step, half)
    (half / "manifest.json").unlink()
    (half / "weights.safetensors").write_bytes(b"\0" * 10)
    forget, retain = pairs()
    _, record = unlearn(fresh(tiny_lm), forget, retain, "grad_diff", out_dir=out, **KW)
    assert record.resumed_from_step == 2 and not half.exists()


# -- 4. a resumed run ends bit for bit where an uninterrupted one does -----------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "config"),
    [
        ("grad_diff", {"scheduler": "linear", "warmup_ratio": 0.25}),
        ("npo", {"grad_accum": 2}),  # the reference log-likelihood cache
        ("pdu", {}),  # the dual variable and retain bound (ctx.state)
        ("rmu", {"layer": 1}),  # the control vector drawn from the method's generator
        ("grad_diff", {"smoothing": "random"}),  # a draw per step from the generator
        ("grad_diff", {"smoothing": "weight_avg"}),  # the running average of the weights
        ("npo", {"lora": True, "lora_dropout": 0.5}),  # adapters; dropout: torch's RNG
    ],
)
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(
    tiny_lm, tmp_path, monkeypatch, method, config
):
    forget, retain = pairs()
    torch.manual_seed(0)  # dropout draws from torch's global generator
    straight, _ = unlearn(
        fresh(tiny_lm), forget, retain, method, out_dir=tmp_path / "a", **KW, **config
    )
    out = tmp_path / "b"
    torch.manual_seed(0)
    interrupted(tiny_lm, monkeypatch, out, method, at_step=4, **config)  # step 3 logged
    torch.manual_seed(12345)  # the resumed run takes the random state from the checkpoint
    resumed, record = unlearn(fresh(tiny_lm), forget, retain, method, out_dir=out, **KW, **config)
    assert record.resumed_from_step == 2
    assert resumed.fingerprint() == straight.fingerprint()
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [1, 2, 3, 4]  # step 3 logged once, not twice
    a = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert lines == a
    assert not (out / "checkpoints").exists()


# -- 5. the command line ------------------------------------------------------------------------
@pytest.mark.slow
def test_unlearn_command_resume_options(tiny_lm, tmp_path, monkeypatch):
    forget, retain = pairs()
    data = tmp_path / "data"
    data.mkdir()
    for name, rows in (("forget10", forget), ("retain90", retain)):
        records = [{"question": q, "answer": a} for q, a in rows]
        (data / f"{name}.json").write_text(json.dumps(records))
    out = tmp_path / "run"
    interrupted(tiny_lm, monkeypatch, out)  # grad_diff's checkpoints (same model and data)
    runner = CliRunner()
    base = ["unlearn", "--model", str(tiny_lm.path), "--data", str(data), "--out", str(out)]
    args = ["max_steps=4", "batch_size=2", "checkpoint_every=2"]
    res = runner.invoke(app, [*base, "--method", "npo", *args])
    assert res.exit_code == 2 and "another run" in res.output and "--no-resume" in res.output
    assert not (out / "record.json").exists()
    res = runner.invoke(app, [*base, "--method", "npo", "--no-resume", *args])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "record.json").read_text())["method"] == "npo"
    assert not (out / "checkpoints").exists()
    res = runner.invoke(app, [*base, "--method", "npo", *args])
    assert res.exit_code == 2 and "already holds a finished" in res.output
    res = runner.invoke(app, [*base, "--method", "grad_diff", "--overwrite", *args])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "record.json").read_text())["method"] == "grad_diff"
    other = tmp_path / "other"
    args_other = ["unlearn", "--model", str(tiny_lm.path), "--data", str(data), "--out", str(other)]
    res = runner.invoke(app, [*args_other, "--resume", *args])
    assert res.exit_code == 2 and "holds no checkpoint" in res.output
    res = runner.invoke(app, [*args_other, "--keep-checkpoints", *args])
    assert res.exit_code == 0, res.output
    assert (other / "checkpoints" / "step_000002" / "manifest.json").is_file()


# -- 6. several processes (DDP on CPU, as tests/integration/test_ddp.py) --------------------------
@pytest.mark.slow
def test_a_ddp_run_resumes_to_the_same_weights(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("ddp_resume.py")
    launcher = Path(sys.executable).with_name("accelerate")
    cmd = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert all(r["resumed_from"] == 2 for r in ranks)
    assert (
        ranks[0]["straight"] == ranks[1]["straight"] == ranks[0]["resumed"] == ranks[1]["resumed"]
    )
    files = ranks[0]["files"]
    assert {"step_000002/rng_0.json", "step_000002/rng_1.json", "run.json"} <= set(files)
    assert all(f.endswith((".json", ".safetensors")) for f in files)
