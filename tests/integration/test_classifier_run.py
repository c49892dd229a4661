"""The classifier experiment end to end on the test identity world: ``unlearnkit run
classifier`` builds and caches everything, writes results in the runs' schema, the
leaderboard and the report (frontier, MIA ROC curves), and audits every model."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import ConfigError
from unlearnkit.core.runs import load_results
from unlearnkit.report.html import write_report
from unlearnkit.report.tables import leaderboard, to_markdown
from unlearnkit.runner.families.classifier import Classifiers
from unlearnkit.runner.run import run_experiment
from unlearnkit.runner.spec import spec_kind

#: whole runs of the runner (minutes on 2 cores): CI runs them, the fast lane does not
pytestmark = pytest.mark.slow

SMALL = [
    "world=test",
    "challenge_n=3",
    "shadows=2",
    "methods=[{name: salun}, {name: finetune}]",
    "audit={relearn_steps: [4], bits: [4], noise: [0.01]}",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cls-cache"))
    runs = tmp_path_factory.mktemp("cls-runs")
    spec = Classifiers.load_spec(None, SMALL)
    return (
        run_experiment(spec, cache=cache, runs_dir=runs, log=lambda m: None),
        cache,
        runs,
    )


def test_rows_metrics_and_schema(run) -> None:
    result, _, _ = run
    data = load_results(result.run_dir)
    assert [r["label"] for r in data["rows"]] == ["target", "oracle", "salun", "finetune"]
    rows = {r["label"]: r for r in data["rows"]}
    for label in ("salun", "finetune"):
        m = rows[label]["metrics"]
        assert 0.0 <= float(m["challenge/F"]) <= 1.0
        assert "mia/lira" in m and "nomus" in m and "repr/identity_probe" in m
        assert rows[label]["efficiency"]["time_fraction_of_retraining"] > 0
        assert set(rows[label]["audit"]) >= {
            "forget",
            "int4",
            "noise 0.01",
            "relearn@0",
            "relearn@4",
        }
    # sanity: the target memorised the forget images, the oracle did not
    assert float(rows["target"]["metrics"]["acc/forget"]) > float(
        rows["oracle"]["metrics"]["acc/forget"]
    )
    assert float(rows["target"]["metrics"]["mia/lira"]) > float(
        rows["oracle"]["metrics"]["mia/lira"]
    )
    assert next(h["key"] for h in data["headline"]) == "acc/forget"
    jsonschema = pytest.importorskip("jsonschema")
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    jsonschema.validate(data, json.loads(ref.read_text()))


def test_report_and_tables(run) -> None:
    result, _, _ = run
    data = load_results(result.run_dir)
    md = to_markdown(leaderboard(data))
    assert "forget acc" in md and "epsilon-score F" in md
    page = write_report(result.run_dir).read_text()
    assert 'id="frontier"' in page and 'id="mia_roc"' in page
    assert "fq_vs_mu" not in page
    assert "identity world" in page


def test_second_run_reuses_the_cache(run) -> None:
    result, cache, runs = run
    spec = Classifiers.load_spec(None, SMALL)
    again = run_experiment(spec, cache=cache, runs_dir=runs, log=lambda m: None)
    # every step (models, populations, unlearning, evaluations, audits) comes from the cache
    assert again.built and not any(again.built.values()), again.built
    first = {r.label: r.metrics for r in result.rows}
    for r in again.rows:
        assert r.metrics == pytest.approx(first[r.label], nan_ok=True)


def test_cache_keys_follow_the_resolved_config(run) -> None:
    """Spelling out a default is the same model (reused); changing it is a new one."""
    _, cache, runs = run
    same = Classifiers.load_spec(
        None, [*SMALL[:4], "methods=[{name: finetune, config: {epochs: 10}}]"]
    )
    reused = run_experiment(same, cache=cache, runs_dir=runs, log=lambda m: None)
    assert reused.built["unlearn:finetune"] is False
    other = Classifiers.load_spec(
        None, [*SMALL[:4], "methods=[{name: finetune, config: {epochs: 2}}]"]
    )
    changed = run_experiment(other, cache=cache, runs_dir=runs, log=lambda m: None)
    assert changed.built["unlearn:finetune"] is True


def test_cli_and_spec_errors(tmp_path) -> None:
    assert spec_kind("classifier") == "classifier" and spec_kind("demo") == "lm"
    path = tmp_path / "faces.yaml"
    path.write_text("kind: classifier\nname: faces-small\n")
    assert spec_kind(path) == "classifier"
    with pytest.raises(ConfigError, match="'npo' belongs to the lm family"):
        Classifiers.load_spec(None, ["methods=[{name: npo}]"])
    with pytest.raises(ConfigError, match="shadows"):
        Classifiers.load_spec(None, ["shadows=1"])
    out = CliRunner().invoke(
        app,
        [
            "run",
            "classifier",
            "--cache",
            str(tmp_path / "c"),
            "--runs",
            str(tmp_path / "r"),
            "--no-report",
            *[a for s in SMALL[:3] for a in ("-s", s)],
            "-s",
            "methods=[{name: neg_grad}]",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "neg_grad" in out.output and "oracle" in out.output


def test_multilabel_variant(tmp_path) -> None:
    """task=attributes: the four binary attributes are the task (MUCAC-like)."""
    spec = Classifiers.load_spec(
        None,
        [
            "world=test",
            "task=attributes",
            "challenge_n=2",
            "shadows=2",
            "methods=[{name: neg_grad_plus}]",
        ],
    )
    assert spec.model_config.multilabel and spec.model_config.n_classes == 4
    assert spec.to_dict()["task"] == "attributes"
    assert "task" not in Classifiers.load_spec(None, ["world=test"]).to_dict()
    result = run_experiment(
        spec, cache=Cache(tmp_path / "c"), runs_dir=tmp_path / "r", log=lambda m: None
    )
    rows = {r.label: r.metrics for r in result.rows}
    # measured on the test world: forget accuracy 0.91 (target) / 0.61 (oracle), LiRA 0.77 / 0.43
    assert rows["target"]["acc/forget"] > rows["oracle"]["acc/forget"]
    assert rows["target"]["mia/lira"] > rows["oracle"]["mia/lira"]
    assert 0.0 <= rows["neg_grad_plus"]["challenge/F"] <= 1.0
    jsonschema = pytest.importorskip("jsonschema")
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    jsonschema.validate(load_results(result.run_dir), json.loads(ref.read_text()))
