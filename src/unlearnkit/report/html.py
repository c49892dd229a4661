"""``unlearnkit report RUN_DIR``: one self-contained HTML page per run.

The page embeds its plots as base64 PNGs (it can be mailed or attached to a ticket as
one file); the same PNGs, the leaderboard as CSV and Markdown are written next to it::

    RUN_DIR/report/index.html  fq_vs_mu.png  metrics.png  mia_roc.png  cost.png
                   leaderboard.csv  leaderboard.md
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from unlearnkit.core.io import atomic_write_bytes, atomic_write_text
from unlearnkit.core.runs import load_results
from unlearnkit.report import plots
from unlearnkit.report.tables import (
    TIME_COLUMN,
    columns_of,
    format_cell,
    leaderboard,
    paper_url,
    to_csv,
    to_markdown,
)
from unlearnkit.runner.families.lm import HEADLINE

FIGURES: tuple[tuple[str, str], ...] = (
    (
        "fq_vs_mu",
        "Forget quality against model utility. The oracle (green star) is where a "
        "perfect unlearning method lands; the target (black cross) is where it starts.",
    ),
    (
        "frontier",
        "Classifier runs: forget accuracy against test accuracy (recommender runs: the "
        "removed interactions' rank percentile against NDCG). The oracle's level (dashed) "
        "is the goal: a model that never saw these people still recognises their age "
        "bands, and still ranks what a user liked above what they did not.",
    ),
    (
        "metrics",
        "Headline metrics per model, with 95% bootstrap intervals (one seed) or "
        "± one standard deviation over seeds.",
    ),
    (
        "mia_roc",
        "ROC curves of membership-inference attacks separating forget (members) "
        "from holdout (non-members). The oracle's curve is the level to reach, not the "
        "diagonal: see docs/metrics.md.",
    ),
    ("cost", "Unlearning wall time as a share of retraining the oracle from scratch."),
)
#: figures drawn only when the run was audited (in its audit section)
AUDIT_FIGURES: tuple[tuple[str, str], ...] = (
    (
        "audit_curves",
        "Recovery under fine-tuning: knowledge of the forget records not relearned after "
        "s steps on half of the forget set, on related (neighbour) people, or through a "
        "LoRA adapter. Knowledge that returns to the target's level was suppressed, not "
        "removed; the oracle's curve is what relearning teaches a model that never knew.",
    ),
    (
        "sequence",
        "Sequential requests: each method applied to the forget set as successive requests "
        "(groups of people). Requested knowledge should fall and stay down, pending and "
        "retain knowledge should stay; forget quality compares the people requested so far "
        "with the oracle of the whole forget set (exact after the last request).",
    ),
)

REC_SEQUENCE = (
    "Sequential requests: the request applied in successive parts by each method (one "
    "method instance, so a one-off setup is paid once), the oracle retrained after each. "
    "Top-K hits of the interactions requested so far should fall to the oracle's level "
    "and stay; those not yet requested and the utility should stay."
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem}
table{border-collapse:collapse;font-size:.9rem;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.ref td{color:#666;font-style:italic}
figure{margin:1.5rem 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555;max-width:60rem}
details pre{font-size:.8rem;background:#f7f7f7;padding:.5rem;text-align:left}
code{background:#f3f3f3;padding:0 .2rem}
"""


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (default into ``run_dir/report``) and
    return the path of its ``index.html``."""
    run_dir = Path(run_dir)
    results = load_results(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    lines = leaderboard(results)
    figures = {
        "frontier": plots.accuracy_frontier(lines),
        "metrics": plots.metric_bars(lines),
        "mia_roc": plots.mia_roc(results, run_dir, lines),
        "cost": plots.cost_vs_retraining(lines, results.get("oracle_cost")),
        "audit_curves": plots.audit_curves(results, run_dir, lines),
        "sequence": plots.sequence_curves(results, lines),
    }
    if HEADLINE[0][0] in columns_of(lines):  # forget quality vs utility: people requests
        figures = {"fq_vs_mu": plots.fq_vs_mu(lines), **figures}
    images: dict[str, bytes] = {}
    for name, fig in figures.items():
        if fig is None:
            continue
        images[name] = plots.png(fig)
        atomic_write_bytes(out / f"{name}.png", images[name])
    atomic_write_text(out / "leaderboard.csv", to_csv(lines))
    atomic_write_text(out / "leaderboard.md", to_markdown(lines))
    page = render_html(results, lines, images)
    atomic_write_text(out / "index.html", page)
    return out / "index.html"


def render_html(
    results: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], images: Mapping[str, bytes]
) -> str:
    """The report page: the run's summary, the leaderboard, the figures, the configs."""
    spec = results["spec"]
    esc = html.escape
    title = f"unlearnkit run: {spec['name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        _summary(results),
        "<h2>Leaderboard</h2>",
        _table(lines),
        '<p><a href="leaderboard.csv">CSV</a> · <a href="leaderboard.md">Markdown</a> · '
        '<a href="../results.json">results.json</a> · <a href="../spec.yaml">spec</a></p>',
    ]
    for name, caption in FIGURES:
        if name == "fq_vs_mu" and HEADLINE[0][0] not in columns_of(lines):
            continue  # a corpus request (book, hazard) has no forget quality
        if name == "frontier" and name not in images:
            continue  # LM runs
        parts.append(_figure(name, caption, images))
    if results.get("family") == "recommender" and "sequence" in images:
        parts += ["<h2>Sequential requests</h2>", _figure("sequence", REC_SEQUENCE, images)]
    audited = [r for r in results["rows"] if r.get("audit")]
    if audited:
        what = (
            "top-K hits of the removed interactions"
            if results.get("family") == "recommender"
            else "value-token accuracy"
            if results.get("family") is None
            else "forget accuracy"
        )
        parts += ["<h2>Robustness audit</h2>", _audit_table(audited, what)]
        if results.get("family") is None:  # the curves are the LM audit's
            parts += [_figure(name, caption, images) for name, caption in AUDIT_FIGURES]
    parts += ["<h2>Methods and their configs</h2>", _configs(lines), "</body></html>"]
    return "\n".join(parts) + "\n"


