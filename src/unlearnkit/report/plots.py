"""The plots of a run report (matplotlib, drawn off-screen).

Each function returns a :class:`matplotlib.figure.Figure` (or None when the run has no
data for it); :func:`png` renders one to PNG bytes. The inputs are the leaderboard lines
(:func:`unlearnkit.report.tables.leaderboard`), the run's presentation
(:func:`unlearnkit.report.tables.presentation_of`: which metric keys a frontier plots,
which bars are log-scaled, the sequence panels) and, for the curves, the reports the rows
point to. :func:`draw` draws one figure by the name a presentation lists in ``plots``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.report.tables import FORGET_QUALITY, MODEL_UTILITY, TIME_COLUMN, cell_of

TARGET_STYLE = {"marker": "X", "color": "black", "s": 90}
ORACLE_STYLE = {"marker": "*", "color": "tab:green", "s": 160}

#: the attacks drawn as ROC curves (report key in the ``mia`` suite -> title)
ROC_ATTACKS: tuple[tuple[str, str], ...] = (
    ("mia_loss", "LOSS"),
    ("mia_zlib", "zlib"),
    ("mia_min_k", "Min-K%"),
    ("mia_min_k_pp", "Min-K%++"),
    # classifier runs (forget images against unseen people)
    ("loss_threshold", "loss"),
    ("m_entropy", "modified entropy"),
    ("lira", "LiRA (shadow models)"),
    # recommender runs (removed interactions against never-trained ones)
    ("interaction_mia", "interaction score"),
)


def png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (and the figure closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _value(cell: Mapping[str, Any] | None) -> float:
    return math.nan if cell is None else float(cell["value"])


def _colors(lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    # tab10 without its green (the oracle's) and grey; tab20's light shades after that
    palette = [plt.get_cmap("tab10")(i) for i in (0, 1, 3, 4, 5, 6, 8, 9)]
    palette += [plt.get_cmap("tab20")(i) for i in range(1, 20, 2) if i not in (5, 15)]
    methods = [ln["label"] for ln in lines if ln["kind"] == "method"]
    colors: dict[str, Any] = {m: palette[i % len(palette)] for i, m in enumerate(methods)}
    colors.update(target="black", oracle="tab:green")
    for ln in lines:
        if ln["kind"] != "method":
            colors[ln["label"]] = "black" if ln["kind"] == "target" else "tab:green"
    return colors


def fq_vs_mu(lines: Sequence[Mapping[str, Any]]) -> Figure | None:
    """Forget quality (log scale; higher = closer to the oracle) against model utility,
    found by their TOFU metric keys. None when the headline has no forget quality."""
    if not any(cell_of(ln, FORGET_QUALITY) is not None for ln in lines):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = _colors(lines)
    floor = 1e-300
    for ln in lines:
        mu_cell = cell_of(ln, MODEL_UTILITY)
        fq, mu = _value(cell_of(ln, FORGET_QUALITY)), _value(mu_cell)
        if math.isnan(fq) or math.isnan(mu):
            continue
        style = {"target": TARGET_STYLE, "oracle": ORACLE_STYLE}.get(
            ln["kind"], {"marker": "o", "color": colors[ln["label"]], "s": 60}
        )
        ax.scatter([mu], [max(fq, floor)], label=ln["label"], zorder=3, **style)
        spread = mu_cell.get("spread") if mu_cell else None
        if spread:
            ax.errorbar([mu], [max(fq, floor)], xerr=[spread], color=style["color"], alpha=0.6)
    ax.set_yscale("log")
    ax.set_xlabel("model utility (higher is better)")
    ax.set_ylabel("forget quality (KS p-value vs the oracle; log)")
    ax.axhline(0.05, color="grey", lw=0.8, ls="--")
    ax.text(ax.get_xlim()[0], 0.05, " p = 0.05", va="bottom", fontsize=8, color="grey")
    ax.set_title("Forget quality vs model utility (the oracle is the goal)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def metric_bars(
    lines: Sequence[Mapping[str, Any]], log_metrics: Collection[str] = ()
) -> Figure | None:
    """One panel per headline metric: a bar per model, with its confidence interval (single
    runs) or ± one standard deviation over seeds; the metrics whose keys are in
    ``log_metrics`` (p-values) on a symmetric log scale. None without headline metrics."""
    headline = list(lines[0]["keys"].items()) if lines else []  # (key, label), in order
    if not headline:
        return None
    n = len(headline)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.8), squeeze=False)
    colors = _colors(lines)
    labels = [ln["label"] for ln in lines]
    for ax, (key, label) in zip(axes[0], headline, strict=True):
        values, lows, highs = [], [], []
        for ln in lines:
            cell = cell_of(ln, key) or {"value": math.nan}
            v = float(cell["value"])
            if cell.get("spread") is not None:
                lo, hi = v - cell["spread"], v + cell["spread"]
            elif cell.get("ci"):
                lo, hi = cell["ci"]
            else:
                lo = hi = v
            values.append(v)
            lows.append(0.0 if math.isnan(v) else max(v - lo, 0.0))
            highs.append(0.0 if math.isnan(v) else max(hi - v, 0.0))
        shown = [0.0 if math.isnan(v) else v for v in values]
        ax.bar(
            range(len(lines)),
            shown,
            yerr=[lows, highs],
            color=[colors[lb] for lb in labels],
            capsize=3,
        )
        for i, v in enumerate(values):
            if math.isnan(v):
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7)
        if key in log_metrics:
            ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(len(lines)), labels, rotation=60, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def roc_points(values: Sequence[float], ids: Sequence[str]) -> tuple[list[float], list[float]]:
    """(false-positive rates, true-positive rates) of an attack's per-example scores, with
    ``member:`` ids the positives and ``nonmember:`` ids the negatives (higher score = more
    member-like). Ties move both rates at once; NaN scores are left out."""
    pairs = [
        (float(v), i.startswith("member:"))
        for v, i in zip(values, ids, strict=True)
        if not math.isnan(float(v))
    ]
    n_pos = sum(p for _, p in pairs)
    n_neg = len(pairs) - n_pos
    if not n_pos or not n_neg:
        return [0.0, 1.0], [0.0, 1.0]
    pairs.sort(key=lambda t: -t[0])
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0
    for k, (score, positive) in enumerate(pairs):
        tp += positive
        fp += not positive
        if k + 1 == len(pairs) or pairs[k + 1][0] != score:
            fpr.append(fp / n_neg)
            tpr.append(tp / n_pos)
    return fpr, tpr


def mia_roc(
    results: Mapping[str, Any], run_dir: str | Path, lines: Sequence[Mapping[str, Any]]
) -> Figure | None:
    """ROC curves of the membership attacks (forget = members, holdout = non-members), one
    panel per attack, one curve per model (the first seed of a method). None when the run
    has no ``mia`` suite."""
    colors = _colors(lines)
    curves: dict[str, list[tuple[str, str, list[float], list[float], Any]]] = {}
    seen: set[str] = set()
    for row in results["rows"]:
        name = row["label"].split(" (seed ")[0]
        if name in seen:
            continue
        seen.add(name)
        report = _load_report(Path(run_dir) / row["report"])
        mia = (report.get("results") or {}).get("mia") or {}
        for key, _ in ROC_ATTACKS:
            res = mia.get(key)
            if not res or not res.get("ids"):
                continue
            fpr, tpr = roc_points([float(v) for v in res["values"]], res["ids"])
            curves.setdefault(key, []).append((row["kind"], name, fpr, tpr, res["aggregate"]))
    if not curves:
        return None
    panels = [(k, t) for k, t in ROC_ATTACKS if k in curves]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for kind, name, fpr, tpr, _ in curves[key]:
            style = {"oracle": {"lw": 2.4, "ls": "--"}, "target": {"lw": 2.0, "ls": ":"}}
            # the area under the drawn curve (an attack's aggregate may be another figure,
            # e.g. a classifier attack's best threshold accuracy)
            area = float(np.trapezoid(tpr, fpr))
            ax.plot(
                fpr,
                tpr,
                color=colors.get(name, "grey"),
                label=f"{name} ({area:.2f})",
                **style.get(kind, {"lw": 1.3}),
            )
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.set_title(f"{title} attack: ROC", fontsize=10)
        ax.set_xlabel("false-positive rate (non-members)")
        ax.set_ylabel("true-positive rate (members: forget)")
        ax.set_aspect("equal")
        ax.legend(fontsize=6, loc="lower right", title="model (AUC)", title_fontsize=6)
    fig.tight_layout()
    return fig


#: the audit's recovery curves (key in the audit report -> panel title)
AUDIT_CURVES: tuple[tuple[str, str], ...] = (
    ("relearn_forget", "relearning on half the forget set"),
    ("relearn_related", "relearning on related people"),
    ("lora_recovery", "LoRA recovery"),
)


def audit_curves(
    results: Mapping[str, Any], run_dir: str | Path, lines: Sequence[Mapping[str, Any]]
) -> Figure | None:
    """The audit's recovery curves: forget-set knowledge (of the records not relearned)
    against fine-tuning steps, one panel per attack, one curve per audited model (the first
    seed of a method). None when the run was not audited."""
    colors = _colors(lines)
    curves: dict[str, list[tuple[str, str, list[float], list[float]]]] = {}
    seen: set[str] = set()
    for row in results["rows"]:
        name = row["label"].split(" (seed ")[0]
        if name in seen or not row.get("audit_report"):
            continue
        seen.add(name)
        report = _load_report(Path(run_dir) / row["audit_report"])
        for key, _ in AUDIT_CURVES:
            curve = report.get(key)
            if curve and curve.get("steps"):
                values = [float(v) for v in curve["values"]]
                curves.setdefault(key, []).append((row["kind"], name, curve["steps"], values))
    if not curves:
        return None
    panels = [(k, t) for k, t in AUDIT_CURVES if k in curves]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for kind, name, steps, values in curves[key]:
            style = {"oracle": {"lw": 2.4, "ls": "--"}, "target": {"lw": 2.0, "ls": ":"}}
            ax.plot(
                steps,
                values,
                marker="o",
                ms=3,
                color=colors.get(name, "grey"),
                label=name,
                **style.get(kind, {"lw": 1.3}),
            )
        ax.set_xscale("symlog", linthresh=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("fine-tuning steps")
        ax.set_ylabel("forget knowledge")
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def sequence_curves(
    results: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    panels: Sequence[Sequence[str]],
    log_metrics: Collection[str] = (),
) -> Figure | None:
    """Each method applied as successive forget requests: one panel per (history key,
    title) in ``panels`` (what is known of the part requested so far, of the parts still
    pending, the utility...), its value after each request; one curve per method (its
    first seed). A panel whose history key names a log-scaled metric (the last part of a
    key in ``log_metrics``: ``forget_quality`` of ``tofu/forget/forget_quality``) is drawn
    on a log scale, the others as fractions. None when the run has no sequences."""
    colors = _colors(lines)
    seen: set[str] = set()
    curves: list[tuple[str, list[Mapping[str, Any]]]] = []
    for row in results["rows"]:
        name = row["label"].split(" (seed ")[0]
        if name not in seen and row.get("sequence"):
            seen.add(name)
            curves.append((name, row["sequence"]))
    if not curves:
        return None
    shown = [(k, t) for k, t in panels if any(k in h[0] for _, h in curves)]
    if not shown:
        return None
    logged = {m.rsplit("/", 1)[-1] for m in log_metrics}
    fig, axes = plt.subplots(1, len(shown), figsize=(3.5 * len(shown), 3.3), squeeze=False)
    for ax, (key, title) in zip(axes[0], shown, strict=True):
        for name, history in curves:
            xs = [h["request"] for h in history]
            ys = [float(h.get(key, math.nan)) for h in history]
            ax.plot(xs, ys, marker="o", ms=3, lw=1.3, color=colors.get(name, "grey"), label=name)
        if key in logged:
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(sorted({h["request"] for _, hs in curves for h in hs}))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("request")
    axes[0][0].legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def _load_report(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text()) if path.is_file() else {}


def frontier(lines: Sequence[Mapping[str, Any]], spec: Mapping[str, Any]) -> Figure | None:
    """How forgotten the request is against utility, one point per model: the metric keys
    ``spec["forget"]`` (y) and ``spec["utility"]`` (x), with the spec's axis texts and title
    (a presentation's ``frontier``; ``log``: the forget axis on a log scale). The oracle's
    forget level is the goal (not 0: it still generalises to what it never saw); the target
    is where methods start. None when no model has both metrics."""
    forget, utility = spec["forget"], spec["utility"]
    points = [(ln, _value(cell_of(ln, forget)), _value(cell_of(ln, utility))) for ln in lines]
    points = [(ln, f, u) for ln, f, u in points if not (math.isnan(f) or math.isnan(u))]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = _colors(lines)
    for ln, f, u in points:
        style = {"target": TARGET_STYLE, "oracle": ORACLE_STYLE}.get(
            ln["kind"], {"marker": "o", "color": colors[ln["label"]], "s": 60}
        )
        ax.scatter([u], [f], label=ln["label"], zorder=3, **style)
        if ln["kind"] == "oracle":
            ax.axhline(f, color="tab:green", lw=0.8, ls="--")
    if spec.get("log"):
        ax.set_yscale("log")
    ax.set_xlabel(spec.get("utility_axis", utility))
    ax.set_ylabel(spec.get("forget_axis", forget))
    ax.set_title(spec.get("title", "Forgetting vs utility"))
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def cost_vs_retraining(
    lines: Sequence[Mapping[str, Any]], oracle_cost: Mapping[str, Any] | None
) -> Figure | None:
    """Unlearning wall time per method as a percentage of the oracle's (re)training time
    (100% = retraining would have cost as much). None without the oracle's training cost."""
    methods = [ln for ln in lines if ln["kind"] == "method" and ln.get(TIME_COLUMN)]
    methods = [ln for ln in methods if not math.isnan(_value(ln[TIME_COLUMN]))]
    if not methods:
        return None
    colors = _colors(lines)
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(methods) + 1.6))
    names = [ln["label"] for ln in methods]
    values = [_value(ln[TIME_COLUMN]) for ln in methods]
    spreads = [(ln[TIME_COLUMN].get("spread") or 0.0) for ln in methods]
    xerr = spreads if any(spreads) else None
    ax.barh(names, values, xerr=xerr, color=[colors[n] for n in names], capsize=3)
    ax.axvline(100, color="tab:green", ls="--", lw=1)
    seconds = (oracle_cost or {}).get("wall_time_s")
    ref = f"retraining ({seconds:.0f} s)" if seconds else "retraining"
    ax.text(100, -0.6, " " + ref, color="tab:green", fontsize=8, va="center")
    ax.set_xscale("log")
    ax.set_xlabel("unlearning time, % of retraining the oracle (log)")
    ax.set_title("Cost vs retraining")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


