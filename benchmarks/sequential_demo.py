"""Sequential forget requests on the demo world (issue 6, sustainability).

Each demo method (its spec config) is applied to the forget10 people in five successive
requests (groups of people), on the demo target. After each request: value accuracy on the
people requested so far, on the people still pending and on the retain people, and the
TOFU forget quality (requested people, against the forget10 oracle) and model utility.
The final model, which has had every forget10 person requested, is then evaluated with
the full suites against the forget10 oracle, next to the same method applied once (the
cached demo run). Writes benchmarks/results/sequential_demo.json.

    python benchmarks/sequential_demo.py [--requests 5] [--methods npo,rmu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unlearnkit.audit.sequential import sequential_unlearning
from unlearnkit.core.cache import Cache
from unlearnkit.evaluation.api import evaluate
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
from unlearnkit.report.tables import HEADLINE, leaderboard
from unlearnkit.runner.build import build
from unlearnkit.runner.run import load_results, run_experiment
from unlearnkit.runner.spec import load_spec

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--methods", default=None, help="comma-separated (default: the demo's)")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sequential_demo.json")
    args = parser.parse_args()
    spec = load_spec(None)
    wanted = args.methods.split(",") if args.methods else [m.name for m in spec.methods]
    # the one-shot figures: the demo run (cached after `make demo`)
    once = run_experiment(spec, cache=Cache(), runs_dir=args.runs, progress=False, log=print)
    one_shot = {line["label"]: line for line in leaderboard(load_results(once.run_dir))}
    torch.set_num_threads(2)
    built = build(spec.build, progress=False, log=print)
    oracle = CausalLMAdapter.from_pretrained(built.oracle_dir)
    retain_eval = built.world.tofu["retain_perturbed"]
    results = {}
    for m in spec.methods:
        if m.name not in wanted:
            continue
        t = time.perf_counter()
        model = CausalLMAdapter.from_pretrained(built.target_dir)
        out = sequential_unlearning(
            model,
            built.world.tofu[spec.forget],
            built.world.tofu["retain90"],
            m.name,
            requests=args.requests,
            config=m.config,
            retain_eval=retain_eval,
            data=built.world,
            oracle=oracle,
        )
        final = evaluate(model, built.world, suites=spec.suites, oracle=oracle, bootstrap=0)
        summary = final.summary()
        out["final"] = {label: summary.get(key) for label, key in HEADLINE}
        out["one_shot"] = {label: one_shot[m.display][label]["value"] for label, _ in HEADLINE}
        out["wall_time_s"] = time.perf_counter() - t
        results[m.display] = out
        print(f"{m.display}: {out['wall_time_s']:.1f}s")
        print("  request  requested  pending  retain  forget quality  model utility")
        for h in out["history"]:
            print(
                f"  {h['request']:>7}  {h['requested']:>9.3f}  {h['pending']:>7.3f}  "
                f"{h['retain']:>6.3f}  {h['forget_quality']:>14.3g}  {h['model_utility']:>13.3f}"
            )
        for what in ("final", "one_shot"):
            print(f"  {what:<9} " + "  ".join(f"{k} {v:.3g}" for k, v in out[what].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
