"""Sequential forget requests on the demo world (issue 6, sustainability).

Each demo method (its spec config) is applied to the forget10 people in five successive
requests (groups of people), on the demo target. After each request: value accuracy on the
people requested so far, on the people still pending, and on the retain people. Writes
benchmarks/results/sequential_demo.json.

    python benchmarks/sequential_demo.py [--requests 5] [--methods npo,rmu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unlearnkit.audit.sequential import sequential_unlearning
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
from unlearnkit.runner.build import build
from unlearnkit.runner.spec import load_spec

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--methods", default=None, help="comma-separated (default: the demo's)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sequential_demo.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = load_spec(None)
    built = build(spec.build, progress=False, log=print)
    wanted = args.methods.split(",") if args.methods else [m.name for m in spec.methods]
    retain_eval = built.world.tofu["retain_perturbed"]
    results = {}
    for m in spec.methods:
        if m.name not in wanted:
            continue
        t = time.perf_counter()
        model = CausalLMAdapter.from_pretrained(built.target_dir)
        results[m.display] = sequential_unlearning(
            model,
            built.world.tofu[spec.forget],
            built.world.tofu["retain90"],
            m.name,
            requests=args.requests,
            config=m.config,
            retain_eval=retain_eval,
        )
        print(f"{m.display}: {time.perf_counter() - t:.1f}s")
        print("  request  requested  pending  retain")
        for h in results[m.display]["history"]:
            print(
                f"  {h['request']:>7}  {h['requested']:>9.3f}  {h['pending']:>7.3f}  "
                f"{h['retain']:>6.3f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
