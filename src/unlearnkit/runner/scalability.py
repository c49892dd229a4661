"""Scalability: the same experiment at several forget-set sizes (MUSE, arXiv:2407.06460).

A method that forgets 2 people cleanly may fall apart at 50, or cost far more. The sweep
runs one experiment per forget request of the embedded world (``forget01``, ``forget05``,
``forget10``, ``forget25``: 1, 5, 10 and 25% of the trained people), each judged against
its own exact oracle (the model retrained without that set), and gathers the leaderboards:
forget quality, model utility and the other headline figures, and the time as a share of
retraining, per method and size. Every run is an ordinary cached run, so the target is
trained once and a repeated sweep reuses everything.

It is an experiment over runs (it runs the runner and reads the report's leaderboards), so
it lives with the runner, not in the audit layer below it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import ConfigError, UnlearnkitError
from unlearnkit.core.io import atomic_write_json, strict_json
from unlearnkit.data.world.spec import FORGET_FRACTIONS
from unlearnkit.report.tables import leaderboard
from unlearnkit.runner.run import load_results, run_experiment

#: The sizes of the MUSE scalability test (every forget request of the world).
FORGET_SIZES: tuple[str, ...] = tuple(FORGET_FRACTIONS)
SWEEP_KIND = "unlearnkit.sweep"
SWEEP_VERSION = 1


@dataclass
class SweepResult:
    """One leaderboard per forget size. lines: size -> the leaderboard's lines (see
    :func:`unlearnkit.report.tables.leaderboard`); people: size -> forgotten people;
    runs: size -> the run directory."""

    name: str
    sizes: list[str]
    people: dict[str, int]
    runs: dict[str, str]
    lines: dict[str, list[dict[str, Any]]]
    wall_time_s: float
    path: Path | None = None

    def value(self, size: str, label: str, column: str) -> float | None:
        """The figure in ``column`` (a headline label) of model ``label`` at ``size``."""
        for line in self.lines[size]:
            if line["label"] == label:
                cell = line.get(column)
                return None if cell is None else float(cell["value"])
        return None

    def labels(self) -> list[str]:
        """Every model label, in leaderboard order."""
        seen: dict[str, None] = {}
        for size in self.sizes:
            for line in self.lines[size]:
                seen[line["label"]] = None
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": SWEEP_KIND,
            "version": SWEEP_VERSION,
            "name": self.name,
            "sizes": self.sizes,
            "people": self.people,
            "runs": self.runs,
            "wall_time_s": self.wall_time_s,
            "lines": self.lines,
        }


def forget_size_sweep(
    spec: Any,
    sizes: Sequence[str] = FORGET_SIZES,
    *,
    cache: Cache | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    log: Callable[[str], None] = print,
    workers: int | None = None,
) -> SweepResult:
    """Run ``spec`` (an :class:`~unlearnkit.runner.spec.ExperimentSpec` of the embedded
    benchmark) once per forget request in ``sizes`` and return the leaderboards; also
    written to ``RUNS/<name>-sweep/sweep.json``."""
    if not spec.embedded:
        raise UnlearnkitError(
            "the forget-size sweep needs one exact oracle per size, which the embedded "
            "benchmark trains; for a real model, run each size with its own oracle= and data="
        )
    sizes = list(dict.fromkeys(sizes))
    unknown = [s for s in sizes if s not in FORGET_FRACTIONS]
    if unknown or not sizes:
        raise ConfigError(
            "forget_size_sweep", "sizes", list(sizes), f"forget requests among {FORGET_SIZES}"
        )
    t0 = time.perf_counter()
    cache = cache or Cache()
    counts = spec.build.world.forget_sizes
    runs: dict[str, str] = {}
    lines: dict[str, list[dict[str, Any]]] = {}
    for k, size in enumerate(sizes, 1):
        log(f"forget size {k}/{len(sizes)}: {size} ({counts[size]} people)")
        audit = spec.audit.replace(forget=size) if spec.audit is not None else None
        one = spec.replace(
            name=f"{spec.name}-{size}",
            forget=size,
            build=spec.build.replace(forget=size),
            audit=audit,
        )
        result = run_experiment(
            one, cache=cache, runs_dir=runs_dir, progress=progress, log=log, workers=workers
        )
        runs[size] = str(result.run_dir)
        lines[size] = leaderboard(load_results(result.run_dir))
    sweep = SweepResult(
        name=spec.name,
        sizes=sizes,
        people={s: counts[s] for s in sizes},
        runs=runs,
        lines=lines,
        wall_time_s=time.perf_counter() - t0,
    )
    path = Path(runs_dir) / f"{spec.name}-sweep" / "sweep.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, strict_json(sweep.to_dict()))
    sweep.path = path
    return sweep


__all__ = ["FORGET_SIZES", "SweepResult", "forget_size_sweep"]
