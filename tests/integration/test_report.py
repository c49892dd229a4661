"""`unlearnkit report` / `compare`: the HTML page, its plots, CSV/Markdown tables, and the
page rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.evaluation.functional.mia import auc
from unlearnkit.report import write_report
from unlearnkit.report.plots import roc_points
from unlearnkit.report.tables import TIME_COLUMN, compare_runs, format_cell, paper_url
from unlearnkit.runner.build import build_spec
from unlearnkit.runner.families.lm import HEADLINE
from unlearnkit.runner.run import run_experiment
from unlearnkit.runner.spec import ExperimentSpec, MethodSpec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_IDS = ("fq_vs_mu", "metrics", "mia_roc", "cost")
METHODS = (
    MethodSpec("npo", config={"max_steps": 2, "batch_size": 4}),
    MethodSpec("grad_diff", config={"max_steps": 2, "batch_size": 4}),
)


@pytest.fixture(scope="module")
def runs(test_preset_cache, tmp_path_factory):
    """Two finished runs of the test preset: one seed, and two seeds with fewer resamples."""
    _, cache = test_preset_cache
    runs_dir = tmp_path_factory.mktemp("runs")
    base = ExperimentSpec(name="small", build=build_spec("test"), methods=METHODS, bootstrap=50)
    one = run_experiment(base, cache=cache, runs_dir=runs_dir, progress=False, log=lambda m: None)
    two = run_experiment(
        base.replace(seeds=(0, 1), bootstrap=30),
        cache=cache,
        runs_dir=runs_dir,
        progress=False,
        log=lambda m: None,
    )
    return runs_dir, one, two


def test_roc_points_by_hand():
    # members score 3 and 2, non-members 2 and 1: the tie at 2 moves both rates at once
    fpr, tpr = roc_points([3, 2, 2, 1], ["member:a", "member:b", "nonmember:c", "nonmember:d"])
    assert fpr == [0.0, 0.0, 0.5, 1.0] and tpr == [0.0, 0.5, 1.0, 1.0]
    area = sum(
        (x1 - x0) * (y0 + y1) / 2
        for x0, x1, y0, y1 in zip(fpr, fpr[1:], tpr, tpr[1:], strict=False)
    )
    assert area == pytest.approx(auc([3, 2], [2, 1])) == pytest.approx(0.875)
    assert roc_points([1.0, float("nan")], ["member:a", "nonmember:b"]) == ([0.0, 1.0], [0.0, 1.0])


def test_paper_url():
    assert paper_url("arXiv:2404.05868 (Zhang et al.)") == "https://arxiv.org/abs/2404.05868"
    assert paper_url("a workshop paper") is None and paper_url(None) is None


@pytest.mark.slow
def test_report_writes_a_self_contained_page_plots_and_tables(runs):
    _, one, _ = runs
    page = write_report(one.run_dir)
    out = page.parent
    for name in FIGURE_IDS:
        assert (out / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE), name
    text = page.read_text()
    images = re.findall(r'<img class="plot" alt="(\w+)" src="data:image/png;base64,([^"]+)"', text)
    assert [name for name, _ in images] == list(FIGURE_IDS)
    for name, data in images:
        assert base64.b64decode(data) == (out / f"{name}.png").read_bytes()
    assert 'src="http' not in text and "<script" not in text  # nothing fetched from outside
    # each method links to its paper and to its config
    assert 'href="https://arxiv.org/abs/2404.05868"' in text  # npo
    assert 'id="config-npo"' in text and "beta:" in text
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert [r["model"] for r in rows] == ["target", "oracle", "npo", "grad_diff"]
    for label, _ in HEADLINE:
        assert rows[0][label] != "" and rows[2][f"{label} ci low"] != ""
    assert rows[0][TIME_COLUMN] == "" and float(rows[2][TIME_COLUMN]) > 0
    md = (out / "leaderboard.md").read_text()
    assert md.count("\n") == 2 + 4 and "[npo](https://arxiv.org/abs/2404.05868)" in md


@pytest.mark.slow
def test_seeds_give_mean_and_sd_in_the_report(runs):
    _, _, two = runs
    page = write_report(two.run_dir)
    rows = list(csv.DictReader(io.StringIO((page.parent / "leaderboard.csv").read_text())))
    npo = next(r for r in rows if r["model"] == "npo")
    assert npo["seeds"] == "2" and npo["forget quality sd"] != ""
    assert "±" in page.read_text()


@pytest.mark.slow
def test_compare_lines_up_every_run(runs):
    runs_dir, one, two = runs
    lines = compare_runs(runs_dir)
    assert {(ln["run_id"], ln["label"]) for ln in lines} >= {
        (one.run_dir.name, "npo"),
        (two.run_dir.name, "npo"),
        (one.run_dir.name, "oracle"),
    }
    res = CliRunner().invoke(
        app, ["compare", "--runs", str(runs_dir), "--csv", str(runs_dir / "c.csv")]
    )
    assert res.exit_code == 0, res.output
    assert "Runs compared" in res.output and one.run_dir.name in res.output
    assert len(list(csv.DictReader((runs_dir / "c.csv").open()))) == len(lines)
    empty = CliRunner().invoke(app, ["compare", "--runs", str(runs_dir / "none")])
    assert empty.exit_code == 2 and "unlearnkit run" in empty.output


@pytest.mark.slow
def test_report_command(runs, tmp_path):
    _, one, _ = runs
    res = CliRunner().invoke(app, ["report", str(one.run_dir), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "index.html").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "results.json" in bad.output


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


# The check runs in the browser: every plot must have decoded to a real image.
_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.querySelectorAll("img.plot")];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 100);
  const div = document.createElement("div");
  div.id = "probe";
  div.textContent = `plots:${imgs.length} decoded:${ok.length} ` +
    ok.map(i => `${i.alt}=${i.naturalWidth}x${i.naturalHeight}`).join(",");
  document.body.appendChild(div);
});
</script>"""


@pytest.mark.slow
def test_the_page_renders_in_headless_chromium(runs, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no Chromium: `make test` installs Debian's chromium when it can (root or sudo "
            "and apt-get); install it to run this check"
        )
    _, one, _ = runs
    page = write_report(one.run_dir, tmp_path / "report")
    probe = tmp_path / "report" / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env).stdout
    match = re.search(r'<div id="probe">plots:(\d+) decoded:(\d+) ([^<]*)</div>', dom)
    assert match, f"the page did not load in Chromium; DOM starts: {dom[:300]!r}"
    assert match.group(1) == match.group(2) == str(len(FIGURE_IDS)), match.group(0)
    assert [kv.split("=")[0] for kv in match.group(3).split(",")] == list(FIGURE_IDS)
    assert "Leaderboard" in dom and "<table" in dom


def test_cells_keep_significant_digits_of_tiny_values_and_their_spread():
    # a p-value's spread over seeds in significant digits, not as "0.000"
    assert format_cell({"value": 1.17e-38, "spread": 2.3e-38}) == "1.17e-38 ± 2.3e-38"
    assert format_cell({"value": 0.5, "spread": 0.0123}) == "0.500 ± 0.012"
    assert format_cell({"value": 0.5, "spread": 0.0123}, intervals=False) == "0.500±0.012"
    assert format_cell({"value": 0.02, "spread": None, "ci": [0.01, 0.3]}) == "0.020 [0.01, 0.3]"
    assert format_cell(None) == "-" and format_cell({"value": float("nan")}) == "n/a"
