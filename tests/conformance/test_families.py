"""Conformance suite generated from the family registry: every registered family's spec,
headline and presentation follow the contract, and a smoke run of it (its own
``smoke_overrides``) goes through the one runner to a results file that validates against
the one schema, and reruns from the cache."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import pytest

from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import ConfigError, UnknownNameError
from unlearnkit.core.runs import load_results
from unlearnkit.methods.api import methods_of
from unlearnkit.runner.families import FAMILIES, Family, get_family
from unlearnkit.runner.run import family_of, run_experiment
from unlearnkit.runner.spec import load_any_spec, spec_kind

NAMES = FAMILIES.names()
PLOTS = {"fq_vs_mu", "frontier", "metrics", "mia_roc", "cost", "audit_curves", "sequence"}


def schema() -> dict:
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    return json.loads(ref.read_text())


def test_the_three_families_are_registered():
    assert {"lm", "classifier", "recommender"} <= set(NAMES)
    with pytest.raises(UnknownNameError, match="Did you mean 'classifier'"):
        get_family("clasifier")


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_follows_the_contract(name):
    family: type[Family] = FAMILIES.get(name)
    assert issubclass(family, Family) and family.name == name
    spec = family.load_spec(None, [])
    assert isinstance(spec, family.spec_type) and family_of(spec) is family
    assert family.spec_type.from_dict(spec.to_dict()) == spec
    assert spec.methods and spec.seeds
    assert all(m.name in methods_of(family.method_family) for m in spec.methods)
    # the CLI's name for the family's default spec and a YAML's ``kind`` reach it
    assert spec_kind(None if name == "lm" else name) == name
    assert type(load_any_spec(None if name == "lm" else name)) is family.spec_type


@pytest.mark.parametrize("name", NAMES)
def test_another_familys_method_is_refused_with_did_you_mean(name):
    family = FAMILIES.get(name)
    other = next(
        m
        for n in NAMES
        if FAMILIES.get(n).method_family != family.method_family
        for m in methods_of(FAMILIES.get(n).method_family)
    )
    with pytest.raises(ConfigError, match=f"a method of the {family.method_family} family"):
        family.load_spec(None, [f"methods=[{{name: {other}}}]"])


@pytest.mark.parametrize("name", NAMES)
def test_headline_and_presentation_are_declared(name):
    family = FAMILIES.get(name)
    spec = family.load_spec(None, [])
    headline = family.headline(spec)
    assert headline and all(label and key for label, key in headline)
    shown = family.presentation(spec)
    assert set(shown["plots"]) <= PLOTS and "metrics" in shown["plots"]
    keys = {k for _, k in headline}
    if shown["frontier"] is not None:
        assert "frontier" in shown["plots"]
        assert {shown["frontier"]["forget"], shown["frontier"]["utility"]} <= keys
    assert set(shown["log_metrics"]) <= keys


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_a_smoke_run_goes_through_the_one_runner(name, tmp_path, test_preset_cache):
    jsonschema = pytest.importorskip("jsonschema")
    family = FAMILIES.get(name)
    spec = family.load_spec(None, list(family.smoke_overrides))
    cache = Cache(tmp_path / "cache")
    if name == "lm":  # the test preset's target and oracle, trained once per session
        shutil.copytree(test_preset_cache[1].root, cache.root, dirs_exist_ok=True)
    first = run_experiment(
        spec, cache=cache, runs_dir=tmp_path / "runs", log=lambda m: None, workers=1
    )
    data = load_results(first.run_dir)
    jsonschema.validate(data, schema())
    assert data["family"] == name
    assert [r["kind"] for r in data["rows"]][:2] == ["target", "oracle"]
    assert {r["label"] for r in data["rows"] if r["kind"] == "method"} == {
        m.display for m in spec.methods
    }
    headline = {k for _, k in family.headline(spec)}
    for row in data["rows"]:  # (a measure a setting turned off, e.g. LiRA, may be absent)
        assert headline & set(row["metrics"]), row["label"]
        assert (first.run_dir / row["report"]).is_file()
    # a rerun builds nothing: every step is a cache entry
    again = run_experiment(
        spec, cache=cache, runs_dir=tmp_path / "runs", log=lambda m: None, workers=1
    )
    assert again.built and not any(again.built.values()), again.built
    same = [json.dumps(r.metrics, sort_keys=True) for r in again.rows]
    assert same == [json.dumps(r.metrics, sort_keys=True) for r in first.rows]


def test_the_cli_lists_the_families_and_each_ones_methods_and_metrics():
    from typer.testing import CliRunner

    from unlearnkit.cli import app
    from unlearnkit.evaluation.metrics.base import metrics_of

    runner = CliRunner()
    listed = runner.invoke(app, ["list", "families"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    for name in NAMES:
        assert name in listed.output
    for name in NAMES:
        family = FAMILIES.get(name)
        methods = runner.invoke(app, ["list", "methods", "--family", name], env={"COLUMNS": "200"})
        assert methods.exit_code == 0
        shown = {line.split("│")[1].strip() for line in methods.output.splitlines() if "│" in line}
        assert set(methods_of(family.method_family)) <= shown
        metrics = runner.invoke(app, ["list", "metrics", "--family", name], env={"COLUMNS": "200"})
        assert metrics.exit_code == 0
        shown = {line.split("│")[1].strip() for line in metrics.output.splitlines() if "│" in line}
        assert set(metrics_of(family.method_family, audit=None)) <= shown
    wrong = runner.invoke(app, ["list", "methods", "--family", "clasifier"])
    assert wrong.exit_code != 0 and "classifier" in wrong.output
