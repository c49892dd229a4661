"""Tables of a run and across runs.

The leaderboard has one line per model (target, oracle, each method) and the headline
metrics. Methods run with several seeds get one line with the mean across seeds (and the
standard deviation next to it); a single run shows its bootstrap interval instead. The
target and the oracle are the reference lines: a method should sit near the oracle.
The same lines are written as CSV and Markdown (:func:`to_csv`, :func:`to_markdown`), and
:func:`compare_runs` lines up the leaderboards of every run in a runs directory.

The report knows no family: a run's ``results.json`` names its headline (label, metric
key) and how to show it (``presentation``: :func:`presentation_of`), and the report finds
every number by its metric key (:func:`cell_of`), never by its display label.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.runs import INDEX_FILE, LEGACY_FAMILY, load_results, read_runs_index

TIME_COLUMN = "time (% of oracle training)"

#: TOFU's forget quality (a KS-test p-value against the oracle) and model utility: the
#: metric keys of the forget-quality-vs-utility figure and of the forget-size sweep
FORGET_QUALITY = "tofu/forget/forget_quality"
MODEL_UTILITY = "tofu/model_utility"

#: The headline of results files written before results named theirs: language-model runs
#: forgetting people (a frozen copy; today's headlines come from ``results["headline"]``).
LEGACY_HEADLINE: tuple[tuple[str, str], ...] = (
    ("forget quality", FORGET_QUALITY),
    ("model utility", MODEL_UTILITY),
    ("forget ROUGE-L", "tofu/forget/rouge_l"),
    ("PrivLeak", "muse/privleak"),
    ("MIA AUC (Min-K%)", "mia/mia_min_k"),
)

#: What a presentation holds when a results file leaves an entry out: the figures every
#: run has data for, no frontier, linear bars, no audit measure, no sequence panels and
#: no family-written summary lines (see ``Family.presentation`` for each entry).
BASE_PRESENTATION: dict[str, Any] = {
    "plots": ["metrics", "mia_roc", "cost"],
    "frontier": None,
    "log_metrics": [],
    "audit_measure": "",
    "sequence_panels": [],
    "sequence_caption": "",
    "summary": [],
}

#: The presentation of language-model runs forgetting people, for results files written
#: before results carried their presentation (frozen, as those runs' reports showed them).
_LEGACY_LM_PEOPLE: dict[str, Any] = {
    "plots": ["fq_vs_mu", "metrics", "mia_roc", "cost", "audit_curves", "sequence"],
    "log_metrics": [FORGET_QUALITY],
    "audit_measure": "value-token accuracy",
    "sequence_panels": [
        ["requested", "knowledge: requested so far"],
        ["pending", "knowledge: not yet requested"],
        ["retain", "knowledge: retain people"],
        ["forget_quality", "forget quality (requested)"],
        ["model_utility", "model utility"],
    ],
    "sequence_caption": (
        "Sequential requests: each method applied to the forget set as successive requests "
        "(groups of people). Requested knowledge should fall and stay down, pending and "
        "retain knowledge should stay; forget quality compares the people requested so far "
        "with the oracle of the whole forget set (exact after the last request)."
    ),
}


def _f(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def headline_of(results: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (label, key) columns a run's results name (:data:`LEGACY_HEADLINE` for results
    written before they named theirs)."""
    given = results.get("headline")
    return tuple((h["label"], h["key"]) for h in given) if given else LEGACY_HEADLINE


def presentation_of(results: Mapping[str, Any]) -> dict[str, Any]:
    """How the report shows a run: its ``results["presentation"]``, written by its family
    (figures, frontier, log-scaled metrics, audit measure, sequence panels; see
    ``Family.presentation``), with :data:`BASE_PRESENTATION` for entries it leaves out.

    The one fallback for results files written before results carried a presentation:
    a language-model run (the family :func:`~unlearnkit.core.runs.load_results` gives a
    file that names none) is shown as those reports showed it (forget quality against
    utility and the audit's figures when its headline has forget quality); another
    family's old file gets the figures every run has (rerunning its spec rewrites the
    results with its presentation, reusing everything from the cache).
    """
    given = results.get("presentation")
    if given is not None:
        return {**BASE_PRESENTATION, **given}
    if results.get("family", LEGACY_FAMILY) != LEGACY_FAMILY:
        return dict(BASE_PRESENTATION)
    if FORGET_QUALITY in {key for _, key in headline_of(results)}:
        return {**BASE_PRESENTATION, **_LEGACY_LM_PEOPLE}
    # a corpus request (a book, a hazard domain): no forget quality, no sequences
    return {
        **BASE_PRESENTATION,
        "plots": [*BASE_PRESENTATION["plots"], "audit_curves"],
        "audit_measure": _LEGACY_LM_PEOPLE["audit_measure"],
    }


