"""The report draws what a run's results declare: each family's ``presentation`` (figures,
frontier, log-scaled metrics, audit measure, sequence panels), found by metric keys, not
display labels; results written before ``presentation`` existed get the one fallback.

The runs here are hand-written ``results.json`` files with the reports their rows point
to (no model is trained), each validated against the results schema."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.report import plots, write_report
from unlearnkit.report.html import SECTIONED, render_html
from unlearnkit.report.tables import LEGACY_HEADLINE, leaderboard, presentation_of
from unlearnkit.runner.families import get_family

FAMILIES = ("lm", "classifier", "recommender")


def _schema() -> dict[str, Any]:
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    return json.loads(ref.read_text())


def _row(label: str, kind: str, headline: list[dict[str, str]], i: int) -> dict[str, Any]:
    """One results row whose every headline metric has a value, with its evaluation report
    (membership scores), audit report (a recovery curve) and, for a method, a sequence."""
    method = kind == "method"
    history = [
        {
            "request": r,
            "records": 4 * r,
            "requested": 0.5 / r,
            "pending": 0.8,
            "retain": 0.9,
            "wall_time_s": 1.0,
            "forget_quality": 10.0 ** -(r + i),
            "forget_rank_pct": 0.4,
            "model_utility": 0.6,
        }
        for r in (1, 2)
    ]
    return {
        "label": label,
        "kind": kind,
        "method": label if method else None,
        "seed": 0 if method else None,
        "metrics": {h["key"]: 0.1 * (i + 1) + 0.01 * j for j, h in enumerate(headline)},
        "ci": {h["key"]: None for h in headline},
        "report": f"reports/{label}.json",
        "model_dir": f"/models/{label}",
        "efficiency": {
            "wall_time_s": 2.0,
            "peak_memory_mb": 1.0,
            "steps": 3,
            "parameters_changed": 1,
            "parameters_total": 2,
            "fraction_changed": 0.5,
            "time_fraction_of_retraining": 0.1 * (i + 1),
        }
        if method
        else None,
        "config": {"lr": 0.1} if method else {},
        "paper": None,
        "audit": {"forget": 0.5 + 0.1 * i, "relearn@1": 0.7},
        "audit_report": f"audits/{label}.json",
        "sequence": history if method else None,
        "sequence_report": None,
    }


def _write_run(
    run_dir: Path,
    family: str,
    spec: Mapping[str, Any],
    headline: list[dict[str, str]],
    presentation: Mapping[str, Any] | None,
) -> Path:
    """A run directory with ``results.json`` (``presentation`` left out when None) and the
    evaluation and audit reports of a target, an oracle and two methods."""
    rows = [
        _row(label, kind, headline, i)
        for i, (label, kind) in enumerate(
            [("target", "target"), ("oracle", "oracle"), ("m1", "method"), ("m2", "method")]
        )
    ]
    for i, row in enumerate(rows):
        ids = ["member:a", "member:b", "nonmember:c", "nonmember:d"]
        mia = {"mia_loss": {"values": [3.0, 2.0 - i, 2.0, 1.0], "ids": ids, "aggregate": 0.7}}
        curve = {"steps": [0, 1], "values": [0.2 + 0.1 * i, 0.6]}
        for path, data in (
            (row["report"], {"results": {"mia": mia}}),
            (row["audit_report"], {"relearn_forget": curve}),
        ):
            (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / path).write_text(json.dumps(data))
    results: dict[str, Any] = {
        "kind": "unlearnkit.run",
        "version": 1,
        "family": family,
        "created": "2026-01-01T00:00:00+00:00",
        "versions": {"unlearnkit": "0", "python": "3", "torch": "2", "transformers": "4"},
        "spec": dict(spec),
        "run_dir": str(run_dir),
        "wall_time_s": 1.0,
        "built": {},
        "seconds": {},
        "oracle_cost": {"wall_time_s": 20.0},
        "headline": headline,
        "rows": rows,
    }
    if presentation is not None:
        results["presentation"] = dict(presentation)
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def _family_run(tmp_path: Path, name: str, relabel: bool = False) -> tuple[Path, dict[str, Any]]:
    """A run of family ``name``'s default spec with the headline and presentation the
    family declares (``relabel``: every headline label replaced by another text)."""
    family = get_family(name)
    spec = family.load_spec(None, [])
    headline = [
        {"label": f"column {i}" if relabel else label, "key": key}
        for i, (label, key) in enumerate(family.headline(spec))
    ]
    shown = family.presentation(spec)
    run_dir = _write_run(tmp_path / name, name, spec.to_dict(), headline, shown)
    return run_dir, shown


def _figures(page: str) -> list[str]:
    """The ids of the figures a report page shows, in page order."""
    return re.findall(r'<figure id="(\w+)">', page)


def _shown_order(plots_: list[str]) -> list[str]:
    """The page order of a presentation's figures: the unsectioned ones as listed, then the
    audit's curves, then the sequential requests."""
    return [p for p in plots_ if p not in SECTIONED] + [p for p in SECTIONED if p in plots_]


