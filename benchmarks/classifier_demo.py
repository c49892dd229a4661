"""The classifier demo end to end (issue 8): the identity world's target and exact oracle,
every classifier method with its defaults, every metric (accuracies, the MIAs incl. LiRA
with shadow models, NoMUS, representation against the oracle), the NeurIPS 2023 challenge's
ε-score with N unlearned and N retrained models, and the audit (quantization, noise,
relearning). Prints the table and writes benchmarks/results/classifier_demo.json with the
times, including what the ε-score's N retrained models and the shadows cost.

    python benchmarks/classifier_demo.py [-s challenge_n=16] [-s model=resnet]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from unlearnkit.core.cache import Cache
from unlearnkit.runner.families.classifier import Classifiers
from unlearnkit.runner.run import run_experiment

HERE = Path(__file__).resolve().parent
COLUMNS = (
    ("forget", "acc/forget"),
    ("retain", "acc/retain"),
    ("test", "acc/test"),
    ("unseen", "acc/unseen"),
    ("MIA-LR", "mia/logistic"),
    ("loss-thr", "mia/loss_threshold"),
    ("LiRA", "mia/lira"),
    ("SVC-eff", "mia/svc_efficacy"),
    ("NoMUS", "nomus"),
    ("eps-F", "challenge/F"),
    ("score", "challenge/score"),
    ("kNN", "repr/knn_test"),
    ("id-probe", "repr/identity_probe"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--set", dest="overrides", action="append", default=[])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "classifier_demo.json")
    args = parser.parse_args()
    overrides = ["audit={}", *args.overrides]
    spec = Classifiers.load_spec(None, overrides)
    logs: list[tuple[float, str]] = []
    t0 = time.perf_counter()

    def log(message: str) -> None:
        logs.append((round(time.perf_counter() - t0, 1), message))
        print(f"[{logs[-1][0]:7.1f}s] {message}")

    result = run_experiment(spec, cache=Cache(), runs_dir=args.runs, log=log)
    wall = time.perf_counter() - t0

    def f(v: float) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    print(
        f"{'model':<14}"
        + "".join(f"{c:>9}" for c, _ in COLUMNS)
        + f"{'time %':>8}{'relearn16':>10}{'int4':>7}"
    )
    table = {}
    for row in result.rows:
        m = row.metrics
        eff = row.efficiency or {}
        pct = (
            100 * eff["time_fraction_of_retraining"]
            if "time_fraction_of_retraining" in eff
            else math.nan
        )
        audit = row.audit or {}
        cells = {c: m.get(k, math.nan) for c, k in COLUMNS}
        table[row.label] = {
            **cells,
            "time %": pct,
            "wall_time_s": eff.get("wall_time_s"),
            "audit": audit,
        }
        print(
            f"{row.label:<14}"
            + "".join(f"{f(cells[c]):>9}" for c, _ in COLUMNS)
            + f"{f(pct):>8}{f(audit.get('relearn@16', math.nan)):>10}"
            + f"{f(audit.get('int4', math.nan)):>7}"
        )
    out = {
        "spec": spec.to_dict(),
        "wall_time_s": wall,
        "seconds": result.seconds,
        "log": logs,
        "table": table,
        "run_dir": str(result.run_dir),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"{wall:.1f}s; wrote {args.out}")


if __name__ == "__main__":
    main()