#: one figure of a run: (results, run directory, leaderboard lines, presentation) -> it
Drawer = Callable[
    [Mapping[str, Any], Path, Sequence[Mapping[str, Any]], Mapping[str, Any]], Figure | None
]

#: the figures a presentation's ``plots`` may name, each with how it is drawn
DRAWERS: dict[str, Drawer] = {
    "fq_vs_mu": lambda results, run_dir, lines, shown: fq_vs_mu(lines),
    "frontier": lambda results, run_dir, lines, shown: (
        frontier(lines, shown["frontier"]) if shown["frontier"] else None
    ),
    "metrics": lambda results, run_dir, lines, shown: metric_bars(lines, shown["log_metrics"]),
    "mia_roc": lambda results, run_dir, lines, shown: mia_roc(results, run_dir, lines),
    "cost": lambda results, run_dir, lines, shown: cost_vs_retraining(
        lines, results.get("oracle_cost")
    ),
    "audit_curves": lambda results, run_dir, lines, shown: audit_curves(results, run_dir, lines),
    "sequence": lambda results, run_dir, lines, shown: sequence_curves(
        results, lines, shown["sequence_panels"], shown["log_metrics"]
    ),
}


def draw(
    name: str,
    results: Mapping[str, Any],
    run_dir: str | Path,
    lines: Sequence[Mapping[str, Any]],
    presentation: Mapping[str, Any],
) -> Figure | None:
    """The figure ``name`` (one of :data:`DRAWERS`) of a run, or None when the run has no
    data for it. ``presentation`` is :func:`~unlearnkit.report.tables.presentation_of` of
    ``results``."""
    drawer = DRAWERS.get(name)
    if drawer is None:
        raise UnlearnkitError(
            f"the run's results.json asks for the figure {name!r}, which the report cannot "
            f"draw (it draws {', '.join(DRAWERS)}): update unlearnkit to the version that "
            "wrote the run, or correct presentation.plots in results.json"
        )
    return drawer(results, Path(run_dir), lines, presentation)


__all__ = [
    "DRAWERS",
    "ROC_ATTACKS",
    "audit_curves",
    "cost_vs_retraining",
    "draw",
    "fq_vs_mu",
    "frontier",
    "metric_bars",
    "mia_roc",
    "png",
    "roc_points",
    "sequence_curves",
]