def _figure(name: str, caption: str, images: Mapping[str, bytes]) -> str:
    esc = html.escape
    if name not in images:
        return f'<p class="missing" id="{name}">({esc(name)}: no data in this run)</p>'
    data = base64.b64encode(images[name]).decode("ascii")
    return (
        f'<figure id="{name}"><img class="plot" alt="{esc(name)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)}</figcaption></figure>'
    )


def _summary(results: Mapping[str, Any]) -> str:
    spec = results["spec"]
    esc = html.escape
    versions = ", ".join(f"{k} {v}" for k, v in (results.get("versions") or {}).items())
    wall = results.get("wall_time_s", math.nan)
    if spec.get("kind") == "recommender":
        w = spec["world"]
        return (
            "<ul>"
            + (
                f"<li>data: <code>{esc(str(spec['data']))}</code> (ratings ≥ {spec['threshold']}); "
                if spec.get("data")
                else f"<li>data: the interaction world (seed {w['seed']}: {w['n_users']} "
                f"users × {w['n_items']} items); "
            )
            + f"forget request <b>{esc(str(spec['request']))}</b>; model "
            f"{esc(spec['model']['arch'])}</li>"
            f"<li>seeds {esc(str(spec['seeds']))}; rankings cut at K = {spec['k']}; "
            f"sequential requests: {spec.get('sequential') or 'off'}</li>"
            f"<li>created {esc(str(results.get('created', '')))} in {wall:.1f} s; "
            f"{esc(versions)}</li></ul>"
        )
    if spec.get("kind") == "classifier":
        w = spec["world"]
        return (
            "<ul>"
            f"<li>data: the identity world (seed {w['seed']}: {w['n_train_identities']} train, "
            f"{w['n_forget']} forgotten, {w['n_test_identities']} test and "
            f"{w['n_unseen_identities']} unseen people); model {esc(spec['model']['arch'])}</li>"
            f"<li>seeds {esc(str(spec['seeds']))}; epsilon-score over {spec['challenge_n']} "
            f"unlearned and retrained models; LiRA with {spec['shadows']} shadow models</li>"
            f"<li>created {esc(str(results.get('created', '')))} in {wall:.1f} s; "
            f"{esc(versions)}</li></ul>"
        )
    source = (
        f"embedded world (preset build, seed {spec['build']['world']['seed']})"
        if spec.get("model") is None
        else f"model <code>{esc(str(spec['model']))}</code>, data <code>"
        f"{esc(str(spec['data']))}</code>"
    )
    return (
        "<ul>"
        f"<li>data: {source}; forget set <b>{esc(str(spec['forget']))}</b></li>"
        f"<li>seeds {esc(str(spec['seeds']))}; suites {esc(', '.join(spec['suites']))}; "
        f"{spec['bootstrap']} bootstrap resamples, {100 * spec['ci_level']:.0f}% intervals</li>"
        f"<li>created {esc(str(results.get('created', '')))} in {wall:.1f} s; {esc(versions)}</li>"
        "</ul>"
    )


