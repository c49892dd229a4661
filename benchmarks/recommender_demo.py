"""The recommender demo end to end (issue 9): both models (BPR-MF, LightGCN) × the three
request kinds (interactions, users, items) × every recommender method with its defaults,
each also applied as sequential requests and audited (quantization, noise, relearning).
Prints one table per model and request (utility, how forgotten the removed interactions
are against the oracle, cost and speed-up over retraining, the audit) and writes
benchmarks/results/recommender_demo.json.

    python benchmarks/recommender_demo.py [--sequential 3] [-s world=test]
    python benchmarks/recommender_demo.py --markdown benchmarks/results/recommender_demo.json

(``-s world=test`` needs ``--sequential`` at most 3: the test world forgets 3 items.)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from unlearnkit.core.cache import Cache
from unlearnkit.runner.families.recommender import Recommenders
from unlearnkit.runner.run import run_experiment

HERE = Path(__file__).resolve().parent
SEQUENTIAL = {"interactions": 5, "users": 10, "items": 5}
COLUMNS = (
    ("R@20", "rec/recall@20"),
    ("N@20", "rec/ndcg@20"),
    ("N@20 touched", "rec/ndcg@20_touched"),
    ("rank pct", "forget/rank_pct"),
    ("gap", "forget/rank_gap"),
    ("hit@20", "forget/hit@20"),
    ("MI-BF", "mi/bf"),
    ("MI-NG", "mi/ng"),
    ("MIA AUC", "mia/auc"),
)


def _f(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.3f}"


def _graph_only(spec, data) -> dict:
    """The target with its serving graph set to the kept interactions and no parameter
    changed: what deleting the edges alone does to a LightGCN."""
    from unlearnkit.data.world.interactions import generate_interactions
    from unlearnkit.evaluation.recommender import (
        RecEvalConfig,
        RecommenderSplits,
        evaluate_recommender,
    )
    from unlearnkit.models.recommender import RecommenderAdapter

    rows = {r["label"]: r for r in data["rows"]}
    target = RecommenderAdapter.from_pretrained(rows["target"]["model_dir"])
    oracle = RecommenderAdapter.from_pretrained(rows["oracle"]["model_dir"])
    splits = RecommenderSplits.from_world(generate_interactions(spec.world), spec.request)
    model = RecommenderAdapter.from_pretrained(rows["target"]["model_dir"])
    model.model.set_graph(splits.retain[:, 0], splits.retain[:, 1])
    res = evaluate_recommender(
        model, splits, before=target, oracle=oracle, config=RecEvalConfig(k=spec.k)
    )
    return {c: res[k].aggregate for c, k in COLUMNS}


DOC_COLUMNS = ("R@20", "N@20", "N@20 touched", "rank pct", "hit@20", "MI-BF", "MI-NG", "MIA AUC")
DOC_AUDIT = (("hit@20", "forget"), ("int4", "int4"), ("relearn@0", "relearn@0"))


def markdown(out: dict) -> str:
    """The docs' tables (docs/recommenders.md, "Measured") of a benchmark's JSON."""
    lines: list[str] = []
    for run in out["runs"]:
        rows = run["rows"]
        lines += [
            f"**{run['arch']}, forget {run['request']}** (retraining "
            f"{run['retrain_time_s']:.2f} s)",
            "",
            "| model | " + " | ".join(DOC_COLUMNS) + " | time s | speed-up |",
            "|---" * (len(DOC_COLUMNS) + 3) + "|",
        ]
        for row in rows:
            eff = row.get("efficiency") or {}
            cells = [_f(row["metrics"].get(c)) for c in DOC_COLUMNS]
            if eff:
                setup = eff.get("setup_time_s") or 0.0
                time_s = f"{eff['wall_time_s']:.3f}" + (
                    f" (+{setup:.2f} setup)" if setup > 0 else ""
                )
                speed = f"{eff['speedup']:.1f}×"
            else:
                time_s = speed = "-"
            lines.append(f"| {row['label']} | " + " | ".join([*cells, time_s, speed]) + " |")
        if run.get("graph_only"):
            cells = [_f(run["graph_only"].get(c)) for c in DOC_COLUMNS]
            lines.append("| *graph only* | " + " | ".join([*cells, "-", "-"]) + " |")
        steps = sorted(
            int(k.split("@")[1]) for k in (rows[0].get("audit") or {}) if k.startswith("relearn@")
        )
        shown = [s for s in steps if s > 0][-2:]
        audit_cols = [*DOC_AUDIT, *((f"relearn@{s}", f"relearn@{s}") for s in shown)]
        lines += [
            "",
            "Audit: top-20 hits of the removed interactions as they are, after int4 embeddings, "
            "and on the held-back half after relearning on the other half "
            f"({' / '.join(str(s) for s in [0, *shown])} steps):",
            "",
            "| model | " + " | ".join(c for c, _ in audit_cols) + " |",
            "|---" * (len(audit_cols) + 1) + "|",
        ]
        for row in rows:
            audit = row.get("audit") or {}
            lines.append(
                f"| {row['label']} | " + " | ".join(_f(audit.get(k)) for _, k in audit_cols) + " |"
            )
        seq = [r for r in rows if r["sequence"] and r["label"] not in ("target", "oracle")]
        if seq:
            n = len(seq[0]["sequence"])
            lines += [
                "",
                f"As {n} sequential requests (after the last one; total time of the {n} requests):",
                "",
                "| model | rank pct (oracle) | MIA AUC (oracle) | hit@20 | total s |",
                "|---|---|---|---|---|",
            ]
            for row in seq:
                last = row["sequence"][-1]
                total = sum(h["wall_time_s"] for h in row["sequence"])
                lines.append(
                    f"| {row['label']} | {last['forget_rank_pct']:.3f} "
                    f"({last['oracle_forget_rank_pct']:.3f}) | {last['mia_auc']:.3f} "
                    f"({last['oracle_mia_auc']:.3f}) | {last['requested']:.3f} | {total:.2f} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="print the docs' tables of an existing results JSON and exit",
    )
    parser.add_argument(
        "--sequential",
        type=int,
        default=None,
        help="successive requests per run (default: 5 for interactions and items, 10 for "
        "users: one user per request)",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "recommender_demo.json")
    args = parser.parse_args()
    if args.markdown is not None:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    t_all = time.perf_counter()
    out: dict = {"runs": []}
    for arch in ("bpr_mf", "lightgcn"):
        for request in ("interactions", "users", "items"):
            spec = Recommenders.load_spec(
                None,
                [
                    f"name=recsys-{arch}-{request}",
                    f"model.arch={arch}",
                    f"request={request}",
                    f"sequential={args.sequential or SEQUENTIAL[request]}",
                    "audit={}",
                    *args.overrides,
                ],
            )
            t0 = time.perf_counter()
            result = run_experiment(spec, cache=Cache(), runs_dir=args.runs, log=lambda m: None)
            wall = time.perf_counter() - t0
            data = json.loads((result.run_dir / "results.json").read_text())
            retrain_s = data["oracle_cost"]["wall_time_s"]
            print(f"\n== {arch}, forget {request} (retraining {retrain_s:.2f} s; run {wall:.1f} s)")
            head = ["model", *(c for c, _ in COLUMNS), "time s", "setup s", "speed-up"]
            print(" | ".join(f"{h:>12}" for h in head))
            rows = []
            audits: list[tuple[str, dict]] = []
            for row in data["rows"]:
                eff = row.get("efficiency") or {}
                cells = [_f(row["metrics"].get(k)) for _, k in COLUMNS]
                time_s = eff.get("wall_time_s")
                speed = eff.get("speedup")
                line = [
                    row["label"],
                    *cells,
                    _f(time_s) if time_s is not None else "-",
                    _f(eff.get("setup_time_s")) if eff else "-",
                    f"{speed:.1f}x" if speed is not None else "-",
                ]
                print(" | ".join(f"{c:>12}" for c in line))
                seq = row.get("sequence") or []
                audits.append((row["label"], row.get("audit") or {}))
                rows.append(
                    {
                        "label": row["label"],
                        "audit": row.get("audit"),
                        "metrics": {c: row["metrics"].get(k) for c, k in COLUMNS},
                        "efficiency": eff or None,
                        "sequence": [
                            {
                                k: h[k]
                                for k in (
                                    "request",
                                    "records",
                                    "requested",
                                    "pending",
                                    "retain",
                                    "forget_rank_pct",
                                    "oracle_forget_rank_pct",
                                    "mia_auc",
                                    "oracle_mia_auc",
                                    "wall_time_s",
                                    "speedup",
                                )
                            }
                            for h in seq
                        ],
                    }
                )
            graph_only = None
            if arch == "lightgcn":
                graph_only = _graph_only(spec, data)
                cells = [_f(graph_only.get(c)) for c, _ in COLUMNS]
                print(" | ".join(f"{c:>12}" for c in ["graph only", *cells, "-", "-", "-"]))
            print("   audit (top-20 hits of the removed interactions):")
            cols = list(audits[0][1])
            print("   " + " | ".join(f"{c:>12}" for c in ["model", *cols]))
            for label, audit in audits:
                print(
                    "   "
                    + " | ".join(f"{c:>12}" for c in [label, *(_f(audit.get(c)) for c in cols)])
                )
            for row in rows:
                if row["sequence"] and row["label"] != "oracle":
                    last = row["sequence"][-1]
                    total = sum(h["wall_time_s"] for h in row["sequence"])
                    print(
                        f"   sequential x{len(row['sequence'])} {row['label']}: after the last "
                        f"request rank pct {last['forget_rank_pct']:.3f} (oracle "
                        f"{last['oracle_forget_rank_pct']:.3f}), MIA AUC {last['mia_auc']:.3f} "
                        f"(oracle {last['oracle_mia_auc']:.3f}), hit@20 {last['requested']:.3f}, "
                        f"total {total:.2f} s"
                    )
            out["runs"].append(
                {
                    "arch": arch,
                    "request": request,
                    "retrain_time_s": retrain_s,
                    "run_wall_time_s": wall,
                    "run_dir": str(result.run_dir),
                    "rows": rows,
                    "graph_only": graph_only,
                }
            )
    out["wall_time_s"] = time.perf_counter() - t_all
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, allow_nan=True) + "\n")
    print(f"\nall runs in {out['wall_time_s']:.1f} s; written {args.out}")


if __name__ == "__main__":
    main()
