"""`unlearnkit run`: specs, cached runs, resume after an interruption, results schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import ConfigError
from unlearnkit.report.tables import TIME_COLUMN, leaderboard
from unlearnkit.runner.build import build_spec
from unlearnkit.runner.families import lm as lm_family
from unlearnkit.runner.run import load_results, run_experiment
from unlearnkit.runner.spec import ExperimentSpec, MethodSpec, load_spec, recipe_path

#: whole runs of the runner (minutes on 2 cores): CI runs them, the fast lane does not
pytestmark = pytest.mark.slow

METHODS = (
    MethodSpec("npo", config={"max_steps": 2, "batch_size": 4}),
    MethodSpec("grad_diff", config={"max_steps": 2, "batch_size": 4}),
)


def small_spec(**changes) -> ExperimentSpec:
    base = {
        "name": "small",
        "build": build_spec("test"),
        "methods": METHODS,
        "seeds": (0, 1),
        "bootstrap": 50,
    }
    return ExperimentSpec(**{**base, **changes})


def schema() -> dict:
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    return json.loads(ref.read_text())


# -- spec validation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["methods=[{name: npoo}]"], "MethodSpec.name = 'npoo' is invalid"),
        (["methods=[{name: npoo}]"], "Did you mean 'npo'"),
        (["methods=[{name: salun}]"], "'salun' belongs to the classifier family"),
        (["methods=[{name: reverse_bpr}]"], "a method of the lm family"),
        (["methods=[{name: npo, config: {lr: -1}}]"], "NPOConfig.lr = -1.0 is invalid"),
        (["methods=[{name: npo, config: {lrr: 1}}]"], "Did you mean 'lr'"),
        (["methods=[{name: npo}, {name: npo}]"], "'npo' twice: set label=..."),
        (["methods=[]"], "give at least one method"),
        (["seeds=[0, 0]"], "each once"),
        (["suites=[tofu, tofoo]"], "suites among"),
        (["bootstrap=-1"], "bootstrap"),
        (["forget=forget05"], "set build.forget=forget05 too"),
        (["data=/nonexistent/dir"], "oracle= and data= are for real models"),
        (["model=/nonexistent/dir", "data=/tmp"], "an existing local directory"),
        (["nmae=x"], "Did you mean 'name'"),
        (["audit={bits: [1]}"], "bit widths go from 2 to 16"),
        (["audit={forget: forget05}"], "audit.forget=forget10"),
    ],
)
def test_spec_errors_say_what_is_wrong(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_spec(None, overrides)


def test_the_default_spec_is_the_embedded_demo_and_the_recipe_matches_it():
    spec = load_spec()
    assert spec.embedded and spec.build.world.n_people == 200
    assert [m.name for m in spec.methods] == [
        "grad_ascent",
        "grad_diff",
        "npo",
        "simnpo",
        "idk_dpo",
        "rmu",
    ]
    assert spec.suites == ("tofu", "muse", "mia") and spec.forget == "forget10"
    assert load_spec("demo") == spec
    lora = load_spec(None, ["methods=[{name: npo, config: {lora: true}}, {name: npo}]"])
    assert [m.display for m in lora.methods] == ["npo+lora", "npo"]


def test_the_local_model_recipe_runs_on_real_directories(test_preset_cache, tmp_path):
    built, cache = test_preset_cache
    spec = load_spec(
        str(recipe_path("local_hf_model")),
        [
            f"model={built.target_dir}",
            f"oracle={built.oracle_dir}",
            f"data={built.world_dir}",
            "prompt_format=unlearnkit",  # the embedded models' own format
            "methods=[{name: npo, config: {max_steps: 1, batch_size: 4}}]",
            "bootstrap=0",
            "suites=[tofu]",
        ],
    )
    assert not spec.embedded
    result = run_experiment(spec, cache=cache, runs_dir=tmp_path, progress=False, log=print)
    rows = {r.label: r for r in result.rows}
    assert set(rows) == {"target", "oracle", "npo"}
    assert rows["oracle"].metrics["tofu/forget/forget_quality"] == 1.0
    assert rows["npo"].efficiency["steps"] == 1
    # the oracle's training cost is read from its build.json
    assert rows["npo"].efficiency["oracle_wall_time_s"] > 0


# -- runs ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def first_run(test_preset_cache, tmp_path_factory):
    _, cache = test_preset_cache
    runs = tmp_path_factory.mktemp("runs")
    return run_experiment(
        small_spec(), cache=cache, runs_dir=runs, progress=False, log=print, workers=2
    )


def test_a_run_writes_results_that_validate_against_the_schema(first_run):
    jsonschema = pytest.importorskip("jsonschema")
    data = load_results(first_run.run_dir)
    jsonschema.validate(data, schema())
    labels = [r["label"] for r in data["rows"]]
    assert labels == [
        "target",
        "oracle",
        "npo (seed 0)",
        "npo (seed 1)",
        "grad_diff (seed 0)",
        "grad_diff (seed 1)",
    ]
    for row in data["rows"]:
        assert (first_run.run_dir / row["report"]).is_file()
    index = json.loads((first_run.run_dir.parents[1] / "index.json").read_text())
    assert [r["run_dir"] for r in index["runs"]] == [str(first_run.run_dir)]
    assert yaml.safe_load((first_run.run_dir / "spec.yaml").read_text())["name"] == "small"


def test_a_broken_results_file_fails_the_schema(first_run):
    jsonschema = pytest.importorskip("jsonschema")
    data = load_results(first_run.run_dir)
    data["rows"][0]["kind"] = "teacher"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())


def test_the_leaderboard_has_reference_rows_and_one_line_per_method(first_run):
    lines = leaderboard(load_results(first_run.run_dir))
    assert [line["label"] for line in lines] == ["target", "oracle", "npo", "grad_diff"]
    npo = lines[2]
    assert npo["n"] == 2 and npo["forget quality"]["spread"] is not None
    assert lines[1]["forget quality"]["value"] == 1.0  # the oracle judged by itself
    assert lines[1]["PrivLeak"]["value"] == 0.0
    assert npo[TIME_COLUMN]["value"] > 0 and lines[0][TIME_COLUMN] is None
    assert lines[0]["forget quality"]["ci"] is not None  # single runs carry their interval


def test_a_second_run_reuses_everything_and_gives_the_same_results(first_run, test_preset_cache):
    _, cache = test_preset_cache
    runs = first_run.run_dir.parents[1]
    again = run_experiment(small_spec(), cache=cache, runs_dir=runs, progress=False, log=print)
    assert not any(again.built.values())
    assert again.run_dir == first_run.run_dir
    assert [r.metrics for r in again.rows] == [r.metrics for r in first_run.rows]


def test_changing_an_evaluation_setting_reuses_every_model(first_run, test_preset_cache):
    _, cache = test_preset_cache
    runs = first_run.run_dir.parents[1]
    changed = run_experiment(
        small_spec(bootstrap=20), cache=cache, runs_dir=runs, progress=False, log=print
    )
    assert changed.run_dir != first_run.run_dir
    fresh = {k for k, v in changed.built.items() if v}
    assert fresh and all(k.startswith("eval:") for k in fresh)
    # every model's passes were kept: the new evaluations ran no forward or backward pass
    for row in changed.rows:
        passes = json.loads((changed.run_dir / row.report).read_text())["passes"]
        for who in passes.values():
            assert who["forward_calls"] == who["grad_calls"] == 0, (row.label, passes)
    # the headline values without intervals are the same
    for a, b in zip(changed.rows, first_run.rows, strict=True):
        assert a.metrics == pytest.approx(b.metrics, nan_ok=True)
    index = json.loads((runs / "index.json").read_text())
    assert len(index["runs"]) == 2


def test_an_interrupted_run_resumes_to_the_same_results(first_run, tmp_path, monkeypatch):
    cache = Cache(tmp_path / "cache")
    calls = {"n": 0}
    original = lm_family._evaluation

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # target, oracle, npo seed 0 evaluated; then Ctrl-C
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(lm_family, "_evaluation", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(small_spec(), cache=cache, runs_dir=tmp_path / "runs", log=print, workers=1)
    assert not (tmp_path / "runs" / "small" / first_run.run_dir.name / "results.json").exists()
    monkeypatch.setattr(lm_family, "_evaluation", original)
    # (the first run ran its jobs in two worker processes; this one runs them in this one)
    resumed = run_experiment(
        small_spec(), cache=cache, runs_dir=tmp_path / "runs", log=print, workers=1
    )
    # what finished before the interruption is reused; the rest is run now
    assert resumed.built["eval:target"] is False and resumed.built["eval:npo (seed 0)"] is False
    assert resumed.built["unlearn:npo (seed 1)"] is False  # unlearned before the Ctrl-C
    assert resumed.built["eval:npo (seed 1)"] is True
    for a, b in zip(resumed.rows, first_run.rows, strict=True):
        assert a.label == b.label
        assert a.metrics.keys() == b.metrics.keys()
        for k in a.metrics:
            assert a.metrics[k] == pytest.approx(b.metrics[k], nan_ok=True), (a.label, k)
    # nothing half-written is left behind in the cache
    for kind in ("evaluations", "unlearned"):
        assert not [p for p in (cache.root / kind).iterdir() if p.name.startswith(".")]


def test_run_command_prints_the_leaderboard(test_preset_cache, tmp_path):
    _, cache = test_preset_cache
    spec = small_spec(seeds=(0,), methods=METHODS[:1])
    path = tmp_path / "spec.yaml"
    spec.to_yaml(path)
    runner = CliRunner()
    args = ["run", str(path), "--cache", str(cache.root), "--runs", str(tmp_path / "runs")]
    res = runner.invoke(app, [*args, "-s", "bootstrap=30"])
    assert res.exit_code == 0, res.output
    assert "Leaderboard" in res.output and "quality" in res.output and "PrivLeak" in res.output
    assert "npo" in res.output and "oracle" in res.output
    bad = runner.invoke(app, [*args, "-s", "seeds=[]"])
    assert bad.exit_code == 2 and "seeds" in bad.output
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "recipe name" in missing.output


def test_a_run_with_the_audit_audits_every_model_and_reports_it(test_preset_cache, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from unlearnkit.audit.api import AuditConfig
    from unlearnkit.report.html import write_report

    _, cache = test_preset_cache
    audit = AuditConfig(
        bits=(8,), noise=(0.01,), relearn_steps=(1,), lora_steps=(1,), forms=("open",), requests=2
    )
    spec = small_spec(seeds=(0,), methods=METHODS[:1], audit=audit)
    first = run_experiment(spec, cache=cache, runs_dir=tmp_path, progress=False, log=print)
    assert first.built["audit:target"] and first.built["audit:npo"]
    data = load_results(first.run_dir)
    jsonschema.validate(data, schema())
    rows = {r["label"]: r for r in data["rows"]}
    assert set(rows) == {"target", "oracle", "npo"}
    for row in rows.values():
        assert {"forget", "int8", "relearn@1", "lora@1", "traces cosine"} <= set(row["audit"])
        assert (first.run_dir / row["audit_report"]).is_file()
    assert rows["target"]["audit"]["traces cosine"] == pytest.approx(1.0)
    # the method also ran as two successive requests, judged after each
    assert first.built["sequence:npo"] and rows["target"]["sequence"] is None
    history = rows["npo"]["sequence"]
    assert [h["request"] for h in history] == [1, 2] and history[-1]["pending"] == "nan"
    assert all(0 <= h["forget_quality"] <= 1 and 0 <= h["model_utility"] <= 1 for h in history)
    assert (first.run_dir / rows["npo"]["sequence_report"]).is_file()
    page = write_report(first.run_dir).read_text()
    assert '<figure id="sequence">' in page
    assert 'id="audit"' in page and 'id="audit-left"' in page
    assert '<figure id="audit_curves">' in page  # the recovery curves
    again = run_experiment(spec, cache=cache, runs_dir=tmp_path, progress=False, log=print)
    assert not any(v for k, v in again.built.items() if k.startswith(("audit:", "sequence:")))
    assert [r.sequence for r in again.rows] == [r.sequence for r in first.rows]
    assert [r.audit for r in again.rows] == [r.audit for r in first.rows]


def test_a_mixture_of_experts_build_runs_uoe_end_to_end(tmp_path):
    """The moe-test build (Mixtral target and oracle) through the runner: evaluation,
    leaderboard, and UOE reporting which expert it unlearned."""
    spec = ExperimentSpec(
        name="moe",
        build=build_spec("moe-test"),
        methods=(MethodSpec("uoe", config={"max_steps": 3, "batch_size": 4}),),
        suites=("tofu",),
        bootstrap=20,
    )
    result = run_experiment(
        spec, cache=Cache(tmp_path / "cache"), runs_dir=tmp_path, progress=False, log=print
    )
    rows = {r.label: r for r in result.rows}
    assert set(rows) == {"target", "oracle", "uoe"}
    assert rows["oracle"].metrics["tofu/forget/forget_quality"] == pytest.approx(1.0)
    record = json.loads((Path(rows["uoe"].model_dir).parent / "record.json").read_text())
    assert {"layer", "expert", "affinity"} <= set(record["details"])
    assert 0 < record["parameters_changed"] < record["parameters_total"] / 4
