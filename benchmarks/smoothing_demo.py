"""Do the smoothness defences (Unlearn-Smooth, arXiv:2502.05374) resist relearning on the
demo world? (issue 7)

NPO and RMU with their demo defaults, plain and with each defence on the forget objective
(sam, random, grad_penalty, curvature, weight_avg), run through `unlearnkit run` (cached)
with a relearning-only audit: 1, 4, 16 and 64 AdamW steps on half of the forget set,
knowledge (value accuracy) of the other half; and 64 steps on related people (neighbours).
Prints forget quality, model utility, forget value accuracy before and after relearning,
and the time as a share of retraining; writes benchmarks/results/smoothing_demo.json.

    python benchmarks/smoothing_demo.py [--methods npo,rmu] [--rho 0.01]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from unlearnkit.audit.api import AuditConfig
from unlearnkit.core.cache import Cache
from unlearnkit.report.tables import TIME_COLUMN, leaderboard
from unlearnkit.runner.run import load_results, run_experiment
from unlearnkit.runner.spec import MethodSpec, load_spec

HERE = Path(__file__).resolve().parent
DEFENCES = ("none", "sam", "random", "grad_penalty", "curvature", "weight_avg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="npo,rmu")
    parser.add_argument("--defences", default=",".join(DEFENCES))
    parser.add_argument("--rho", type=float, default=0.01)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "smoothing_demo.json")
    args = parser.parse_args()
    demo = load_spec(None)
    base = {m.name: m for m in demo.methods}
    methods = []
    for name in args.methods.split(","):
        for d in args.defences.split(","):
            config = dict(base[name].config)
            label = f"{name}+{d}"
            if d != "none":
                config.update(smoothing=d, smooth_rho=args.rho, smooth_weight=args.weight)
                label += f"(rho={args.rho:g})" if d in ("sam", "random") else ""
            methods.append(MethodSpec(name, config=config, label=label))
    audit = AuditConfig(
        bits=(), noise=(), lora_steps=(), forms=(), probe=False, traces=False, requests=0
    )
    spec = demo.replace(name="smoothing", methods=tuple(methods), audit=audit)
    # several calls (another rho, other defences) add up in one file
    previous = json.loads(args.out.read_text()).get("table", {}) if args.out.is_file() else {}
    t0 = time.perf_counter()
    result = run_experiment(spec, cache=Cache(), runs_dir=args.runs, progress=False, log=print)
    wall = time.perf_counter() - t0
    results = load_results(result.run_dir)
    lines = {line["label"]: line for line in leaderboard(results)}
    table = {}
    for row in results["rows"]:
        report = json.loads((result.run_dir / row["audit_report"]).read_text())
        curve = report["relearn_forget"]
        line = lines[row["label"]]
        table[row["label"]] = {
            "forget quality": line["forget quality"]["value"],
            "model utility": line["model utility"]["value"],
            "relearn steps": curve["steps"],
            "relearn curve": curve["values"],
            "related@64": report["relearn_related"]["values"][-1],
            "time %": (line.get(TIME_COLUMN) or {}).get("value"),
        }
    head = f"{'model':<28}{'FQ':>10}{'MU':>7}" + "".join(
        f"{'@' + str(s):>7}" for s in table["target"]["relearn steps"]
    )
    print(head + f"{'related@64':>11}{'time %':>8}")
    for label, t in table.items():
        cells = "".join(f"{v:>7.3f}" for v in t["relearn curve"])
        time_ = f"{t['time %']:>8.1f}" if t["time %"] is not None else f"{'-':>8}"
        print(
            f"{label:<28}{t['forget quality']:>10.3g}{t['model utility']:>7.3f}{cells}"
            f"{t['related@64']:>11.3f}{time_}"
        )
    out = {"wall_time_s": wall, "table": {**previous, **table}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"{wall:.1f}s; wrote {args.out}")


if __name__ == "__main__":
    main()
