"""Wall time and forward passes of the full tofu + muse + mia suites on the demo target.

Evaluates the demo target against the demo oracle twice: cold (the oracle's reference
values are computed and cached) and warm (they are read from the cache). Prints the wall
time, the forward calls and sequences each model needed, and the headline results; writes
them to benchmarks/results/eval_suites.json.

    .venv/bin/python benchmarks/eval_suites.py [--preset demo] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from unlearnkit.evaluation import evaluate
from unlearnkit.evaluation.report import print_report
from unlearnkit.runner.build import build, build_spec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "eval_suites.json"
    )
    args = ap.parse_args()
    built = build(build_spec(args.preset), progress=False, log=lambda m: None)
    runs = {}
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold", "warm"):
            report = evaluate(
                built.target_dir,
                built.world,
                oracle=built.oracle_dir,
                bootstrap=args.bootstrap,
                cache_dir=cache,
            )
            print(f"--- {label} oracle cache")
            print_report(report)
            runs[label] = {"wall_time_s": report.wall_time_s, "passes": report.passes}
    summary = {k: v if math.isfinite(v) else str(v) for k, v in report.summary().items()}
    result = {
        "preset": args.preset,
        "bootstrap": args.bootstrap,
        "records": {
            role: len(built.world.tofu[name])
            for role, name in (
                ("forget", f"{built.spec.forget}_perturbed"),
                ("retain", "retain_perturbed"),
                ("holdout", "holdout10"),
                ("world_facts", "world_facts_perturbed"),
                ("neighbours", "neighbours"),
            )
        },
        "runs": runs,
        "summary": summary,
        "versions": report.versions,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, allow_nan=False, default=str) + "\n")
    for label, r in runs.items():
        m = r["passes"]["model"]
        o = r["passes"].get("oracle", {})
        print(
            f"{label}: {r['wall_time_s']:.1f}s; target {m['forward_calls']} forward calls "
            f"({m['scored']} scored, {m['generated']} generated, {m['grad_calls']} gradient "
            f"passes); oracle {o.get('forward_calls', 0)} forward calls, "
            f"{o.get('grad_calls', 0)} gradient passes"
        )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
