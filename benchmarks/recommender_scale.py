"""How the recommender protocol scales with the interaction world: for growing worlds (the
demo's 300 users × 200 items up to 4,800 × 3,200), the time to generate the world, train
the target, answer the request with each method, and evaluate one model, on one thread.
Prints the table and writes benchmarks/results/recommender_scale.json.

    python benchmarks/recommender_scale.py [--arch lightgcn] [--sizes 1 4 16]
        [--methods rec_grad_ascent reverse_bpr]   # rerun some methods: their entries are
                                                  # replaced in the existing JSON
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from unlearnkit.core.cache import Cache
from unlearnkit.runner.families.recommender import Recommenders
from unlearnkit.runner.run import run_experiment

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="bpr_mf", choices=["bpr_mf", "lightgcn"])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--methods", nargs="*", default=None, help="only these methods (merged into the JSON)"
    )
    args = parser.parse_args()
    out_path = args.out or HERE / "results" / f"recommender_scale_{args.arch}.json"
    report = {"arch": args.arch, "sizes": []}
    previous = json.loads(out_path.read_text()) if args.methods and out_path.is_file() else None
    for factor in args.sizes:
        users, items = 300 * factor, 200 * factor
        # larger worlds train with larger batches (the same number of epochs)
        batch = 256 if factor == 1 else 1024
        methods = {
            "rec_retrain": f"{{name: rec_retrain, config: {{batch_size: {batch}}}}}",
            "rec_finetune": f"{{name: rec_finetune, config: {{batch_size: {batch}}}}}",
            "rec_grad_ascent": "{name: rec_grad_ascent}",
            "reverse_bpr": "{name: reverse_bpr}",
            "sharded_retrain": f"{{name: sharded_retrain, config: {{batch_size: {batch}}}}}",
            "influence_encoder": "{name: influence_encoder}",
        }
        chosen = [m for m in methods if args.methods is None or m in args.methods]
        spec = Recommenders.load_spec(
            None,
            [
                f"name=scale-{args.arch}-{factor}",
                f"world.n_users={users}",
                f"world.n_items={items}",
                f"model.arch={args.arch}",
                f"train.batch_size={batch}",
                "methods=[" + ", ".join(methods[m] for m in chosen) + "]",
            ],
        )
        t0 = time.perf_counter()
        result = run_experiment(spec, cache=Cache(), runs_dir=args.runs, log=lambda m: None)
        wall = time.perf_counter() - t0
        data = json.loads((result.run_dir / "results.json").read_text())
        rows = {r["label"]: r for r in data["rows"]}
        from unlearnkit.data.world.interactions import generate_interactions

        t1 = time.perf_counter()
        world = generate_interactions(spec.world)
        gen = time.perf_counter() - t1
        entry = {
            "users": users,
            "items": items,
            "interactions": len(world.user),
            "train_batch_size": batch,
            "generate_s": gen,
            "target_train_s": data["seconds"]["target"],
            "oracle_train_s": data["seconds"]["oracle"],
            "run_wall_s": wall,
            "methods": {
                label: {
                    "wall_time_s": r["efficiency"]["wall_time_s"],
                    "setup_time_s": r["efficiency"]["setup_time_s"],
                    "speedup": r["efficiency"]["speedup"],
                    "ndcg@20": r["metrics"]["rec/ndcg@20"],
                    "forget_rank_pct": r["metrics"]["forget/rank_pct"],
                }
                for label, r in rows.items()
                if r["kind"] == "method"
            },
            "oracle_forget_rank_pct": rows["oracle"]["metrics"]["forget/rank_pct"],
            "target_ndcg@20": rows["target"]["metrics"]["rec/ndcg@20"],
            "oracle_ndcg@20": rows["oracle"]["metrics"]["rec/ndcg@20"],
        }
        if previous is not None:  # keep the other methods' earlier measurements
            (old,) = [e for e in previous["sizes"] if e["users"] == users]
            entry["methods"] = {**old["methods"], **entry["methods"]}
            earlier = {k: v for k, v in old.items() if k not in ("methods", "rerun")}
            entry["rerun"] = {"methods": chosen, "earlier_run": earlier}
        report["sizes"].append(entry)
        print(
            f"\n{users} users × {items} items, {entry['interactions']} interactions: world "
            f"{gen:.2f} s, target {entry['target_train_s']:.1f} s, oracle "
            f"{entry['oracle_train_s']:.1f} s (batch {batch}), whole run {wall:.1f} s"
        )
        print(f"{'method':>18} | {'time s':>8} | {'setup s':>8} | {'speed-up':>8} | N@20")
        for label, m in entry["methods"].items():
            print(
                f"{label:>18} | {m['wall_time_s']:8.3f} | {m['setup_time_s']:8.2f} | "
                f"{m['speedup']:7.1f}x | {m['ndcg@20']:.3f}"
            )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten {out_path}")


if __name__ == "__main__":
    main()
