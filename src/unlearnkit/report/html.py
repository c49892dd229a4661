"""``unlearnkit report RUN_DIR``: one self-contained HTML page per run.

The page embeds its plots as base64 PNGs (it can be mailed or attached to a ticket as
one file); the same PNGs, the leaderboard as CSV and Markdown are written next to it::

    RUN_DIR/report/index.html  fq_vs_mu.png  metrics.png  mia_roc.png  cost.png
                   leaderboard.csv  leaderboard.md

The page knows no family: it draws exactly the figures the run's presentation lists
(:func:`~unlearnkit.report.tables.presentation_of`), in that order, with the captions and
measures the presentation gives; the audit's recovery curves go in the audit's section,
the sequential requests in their own.
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
    presentation_of,
    to_csv,
    to_markdown,
)

#: the captions of the figures whose meaning is the same in every run (a frontier's and
#: the sequential requests' come with the run's presentation)
CAPTIONS: dict[str, str] = {
    "fq_vs_mu": "Forget quality against model utility. The oracle (green star) is where a "
    "perfect unlearning method lands; the target (black cross) is where it starts.",
    "metrics": "Headline metrics per model, with 95% bootstrap intervals (one seed) or "
    "± one standard deviation over seeds.",
    "mia_roc": "ROC curves of membership-inference attacks separating forget (members) "
    "from holdout (non-members). The oracle's curve is the level to reach, not the "
    "diagonal: see docs/metrics.md.",
    "cost": "Unlearning wall time as a share of retraining the oracle from scratch.",
    "audit_curves": "Recovery under fine-tuning: knowledge of the forget records not "
    "relearned after s steps on half of the forget set, on related (neighbour) people, or "
    "through a LoRA adapter. Knowledge that returns to the target's level was suppressed, "
    "not removed; the oracle's curve is what relearning teaches a model that never knew.",
}
#: figures shown in a section of their own rather than with the others: the audit's
#: recovery curves (when the run was audited) and the sequential requests (when run)
SECTIONED = ("audit_curves", "sequence")

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
    presentation = presentation_of(results)
    images: dict[str, bytes] = {}
    for name in presentation["plots"]:
        fig = plots.draw(name, results, run_dir, lines, presentation)
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
    """The report page: the run's summary, the leaderboard, the figures its presentation
    lists (``images``: the drawn ones, by name; a listed figure without data says so), the
    audit and the sequential requests when the run has them, the methods' configs."""
    spec = results["spec"]
    shown = presentation_of(results)
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
    parts += [
        _figure(name, _caption(name, shown), images)
        for name in shown["plots"]
        if name not in SECTIONED
    ]
    audited = [r for r in results["rows"] if r.get("audit")]
    if audited:
        parts += ["<h2>Robustness audit</h2>", _audit_table(audited, shown["audit_measure"])]
        if "audit_curves" in shown["plots"]:
            parts.append(_figure("audit_curves", _caption("audit_curves", shown), images))
    if "sequence" in shown["plots"] and "sequence" in images:
        caption = _caption("sequence", shown)
        parts += ["<h2>Sequential requests</h2>", _figure("sequence", caption, images)]
    parts += ["<h2>Methods and their configs</h2>", _configs(lines), "</body></html>"]
    return "\n".join(parts) + "\n"


def _caption(name: str, presentation: Mapping[str, Any]) -> str:
    """The caption of figure ``name``: the run's own for its frontier and sequential
    requests, otherwise :data:`CAPTIONS`'s."""
    if name == "frontier":
        return str((presentation["frontier"] or {}).get("caption", ""))
    if name == "sequence":
        return str(presentation["sequence_caption"])
    return CAPTIONS.get(name, "")


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
    """What was run, the same way for every family: the family, methods × seeds, the
    spec's top-level settings that are plain values (:func:`_settings`), the lines the
    family wrote into its presentation's ``summary`` (its data, in words), and when and
    with which library versions it ran."""
    spec = results["spec"]
    esc = html.escape
    versions = ", ".join(f"{k} {v}" for k, v in (results.get("versions") or {}).items())
    wall = float(results.get("wall_time_s", math.nan))
    methods = spec.get("methods") or []
    items = [
        f"family <b>{esc(str(results.get('family', '')))}</b>; {len(methods)} "
        f"method{'s' if len(methods) != 1 else ''} × seeds {esc(str(spec.get('seeds')))}",
        "settings: " + esc(", ".join(f"{k} {v}" for k, v in _settings(spec).items())),
        *(esc(str(line)) for line in presentation_of(results)["summary"]),
        f"created {esc(str(results.get('created', '')))} in {wall:.1f} s; {esc(versions)}",
    ]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


#: spec entries the summary shows on their own (or, for methods, in the configs section)
_SUMMARISED = frozenset({"kind", "name", "methods", "seeds"})


def _settings(spec: Mapping[str, Any]) -> dict[str, str]:
    """The spec's top-level settings that are plain values (text, numbers, booleans, or
    lists of them), as text; unset (None) and nested settings are left out (the spec is
    one link away)."""
    out = {}
    for key, value in spec.items():
        if key in _SUMMARISED or value is None:
            continue
        if _plain(value):
            out[key] = str(value)
        elif isinstance(value, list) and value and all(_plain(v) for v in value):
            out[key] = "[" + ", ".join(map(str, value)) + "]"
    return out


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


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


def _audit_table(rows: Sequence[Mapping[str, Any]], measure: str) -> str:
    """Forget-set knowledge of every audited model before and after each attack (in the
    run's ``measure``: the presentation's ``audit_measure``), and the same as "forgetting
    left" (1 = as forgotten as the oracle, 0 = as known as the target) when the target and
    the oracle were audited (docs/audit.md)."""
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
        f"<p>Forget-set knowledge{f' ({esc(measure)})' if measure else ''} before and after "
        "each attack "
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


__all__ = ["CAPTIONS", "render_html", "write_report"]
