"""Forget-set size sweep on the demo world (issue 6, MUSE scalability).

The demo experiment (its six methods) once per forget request: forget01, forget05,
forget10 and forget25 (2, 10, 20 and 50 of the 200 trained people), each judged against
its own exact oracle. Prints the table (forget quality, model utility, time as % of
retraining per method and size) and writes benchmarks/results/scalability_demo.json.

    python benchmarks/scalability_demo.py [--sizes forget01,forget25] [--methods npo,rmu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console

from unlearnkit.core.cache import Cache
from unlearnkit.report.tables import HEADLINE, TIME_COLUMN, sweep_table
from unlearnkit.runner.scalability import FORGET_SIZES, forget_size_sweep
from unlearnkit.runner.spec import load_spec

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(FORGET_SIZES))
    parser.add_argument("--methods", default=None, help="comma-separated (default: the demo's)")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scalability_demo.json")
    args = parser.parse_args()
    spec = load_spec(None)
    if args.methods:
        wanted = args.methods.split(",")
        spec = spec.replace(methods=tuple(m for m in spec.methods if m.name in wanted))
    t0 = time.perf_counter()
    sweep = forget_size_sweep(spec, args.sizes.split(","), cache=Cache(), runs_dir=args.runs)
    wall = time.perf_counter() - t0
    Console(width=200).print(sweep_table(sweep))
    columns = [label for label, _ in HEADLINE] + [TIME_COLUMN]
    table = {
        label: {size: {c: sweep.value(size, label, c) for c in columns} for size in sweep.sizes}
        for label in sweep.labels()
    }
    out = {"wall_time_s": wall, "people": sweep.people, "runs": sweep.runs, "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"sweep: {wall:.1f}s; wrote {args.out}")


if __name__ == "__main__":
    main()