@pytest.mark.parametrize("name", FAMILIES)
def test_the_report_draws_the_declared_figures_and_no_others(name, tmp_path):
    run_dir, shown = _family_run(tmp_path, name)
    data = json.loads((run_dir / "results.json").read_text())
    pytest.importorskip("jsonschema").validate(data, _schema())
    page = write_report(run_dir)
    assert sorted(p.stem for p in page.parent.glob("*.png")) == sorted(shown["plots"])
    text = page.read_text()
    assert _figures(text) == _shown_order(shown["plots"])
    assert "no data in this run" not in text
    if shown["audit_measure"]:
        assert f"Forget-set knowledge ({html.escape(shown['audit_measure'])})" in text
    if "sequence" in shown["plots"]:
        assert html.escape(shown["sequence_caption"]) in text
    if shown["frontier"] is not None:
        assert html.escape(shown["frontier"]["caption"]) in text


@pytest.mark.parametrize("name", FAMILIES)
def test_figures_find_their_metrics_by_key_not_by_label(name, tmp_path):
    run_dir, shown = _family_run(tmp_path, name, relabel=True)
    results = json.loads((run_dir / "results.json").read_text())
    lines = leaderboard(results)
    for figure in ("fq_vs_mu", "frontier"):
        if figure in shown["plots"]:
            assert plots.draw(figure, results, run_dir, lines, shown) is not None, figure
    bars = plots.draw("metrics", results, run_dir, lines, shown)
    assert bars is not None
    scales = {key: ax.get_yscale() for key, ax in zip(lines[0]["keys"], bars.axes, strict=True)}
    assert {k for k, scale in scales.items() if scale == "symlog"} == set(shown["log_metrics"])


def test_the_sequence_panels_are_the_declared_ones(tmp_path):
    run_dir, shown = _family_run(tmp_path, "recommender")
    results = json.loads((run_dir / "results.json").read_text())
    fig = plots.draw("sequence", results, run_dir, leaderboard(results), shown)
    assert fig is not None
    assert [ax.get_title() for ax in fig.axes] == [t for _, t in shown["sequence_panels"]]


def test_a_legacy_lm_results_file_renders_as_before(tmp_path):
    """A results.json from before results named their family, headline and presentation:
    the LM people's figures, forget quality on a log scale, the audit's curves."""
    spec = get_family("lm").load_spec(None, []).to_dict()
    headline = [{"label": label, "key": key} for label, key in LEGACY_HEADLINE]
    run_dir = _write_run(tmp_path / "old", "lm", spec, headline, None)
    results = json.loads((run_dir / "results.json").read_text())
    del results["family"], results["headline"]
    (run_dir / "results.json").write_text(json.dumps(results))
    page = write_report(run_dir)
    expected = ["fq_vs_mu", "metrics", "mia_roc", "cost", "audit_curves", "sequence"]
    assert _figures(page.read_text()) == expected
    assert sorted(p.stem for p in page.parent.glob("*.png")) == sorted(expected)
    assert "value-token accuracy" in page.read_text()


def test_a_legacy_corpus_request_and_another_familys_old_file(tmp_path):
    """An old LM file of a corpus request has no forget quality (no fq_vs_mu, no
    sequences); an old file of another family gets the figures every run has."""
    spec = get_family("lm").load_spec(None, []).to_dict()
    corpus = [{"label": "WMDP hazard acc", "key": "wmdp/hazard"}]
    old_lm = _write_run(tmp_path / "corpus", "lm", spec, corpus, None)
    assert presentation_of(json.loads((old_lm / "results.json").read_text()))["plots"] == [
        "metrics",
        "mia_roc",
        "cost",
        "audit_curves",
    ]
    classifier = get_family("classifier")
    cspec = classifier.load_spec(None, [])
    cheadline = [{"label": a, "key": k} for a, k in classifier.headline(cspec)]
    old = _write_run(tmp_path / "faces", "classifier", cspec.to_dict(), cheadline, None)
    assert _figures(write_report(old).read_text()) == ["metrics", "mia_roc", "cost"]


def test_an_unknown_figure_is_an_error_naming_the_known_ones(tmp_path):
    run_dir, shown = _family_run(tmp_path, "classifier")
    results = json.loads((run_dir / "results.json").read_text())
    with pytest.raises(UnlearnkitError, match=r"cannot draw .*fq_vs_mu, frontier"):
        plots.draw("violin", results, run_dir, leaderboard(results), shown)


def test_the_summary_is_generic_with_the_familys_own_lines(tmp_path):
    run_dir, _ = _family_run(tmp_path, "recommender")
    results = json.loads((run_dir / "results.json").read_text())
    results["presentation"]["summary"] = ["data: the interaction world <seed 0>"]
    text = render_html(results, leaderboard(results), {})
    assert "family <b>recommender</b>; 6 methods × seeds [0]" in text
    assert "settings: request interactions, model_seed 0, k 20, sequential 0" in text
    assert "<li>data: the interaction world &lt;seed 0&gt;</li>" in text
