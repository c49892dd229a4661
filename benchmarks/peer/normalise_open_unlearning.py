"""Turn open-unlearning's TOFU_EVAL.json files into one normalised JSON, per item.

Plain Python (standard library only), so it runs in either venv. Reads the directory that
run_open_unlearning_eval.py wrote (run.json, oracle/ and target/ each with TOFU_EVAL.json and
TOFU_SUMMARY.json) and the models' training.json, and writes:

    {
      "generated_by": "...open-unlearning <commit>...",
      "versions": {...}, "wall_time_s": {"oracle": s, "target": s}, "setup": {...},
      "models": {
        "oracle": {"aggregates": {metric: value}, "summary": {...}, "per_item": {...}},
        "target": {...}
      }
    }

``per_item`` maps a key to {dataset index: value}. Keys, from each metric's value_by_index:
  - ``metric`` for a per-item ``score`` (truth ratios, exact_memorization,
    extraction_strength);
  - ``metric.field`` for every other field (``forget_Q_A_Prob.prob``,
    ``forget_Q_A_Prob.avg_loss``, ``forget_Q_A_ROUGE.rougeL_recall``,
    ``forget_Q_A_ROUGE.generation``, ...); perturbed-answer fields keep open-unlearning's list
    (one value per wrong answer);
  - ``mia_x.forget`` / ``mia_x.holdout`` for an attack's per-item scores (their sign: higher
    means less likely a member).
Every metric's ``agg_value`` (pre-computed ones included) is in ``aggregates``; a non-finite
number is written as the string "NaN" / "Infinity" / "-Infinity" so the file is strict JSON.
Indices are the row numbers of the dataset file, as strings (open-unlearning's keys).

    python benchmarks/peer/normalise_open_unlearning.py --run /work/peer/ou-eval \\
        --models /work/peer/models --out benchmarks/results/open_unlearning_tofu_peer.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path
from typing import Any

ROLES = ("oracle", "target")


def clean(value: Any) -> Any:
    """Strict-JSON copy: non-finite floats become their names as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def per_item_of(metric: str, result: dict) -> dict[str, dict[str, Any]]:
    """{key: {index: value}} for one metric's entry of TOFU_EVAL.json."""
    out: dict[str, dict[str, Any]] = {}
    by_index = result.get("value_by_index")
    if isinstance(by_index, dict):
        for index, item in by_index.items():
            if not isinstance(item, dict):
                out.setdefault(metric, {})[index] = item
                continue
            for field, value in item.items():
                key = metric if field == "score" else f"{metric}.{field}"
                out.setdefault(key, {})[index] = value
    for part in ("forget", "holdout"):  # membership attacks: one block per side
        block = result.get(part)
        if isinstance(block, dict) and isinstance(block.get("value_by_index"), dict):
            for index, item in block["value_by_index"].items():
                value = item.get("score") if isinstance(item, dict) else item
                out.setdefault(f"{metric}.{part}", {})[index] = value
    return out


def aggregates_of(logs: dict) -> dict[str, Any]:
    aggs: dict[str, Any] = {}
    for metric, result in sorted(logs.items()):
        if isinstance(result, dict) and "agg_value" in result:
            aggs[metric] = result["agg_value"]
            for part in ("forget", "holdout"):
                block = result.get(part)
                if isinstance(block, dict) and "agg_value" in block:
                    aggs[f"{metric}.{part}"] = block["agg_value"]
    return aggs


def normalise_role(run_dir: Path, role: str) -> dict:
    logs = json.loads((run_dir / role / "TOFU_EVAL.json").read_text(encoding="utf-8"))
    summary = json.loads((run_dir / role / "TOFU_SUMMARY.json").read_text(encoding="utf-8"))
    per_item: dict[str, dict[str, Any]] = {}
    for metric, result in sorted(logs.items()):
        if isinstance(result, dict):
            per_item.update(per_item_of(metric, result))
    return {
        "aggregates": aggregates_of(logs),
        "summary": summary,
        "per_item": dict(sorted(per_item.items())),
    }


def normalise(run_dir: Path, models_dir: Path | None, notes: list[str] | None = None) -> dict:
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    commit = run.get("ou_commit") or "unknown"
    record: dict[str, Any] = {
        "generated_by": (
            f"open-unlearning {commit[:7]} (its own src/eval.py, TOFU evaluator), run by "
            "benchmarks/peer/run_open_unlearning_eval.py and normalised by "
            "benchmarks/peer/normalise_open_unlearning.py"
        ),
        "open_unlearning_commit": commit,
        "python": run.get("python"),
        "versions": run.get("versions", {}),
        "wall_time_s": {r["role"]: r["wall_s"] for r in run["runs"]},
        "cpu_time_s": {r["role"]: r["cpu_s"] for r in run["runs"] if "cpu_s" in r},
        "setup": {
            "data": run.get("data"),
            "batch_size": run.get("batch_size"),
            "threads": run.get("threads"),
            "runs": [
                {k: r[k] for k in ("role", "model_dir", "metrics", "overrides", "wall_s")}
                | {
                    k: r[k]
                    for k in ("cpu_s", "load_average_before", "load_average_after")
                    if k in r
                }
                for r in run["runs"]
            ],
        },
        "notes": list(notes or []),
        "models": {},
    }
    for role in ROLES:
        entry = normalise_role(run_dir, role)
        if models_dir is not None and (models_dir / role / "training.json").exists():
            training = json.loads((models_dir / role / "training.json").read_text())
            weights = models_dir / role / "model.safetensors"
            digest = hashlib.sha256(weights.read_bytes()).hexdigest() if weights.exists() else None
            entry = {"training": training, "weights_sha256": digest, **entry}
        record["models"][role] = entry
    return clean(record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=Path("/work/peer/ou-eval"))
    ap.add_argument("--models", type=Path, default=Path("/work/peer/models"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--note", action="append", default=[], help="free text kept in the file")
    args = ap.parse_args()
    record = normalise(args.run, args.models if args.models.exists() else None, args.note)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1, allow_nan=False, ensure_ascii=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    for role in ROLES:
        aggs = record["models"][role]["aggregates"]
        keys = len(record["models"][role]["per_item"])
        print(f"{role}: {len(aggs)} aggregates, {keys} per-item keys")
        for name in ("forget_quality", "model_utility", "privleak", "forget_truth_ratio"):
            if name in aggs:
                print(f"  {name} = {aggs[name]}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
