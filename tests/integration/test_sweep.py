"""The forget-size sweep (MUSE scalability): one cached run per size, each against its own
oracle, gathered into one table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.core.errors import ConfigError, UnlearnkitError
from unlearnkit.runner.build import build_spec
from unlearnkit.runner.run import load_results
from unlearnkit.runner.scalability import forget_size_sweep
from unlearnkit.runner.spec import ExperimentSpec, MethodSpec

pytestmark = pytest.mark.slow

SIZES = ["forget05", "forget25"]


def tiny_spec() -> ExperimentSpec:
    return ExperimentSpec(
        name="sweep",
        build=build_spec("test"),
        methods=(MethodSpec("grad_diff", config={"max_steps": 2, "batch_size": 4}),),
        suites=("tofu",),
        bootstrap=20,
    )


def test_each_size_is_judged_against_its_own_oracle(test_preset_cache, tmp_path):
    _, cache = test_preset_cache
    sweep = forget_size_sweep(
        tiny_spec(), SIZES, cache=cache, runs_dir=tmp_path, progress=False, log=print
    )
    assert sweep.sizes == SIZES and sweep.people == {"forget05": 1, "forget25": 5}
    assert sweep.labels() == ["target", "oracle", "grad_diff"]
    oracles = set()
    for size in SIZES:
        results = load_results(sweep.runs[size])
        assert results["spec"]["forget"] == results["spec"]["build"]["forget"] == size
        rows = {r["label"]: r for r in results["rows"]}
        oracles.add(rows["oracle"]["model_dir"])
        # the forget set evaluated is the size's: 5 facts per person of the test world
        report = json.loads((Path(sweep.runs[size]) / rows["target"]["report"]).read_text())
        truth_ratios = report["results"]["tofu"]["forget/truth_ratio"]["values"]
        assert report["data"]["forget"] == size
        assert len(truth_ratios) == 5 * sweep.people[size]
        # the oracle judged by itself is indistinguishable from itself
        assert sweep.value(size, "oracle", "forget quality") == pytest.approx(1.0)
        assert 0.0 <= sweep.value(size, "grad_diff", "model utility") <= 1.0
    assert len(oracles) == 2  # one oracle per size
    saved = json.loads(sweep.path.read_text())
    assert saved["kind"] == "unlearnkit.sweep" and saved["sizes"] == SIZES
    assert set(saved["lines"]) == set(SIZES)


def test_the_sweep_command_prints_one_column_per_size(test_preset_cache, tmp_path):
    _, cache = test_preset_cache
    spec = tmp_path / "spec.yaml"
    tiny_spec().to_yaml(spec)
    args = ["sweep", str(spec), "--cache", str(cache.root), "--runs", str(tmp_path / "runs")]
    res = CliRunner().invoke(app, [*args, "--sizes", ",".join(SIZES)])
    assert res.exit_code == 0, res.output
    assert "forget05 (1 people)" in res.output and "forget25 (5 people)" in res.output
    assert "FQ" in res.output and "grad_diff" in res.output
    bad = CliRunner().invoke(app, [*args, "--sizes", "forget50"])
    assert bad.exit_code == 2 and "forget requests among" in bad.output


def test_real_models_and_unknown_sizes_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="forget requests among"):
        forget_size_sweep(tiny_spec(), ["forget07"], runs_dir=tmp_path)
    real = tiny_spec().replace(model=str(tmp_path), data=str(tmp_path))
    with pytest.raises(UnlearnkitError, match="one exact oracle per size"):
        forget_size_sweep(real, SIZES, runs_dir=tmp_path)
