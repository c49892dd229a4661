"""The command line: thin wrappers over the library, with clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app

runner = CliRunner()


def test_world_command_writes_the_public_layouts(tmp_path):
    out = tmp_path / "w"
    res = runner.invoke(app, ["world", "--out", str(out), "--preset", "test", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert (out / "tofu" / "forget10_perturbed.json").is_file()
    assert (out / "muse" / "verbmem" / "forget.json").is_file()
    assert json.loads((out / "world.json").read_text())["spec"]["seed"] == 3


def test_world_command_rejects_bad_overrides(tmp_path):
    res = runner.invoke(app, ["world", "--out", str(tmp_path / "w"), "n_people=0"])
    assert res.exit_code == 2
    assert "n_people" in res.output and "must be >= 1" in res.output
    res = runner.invoke(app, ["world", "--out", str(tmp_path / "w"), "n_peple=5"])
    assert res.exit_code == 2 and "Did you mean 'n_people'" in res.output
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_demo_command_on_the_test_preset(tmp_path, test_preset_cache):
    _, cache = test_preset_cache  # the models are built once per session (and tested there)
    out = tmp_path / "demo.json"
    args = ["demo", "--preset", "test", "--cache", str(cache.root), "--json", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Accuracy" in res.output and "forget people" in res.output
    data = json.loads(out.read_text())
    target = data["accuracy"]["target"]["trained QA (all people)"]["answer_token_acc"]
    assert target >= 0.9
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "reused from cache" in again.output


def test_demo_command_rejects_unknown_preset(tmp_path):
    res = runner.invoke(app, ["demo", "--preset", "dmeo", "--cache", str(tmp_path)])
    assert res.exit_code == 2 and "Did you mean 'demo'" in res.output


def test_list_methods_names_every_method_with_its_paper():
    res = runner.invoke(app, ["list", "methods"])
    assert res.exit_code == 0, res.output
    for name in ("grad_ascent", "grad_diff", "kl", "npo", "simnpo", "idk_dpo", "idk_nll", "rmu"):
        assert name in res.output
    assert "2404.05868" in res.output  # NPO's paper
    bad = runner.invoke(app, ["list", "metods"])
    assert bad.exit_code == 2 and "Did you mean 'methods'" in bad.output


@pytest.mark.slow
def test_unlearn_command_writes_a_model_and_its_record(tmp_path, test_preset_cache):
    built, _ = test_preset_cache
    out = tmp_path / "run"
    args = [
        "unlearn",
        "--model",
        str(built.target_dir),
        "--data",
        str(built.world_dir),
        "--method",
        "grad_diff",
        "--out",
        str(out),
        "max_steps=2",
        "batch_size=4",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    record = json.loads((out / "record.json").read_text())
    assert record["steps"] == 2 and record["method"] == "grad_diff"
    assert record["forget_examples"] == len(built.world.tofu["forget10"])
    assert (out / "model" / "model.safetensors").is_file()
    bad = runner.invoke(app, [*args[:-2], "lr=-1"])
    assert bad.exit_code == 2 and "lr" in bad.output


@pytest.mark.slow
def test_eval_command_writes_a_versioned_report(tmp_path, test_preset_cache, monkeypatch):
    built, _ = test_preset_cache
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path / "cache"))  # oracle values go here
    run = tmp_path / "run"
    unlearn_args = ["unlearn", "--model", str(built.target_dir), "--data", str(built.world_dir)]
    res = runner.invoke(app, [*unlearn_args, "--out", str(run), "max_steps=2", "batch_size=4"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "eval.json"
    args = [
        "eval",
        "--model",
        str(run / "model"),
        "--data",
        str(built.world_dir),
        "--oracle",
        str(built.oracle_dir),
        "--suite",
        "tofu,mia",
        "--record",
        str(run / "record.json"),
        "--out",
        str(out),
        "bootstrap=50",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "forget/forget_quality" in res.output and "95% CI" in res.output
    assert "of retraining" in res.output and "forward calls" in res.output
    data = json.loads(out.read_text())
    assert data["kind"] == "unlearnkit.eval" and data["version"] == 1
    assert set(data["results"]) == {"tofu", "mia"}
    assert data["config"]["bootstrap"] == 50
    assert data["efficiency"]["steps"] == 2
    assert data["data"]["source"] == str(built.world_dir)
    fq = data["results"]["tofu"]["forget/forget_quality"]
    assert 0.0 <= fq["aggregate"] <= 1.0 and len(fq["ci"]) == 2
    bad = runner.invoke(app, [*args[:-1], "bootstrap=-1"])
    assert bad.exit_code == 2 and "bootstrap" in bad.output
    bad = runner.invoke(app, [*args[:7], "--suite", "tofo", "--out", str(out)])
    assert bad.exit_code == 2 and "unknown suite 'tofo'" in bad.output


def test_list_metrics_attacks_and_suites():
    for what, names in (
        ("metrics", ["forget_quality", "truth_ratio", "verbmem"]),
        ("attacks", ["min_k_pp", "gradnorm"]),
        ("suites", ["tofu", "muse", "mia"]),
    ):
        res = runner.invoke(app, ["list", what])
        assert res.exit_code == 0, res.output
        for n in names:
            assert n in res.output, (what, n)
