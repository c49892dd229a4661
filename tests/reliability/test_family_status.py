"""Classifier and recommender runs keep ``status.json`` in their run folder as LM runs do:
``running`` (with the pid) while they run, ``ok`` when they finish, ``failed`` with the
error when they raise (a full disk, a diverged method, Ctrl-C), and ``unlearnkit report``
on a failed, killed or re-failed run says which and why instead of "is it a run directory?"
or the results of an earlier invocation."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import RunFailedError
from unlearnkit.core.runs import load_results, read_status

# the smallest runs of each family (tests/integration runs the full ones)
CLASSIFIER = [
    "world=test",
    "challenge_n=0",
    "shadows=0",
    "train.epochs=1",
    "methods=[{name: finetune, config: {epochs: 1}}]",
]
RECOMMENDER = ["world=test", "methods=[{name: reverse_bpr}]"]
FAMILIES = {"classifier": CLASSIFIER, "recommender": RECOMMENDER}

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={"UNLEARNKIT_DEBUG": ""})


def expect_clear_error(res, *needles: str) -> str:
    """Exit 2, no traceback, the error as one paragraph holding ``needles``."""
    out = res.output
    assert res.exit_code == 2, out
    assert "Traceback" not in out, out
    (error,) = [ln for ln in out.splitlines() if ln.startswith("error:")]
    for needle in needles:
        assert needle in error, (needle, out)
    return error


def run_cli(family: str, tmp_path: Path, *extra: str):
    sets = [a for s in FAMILIES[family] for a in ("-s", s)]
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    return invoke("run", family, *sets, *extra, "--runs", runs, "--cache", cache, "--no-report")


def the_run_dir(tmp_path: Path) -> Path:
    (name,) = (p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    (run_dir,) = (p for p in name.iterdir() if p.is_dir())
    return run_dir


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/cache/model.safetensors")


@pytest.mark.parametrize("family", ["classifier", "recommender"])
def test_a_family_run_on_a_full_disk_says_failed_and_why(family, tmp_path, monkeypatch):
    # the disk fills while the target is saved into the cache
    if family == "classifier":
        from unlearnkit.models.adapters.classifier import ClassifierAdapter as Adapter
    else:
        from unlearnkit.models.recommender import RecommenderAdapter as Adapter
    monkeypatch.setattr(Adapter, "save", full_disk)
    res = run_cli(family, tmp_path)
    expect_clear_error(res, "the disk is full", "/cache/model.safetensors")

    run_dir = the_run_dir(tmp_path)
    status = read_status(run_dir)
    assert status is not None, f"no status.json in {run_dir}"
    assert status["status"] == "failed" and status["pid"] == os.getpid()
    assert status["error"]["type"] == "OSError"
    assert "No space left on device" in status["error"]["message"]
    assert "Traceback" in status["error"]["traceback"]
    assert not (run_dir / "results.json").exists()
    assert (run_dir / "spec.yaml").is_file()  # what was run, to run it again
    with pytest.raises(RunFailedError, match=r"failed .*OSError: .*No space left on device"):
        load_results(run_dir)
    report = invoke("report", run_dir)
    expect_clear_error(report, f"the run in {run_dir} failed", "No space left on device")


@pytest.mark.slow
def test_a_classifier_run_rerun_after_its_failure_is_ok(tmp_path, monkeypatch):
    from unlearnkit.models.adapters.classifier import ClassifierAdapter

    with monkeypatch.context() as patch:
        patch.setattr(ClassifierAdapter, "save", full_disk)
        assert run_cli("classifier", tmp_path).exit_code == 2
    run_dir = the_run_dir(tmp_path)
    assert read_status(run_dir)["status"] == "failed"
    res = run_cli("classifier", tmp_path)
    assert res.exit_code == 0, res.output
    status = read_status(run_dir)
    assert status["status"] == "ok" and "error" not in status
    assert status["wall_time_s"] > 0
    data = load_results(run_dir)
    assert data["family"] == "classifier"
    assert [r["label"] for r in data["rows"]] == ["target", "oracle", "finetune"]


def test_a_diverged_recommender_method_is_recorded(tmp_path, monkeypatch):
    import unlearnkit.methods.recommender.base as rec_base
    from unlearnkit.methods.errors import DivergedError

    def diverged(*args, **kwargs):
        raise DivergedError(
            "method 'reverse_bpr' diverged at step 3: the loss became nan. Lower lr",
            step=2,
            checkpoint=None,
        )

    monkeypatch.setattr(rec_base, "unlearn_recommender", diverged)
    res = run_cli("recommender", tmp_path)
    expect_clear_error(res, "diverged at step 3")
    run_dir = the_run_dir(tmp_path)
    status = read_status(run_dir)
    assert status["status"] == "failed"
    assert status["error"]["type"] == "DivergedError"
    with pytest.raises(RunFailedError, match="DivergedError: method 'reverse_bpr' diverged"):
        load_results(run_dir)


def test_a_recommender_run_that_fails_on_rerun_loses_its_old_results(tmp_path, monkeypatch):
    # before: the earlier invocation's results.json stayed, and report showed it as if the
    # latest run had produced it
    from unlearnkit.runner.families.recommender import Recommenders

    assert run_cli("recommender", tmp_path).exit_code == 0
    run_dir = the_run_dir(tmp_path)
    assert read_status(run_dir)["status"] == "ok"
    assert load_results(run_dir)["family"] == "recommender"

    def broken(*args, **kwargs):
        raise ValueError("reverse_bpr: the retain set is empty")

    # every step of the rerun would come from the cache: its evaluations fail instead
    monkeypatch.setattr(Recommenders, "evaluate", broken)
    res = run_cli("recommender", tmp_path)
    assert res.exit_code == 1  # an unexpected exception: a bug, with its traceback
    assert "retain set is empty" in res.output
    assert not (run_dir / "results.json").exists()
    status = read_status(run_dir)
    assert status["status"] == "failed" and status["error"]["type"] == "ValueError"
    report = invoke("report", run_dir)
    expect_clear_error(report, "failed", "ValueError: reverse_bpr: the retain set is empty")


def test_an_interrupted_classifier_run_says_interrupted(tmp_path, monkeypatch):
    from unlearnkit.runner.families import classifier as cls_module
    from unlearnkit.runner.families.classifier import Classifiers
    from unlearnkit.runner.run import run_experiment

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cls_module, "train_classifier", ctrl_c)
    spec = Classifiers.load_spec(None, CLASSIFIER)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(
            spec, cache=Cache(tmp_path / "cache"), runs_dir=tmp_path / "runs", log=lambda m: None
        )
    run_dir = the_run_dir(tmp_path)
    status = read_status(run_dir)
    assert status["status"] == "failed"
    assert status["error"]["type"] == "KeyboardInterrupt"
    assert status["error"]["message"] == "interrupted (Ctrl-C)"
    with pytest.raises(RunFailedError, match=r"KeyboardInterrupt: interrupted \(Ctrl-C\)"):
        load_results(run_dir)


# A recommender run whose target training hangs (so that it can be killed mid-run).
HANGING_RUN = textwrap.dedent(
    """
    import sys, time
    from unlearnkit.core.cache import Cache
    from unlearnkit.runner.families import recommender as rec
    from unlearnkit.runner.families.recommender import Recommenders
    from unlearnkit.runner.run import run_experiment

    def hang(*args, **kwargs):
        print("training", flush=True)
        time.sleep(120)

    rec.train_recommender = hang
    spec = Recommenders.load_spec(None, sys.argv[3:])
    run_experiment(spec, cache=Cache(sys.argv[1]), runs_dir=sys.argv[2])
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_a_killed_recommender_run_reads_as_stopped(tmp_path):
    dirs = [str(tmp_path / "cache"), str(tmp_path / "runs")]
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_RUN, *dirs, *RECOMMENDER],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "training"
        run_dir = the_run_dir(tmp_path)
        status = read_status(run_dir)
        assert status["status"] == "running" and status["pid"] == proc.pid
        with pytest.raises(RunFailedError, match=f"has not finished yet .*process {proc.pid}"):
            load_results(run_dir)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    # reaped: its pid reads as gone
    with pytest.raises(RunFailedError, match=f"stopped before it finished .*{proc.pid} is gone"):
        load_results(run_dir)
    report = invoke("report", run_dir)
    expect_clear_error(report, "stopped before it finished", "run it again")
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"
