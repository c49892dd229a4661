"""A terminal table of one evaluation report (``unlearnkit eval`` prints it)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from unlearnkit.evaluation.api import EvalReport


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "nan"
    return f"{v:.3g}" if abs(v) >= 100 or (v != 0 and abs(v) < 1e-3) else f"{v:.4f}"


def report_table(report: EvalReport) -> Table:
    """One row per result: suite, key, aggregate, 95% interval, n, and what it ran on."""
    table = Table(title=f"Evaluation of {report.model.get('source', 'the model')}")
    for col in ("suite", "result", "value", "95% CI", "n", "better"):
        table.add_column(col, justify="right" if col in ("value", "95% CI", "n") else "left")
    for suite, results in report.results.items():
        for key, r in results.items():
            ci = f"[{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]" if r.ci else "-"
            table.add_row(
                suite,
                key,
                _fmt(r.aggregate),
                ci,
                str(len(r) - r.n_missing),
                "higher" if r.higher_is_better else "lower",
            )
    return table


def print_report(report: EvalReport, console: Console | None = None) -> None:
    """Print the results table, what was skipped and why, the cost and the passes made."""
    console = console or Console()
    console.print(report_table(report))
    for suite, skipped in report.skipped.items():
        for key, why in skipped.items():
            console.print(f"[yellow]skipped[/] {suite}/{key}: {why}")
    if report.efficiency:
        e = report.efficiency
        frac = e.get("time_fraction_of_retraining")
        tail = (
            f" = {frac:.3f} of retraining ({e['oracle_wall_time_s']:.1f}s)"
            if isinstance(frac, float) and not math.isnan(frac)
            else ""
        )
        peak = e.get("peak_memory_mb")
        known = isinstance(peak, float | int)
        peak_text = f"{peak:.0f} MB peak" if known else "peak memory unknown"
        console.print(
            f"unlearning cost: {e['wall_time_s']:.1f}s{tail}, {e['steps']} steps, "
            f"{peak_text}, {e['fraction_changed']:.1%} of parameters changed"
        )
        if not tail and e.get("time_fraction_note"):
            console.print(f"[yellow]retraining fraction unknown[/]: {e['time_fraction_note']}")
    for who, c in report.passes.items():
        console.print(
            f"{who}: {c['forward_calls']} forward calls, {c['scored']} sequences scored, "
            f"{c['generated']} generated, {c['grad_calls']} gradient passes"
        )
    console.print(f"evaluation wall time: {report.wall_time_s:.1f}s")