def columns_of(lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """The headline labels of leaderboard lines (each line carries them in ``columns``)."""
    return list(lines[0]["columns"]) if lines else []


def cell_of(line: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The cell of metric ``key`` in a leaderboard line (None when the line's headline has
    no such metric): lines hold their cells under display labels, and ``keys`` maps each
    headline metric key to its label."""
    label = line.get("keys", {}).get(key)
    return None if label is None else line.get(label)


def leaderboard(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Lines of the leaderboard from a run's ``results.json`` dict.

    Each line: label, kind, n (seeds), paper, ``columns`` (the headline labels), ``keys``
    (headline metric key -> its label), and per headline label a cell: ``value``,
    ``spread`` (std over seeds, or None) and ``ci`` (the interval of a single run, or
    None). Read a metric's cell by its key with :func:`cell_of`.
    """
    headline = headline_of(results)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    order: list[str] = []
    for row in results["rows"]:
        name = row["label"] if row["kind"] != "method" else _method_label(row)
        if name not in groups:
            groups[name] = []
            order.append(name)
        groups[name].append(row)
    lines = []
    for name in order:
        rows = groups[name]
        line: dict[str, Any] = {
            "label": name,
            "kind": rows[0]["kind"],
            "n": len(rows),
            "paper": rows[0].get("paper"),
            "method": rows[0].get("method"),
            "config": rows[0].get("config") or {},
        }
        line["columns"] = [label for label, _ in headline]
        line["keys"] = {key: label for label, key in headline}
        for label, key in headline:
            vals = [_f(r["metrics"].get(key)) for r in rows]
            line[label] = _cell(vals, rows[0]["ci"].get(key) if len(rows) == 1 else None)
        times = []
        for r in rows:
            e = r.get("efficiency") or {}
            times.append(100 * _f(e.get("time_fraction_of_retraining")))
        line[TIME_COLUMN] = _cell(times, None) if rows[0]["kind"] == "method" else None
        lines.append(line)
    return lines


def _method_label(row: Mapping[str, Any]) -> str:
    label = str(row["label"])
    return label.split(" (seed ")[0]


def _cell(vals: list[float], ci: Any) -> dict[str, Any]:
    present = [v for v in vals if not math.isnan(v)]
    value = statistics.fmean(present) if present else math.nan
    spread = statistics.stdev(present) if len(present) > 1 else None
    interval = [_f(x) for x in ci] if ci else None
    return {"value": value, "spread": spread, "ci": interval}


def format_cell(cell: Mapping[str, Any] | None, digits: int = 3, intervals: bool = True) -> str:
    """A cell as text: the value, then ``± sd`` (several seeds) or ``[low, high]`` (one run's
    interval; only with ``intervals``)."""
    if cell is None:
        return "-"
    v = cell["value"]
    if math.isnan(v):
        return "n/a"
    tiny = abs(v) < 1e-3 and v != 0  # p-values: significant digits, not decimals
    text = f"{v:.{digits}g}" if tiny else f"{v:.{digits}f}"
    if cell.get("spread") is not None:
        sd = cell["spread"]
        if not intervals:
            text += f"±{sd:.2g}"
        else:
            text += f" ± {sd:.2g}" if tiny else f" ± {sd:.{digits}f}"
    elif cell.get("ci") and intervals:
        lo, hi = cell["ci"]
        text += f" [{lo:.2g}, {hi:.2g}]"
    return text


def _caption(intervals: bool) -> str:
    if intervals:
        return "one seed: \\[bootstrap interval]; several seeds: mean ± sd"
    return "several seeds: mean ±sd; intervals: unlearnkit report RUN_DIR (or a wider terminal)"


def leaderboard_table(results: Mapping[str, Any], intervals: bool = True) -> Table:
    """A rich table of :func:`leaderboard` (what ``unlearnkit run`` prints at the end);
    ``intervals=False`` leaves the bootstrap intervals out (narrow terminals)."""
    spec = results["spec"]
    request = spec.get("forget", spec.get("kind", ""))
    title = f"Leaderboard: {spec['name']} ({request}; seeds {spec['seeds']})"
    table = Table(title=title, caption=_caption(intervals))
    table.add_column("model", no_wrap=True)
    labels = [label for label, _ in headline_of(results)]
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("time (% of retraining)", justify="right")
    for line in leaderboard(results):
        style = "dim" if line["kind"] != "method" else None
        table.add_row(
            line["label"],
            *(format_cell(line[label], intervals=intervals) for label in labels),
            format_cell(line[TIME_COLUMN], 2, intervals),
            style=style,
        )
    return table


def sweep_table(sweep: Any) -> Table:
    """A rich table of a forget-size sweep (:class:`~unlearnkit.runner.scalability.SweepResult`):
    one line per model, one column per size with its forget quality, model utility and
    time (% of that size's oracle training)."""
    table = Table(
        title=f"Forget-size sweep: {sweep.name}",
        caption="FQ: forget quality against each size's own oracle; MU: model utility; "
        "t: time as % of retraining",
    )
    table.add_column("model", no_wrap=True)
    for size in sweep.sizes:
        table.add_column(f"{size} ({sweep.people[size]} people)", justify="right")
    for label in sweep.labels():
        cells = []
        for size in sweep.sizes:
            line = next((x for x in sweep.lines[size] if x["label"] == label), None)
            if line is None:
                cells.append("-")
                continue
            text = (
                f"FQ {format_cell(cell_of(line, FORGET_QUALITY), intervals=False)}\n"
                f"MU {format_cell(cell_of(line, MODEL_UTILITY), intervals=False)}"
            )
            if line.get(TIME_COLUMN) is not None:
                text += f"\nt {format_cell(line[TIME_COLUMN], 2, intervals=False)}%"
            cells.append(text)
        kind = next(x["kind"] for s in sweep.sizes for x in sweep.lines[s] if x["label"] == label)
        table.add_row(label, *cells, style="dim" if kind != "method" else None)
    return table


def paper_url(paper: str | None) -> str | None:
    """The arXiv page of the first ``arXiv:ID`` a method's paper note cites (or None)."""
    match = re.search(r"arXiv:(\d{4}\.\d{4,5})", paper or "")
    return f"https://arxiv.org/abs/{match.group(1)}" if match else None


def _columns(lines: Sequence[Mapping[str, Any]]) -> list[str]:
    return [*columns_of(lines), TIME_COLUMN]


def to_csv(lines: Sequence[Mapping[str, Any]]) -> str:
    """The leaderboard as CSV: per headline column its value, spread (sd over seeds) and
    interval bounds; empty cells where a value does not apply."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["model", "kind", "seeds"]
    for col in _columns(lines):
        header += [col, f"{col} sd", f"{col} ci low", f"{col} ci high"]
    writer.writerow([*header, "paper"])
    for line in lines:
        row: list[Any] = [line["label"], line["kind"], line["n"]]
        for col in _columns(lines):
            cell = line.get(col)
            if cell is None:
                row += ["", "", "", ""]
                continue
            ci = cell.get("ci") or ["", ""]
            spread = cell.get("spread")
            row += [_num(cell["value"]), "" if spread is None else _num(spread), *map(_num, ci)]
        writer.writerow([*row, paper_url(line.get("paper")) or ""])
    return buf.getvalue()


def _num(v: Any) -> str:
    if v == "" or v is None:
        return ""
    v = float(v)
    return "nan" if math.isnan(v) else repr(v)


def to_markdown(lines: Sequence[Mapping[str, Any]]) -> str:
    """The leaderboard as a Markdown table (methods link to their papers)."""
    cols = _columns(lines)
    out = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for line in lines:
        url = paper_url(line.get("paper"))
        name = f"[{line['label']}]({url})" if url else line["label"]
        cells = [format_cell(line.get(c), 2 if c == TIME_COLUMN else 3) for c in cols]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def compare_runs(runs_dir: str | Path, name: str | None = None) -> list[dict[str, Any]]:
    """The leaderboard lines of every run listed in ``RUNS/index.json`` (optionally only
    the runs of experiment ``name``), each line tagged with its run's name, id and date.
    Runs whose directory has gone are left out; a damaged index raises
    :class:`RunsIndexError` naming it."""
    index_path = Path(runs_dir) / INDEX_FILE
    if not index_path.is_file():
        raise UnlearnkitError(
            f"no runs index at {str(index_path)!r}: run `unlearnkit run` first, or pass --runs"
        )
    out = []
    for entry in sorted(read_runs_index(runs_dir), key=lambda e: str(e.get("updated", ""))):
        if name is not None and entry["name"] != name:
            continue
        if not (Path(entry["run_dir"]) / "results.json").is_file():
            continue
        results = load_results(entry["run_dir"])
        for line in leaderboard(results):
            out.append({**line, "run": entry["name"], "run_id": entry["id"], **_spec_tag(results)})
    return out


def _spec_tag(results: Mapping[str, Any]) -> dict[str, Any]:
    spec = results["spec"]
    return {"updated": results.get("created", ""), "seeds": spec.get("seeds")}


def comparison_table(lines: Sequence[Mapping[str, Any]], intervals: bool = True) -> Table:
    """A rich table of :func:`compare_runs`: one line per run × model. Runs of different
    families or requests bring their own headline columns (the union is shown; a run's
    missing column reads "-")."""
    table = Table(title="Runs compared", caption=_caption(intervals))
    table.add_column("run", no_wrap=True)
    table.add_column("model")
    labels = list(dict.fromkeys(c for line in lines for c in line.get("columns", ())))
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("time (% of retraining)", justify="right")
    for line in lines:
        table.add_row(
            f"{line['run']}/{line['run_id']}",
            line["label"],
            *(format_cell(line.get(label), intervals=intervals) for label in labels),
            format_cell(line[TIME_COLUMN], 2, intervals),
            style="dim" if line["kind"] != "method" else None,
        )
    return table
