"""Reporting a run: the leaderboard and comparison tables (terminal, CSV, Markdown), the
plots (PNG) and a self-contained HTML page (:func:`write_report`)."""

from unlearnkit.report.html import write_report
from unlearnkit.report.tables import compare_runs, leaderboard, leaderboard_table

__all__ = ["compare_runs", "leaderboard", "leaderboard_table", "write_report"]