def _table(lines: Sequence[Mapping[str, Any]]) -> str:
    esc = html.escape
    cols = [*columns_of(lines), TIME_COLUMN]
    head = "".join(f"<th>{esc(c)}</th>" for c in ["model", *cols])
    body = []
    for line in lines:
        cls = ' class="ref"' if line["kind"] != "method" else ""
        cells = "".join(
            f"<td>{esc(format_cell(line.get(c), 2 if c == TIME_COLUMN else 3))}</td>" for c in cols
        )
        body.append(f"<tr{cls}><td>{_name(line)}</td>{cells}</tr>")
    return f'<table id="leaderboard"><tr>{head}</tr>{"".join(body)}</table>'


def _audit_table(rows: Sequence[Mapping[str, Any]], what: str = "value-token accuracy") -> str:
    """Forget-set knowledge of every audited model before and after each attack, and the
    same as "forgetting left" (1 = as forgotten as the oracle, 0 = as known as the target)
    when the target and the oracle were audited (docs/audit.md)."""
    from unlearnkit.audit.knowledge import forgetting_left

    esc = html.escape
    cols = list(dict.fromkeys(c for r in rows for c in r["audit"]))
    by_kind = {r["kind"]: r["audit"] for r in rows if r["kind"] != "method"}

    def num(row: Mapping[str, Any], c: str) -> float:
        return float(row.get(c, "nan"))

    head = "".join(f"<th>{esc(c)}</th>" for c in ["model", *cols])
    body = []
    for r in rows:
        cls = ' class="ref"' if r["kind"] != "method" else ""
        cells = "".join(f"<td>{num(r['audit'], c):.3f}</td>" for c in cols)
        body.append(f"<tr{cls}><td>{esc(r['label'])}</td>{cells}</tr>")
    out = [
        f"<p>Forget-set knowledge ({esc(what)}) before and after each attack "
        "(relearning: @0 and the last step; related: relearning on retain people linked to "
        "forget people).</p>",
        f'<table id="audit"><tr>{head}</tr>{"".join(body)}</table>',
    ]
    if {"target", "oracle"} <= set(by_kind):
        t, o = by_kind["target"], by_kind["oracle"]
        body = []
        for r in rows:
            if r["kind"] != "method":
                continue
            cells = "".join(
                f"<td>{forgetting_left(num(r['audit'], c), num(t, c), num(o, c)):.2f}</td>"
                for c in cols
            )
            body.append(f"<tr><td>{esc(r['label'])}</td>{cells}</tr>")
        out += [
            "<p>Forgetting left: (target − x) / (target − oracle); 1 = as forgotten as the "
            "oracle, 0 = as known as the target.</p>",
            f'<table id="audit-left"><tr>{head}</tr>{"".join(body)}</table>',
        ]
    return "\n".join(out)


def _name(line: Mapping[str, Any]) -> str:
    esc = html.escape
    url = paper_url(line.get("paper"))
    label = esc(line["label"])
    if line["kind"] != "method":
        return label
    anchor = f'<a href="#config-{esc(_anchor(line["label"]))}">{label}</a>'
    return anchor + (f' <a class="paper" href="{esc(url)}">[paper]</a>' if url else "")


def _anchor(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label)


def _configs(lines: Sequence[Mapping[str, Any]]) -> str:
    esc = html.escape
    out = []
    for line in lines:
        if line["kind"] != "method":
            continue
        url = paper_url(line.get("paper"))
        paper = esc(line.get("paper") or "")
        link = f' — <a href="{esc(url)}">{paper}</a>' if url else (f" — {paper}" if paper else "")
        config = {k: v for k, v in (line.get("config") or {}).items() if k != "seed"}
        text = yaml.safe_dump(config, sort_keys=True)
        out.append(
            f'<details id="config-{esc(_anchor(line["label"]))}"><summary><b>'
            f"{esc(line['label'])}</b> ({esc(str(line.get('method')))}){link}</summary>"
            f"<pre>{esc(text)}</pre></details>"
        )
    return "\n".join(out)


__all__ = ["FIGURES", "render_html", "write_report"]
