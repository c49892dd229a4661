"""The leaderboard: one line per model (target, oracle, each method), the headline metrics.

Methods run with several seeds get one line with the mean across seeds (and the standard
deviation next to it); a single run shows its 95% bootstrap interval instead. The target
and the oracle are the reference lines: a method should sit near the oracle.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from unlearnkit.runner.run import HEADLINE

TIME_COLUMN = "time (% of oracle training)"


def _f(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def leaderboard(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Lines of the leaderboard from a run's ``results.json`` dict.

    Each line: label, kind, n (seeds), paper, and per headline column ``value``, ``spread``
    (std over seeds, or None) and ``ci`` (the interval of a single run, or None).
    """
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
        for label, key in HEADLINE:
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


def _fmt(cell: Mapping[str, Any] | None, digits: int = 3) -> str:
    if cell is None:
        return "-"
    v = cell["value"]
    if math.isnan(v):
        return "n/a"
    text = f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}"
    if cell.get("spread") is not None:
        text += f" ± {cell['spread']:.{digits}f}"
    elif cell.get("ci"):
        lo, hi = cell["ci"]
        text += f" [{lo:.2g}, {hi:.2g}]"
    return text


def leaderboard_table(results: Mapping[str, Any]) -> Table:
    """A rich table of :func:`leaderboard` (what ``unlearnkit run`` prints at the end)."""
    spec = results["spec"]
    title = f"Leaderboard: {spec['name']} ({spec['forget']}; seeds {spec['seeds']})"
    table = Table(title=title, caption="single runs: [95% bootstrap CI]; several seeds: ± sd")
    table.add_column("model")
    for label, _ in HEADLINE:
        table.add_column(label, justify="right")
    table.add_column("time (% of retraining)", justify="right")
    for line in leaderboard(results):
        style = "dim" if line["kind"] != "method" else None
        table.add_row(
            line["label"],
            *(_fmt(line[label]) for label, _ in HEADLINE),
            _fmt(line[TIME_COLUMN], 2),
            style=style,
        )
    return table
