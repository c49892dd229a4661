"""Every unlearning method with its tuned defaults on the demo world's forget10 split.

Prints, before and after unlearning, answer-token and value-token accuracy on the forget
people, the retain evaluation people and the neighbours of the forget people, generation
accuracy on the forget people, and the wall time, with the retrain oracle as the reference
row; writes the figures to benchmarks/results/unlearn_methods.json.

    .venv/bin/python benchmarks/unlearn_methods.py [--methods npo,rmu] [key=value ...]
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from unlearnkit.core.config import parse_overrides
from unlearnkit.evaluation.accuracy import qa_accuracy
from unlearnkit.methods import METHODS, unlearn
from unlearnkit.methods.api import methods_of, register_builtin_methods
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.runner.build import build, build_spec

ROOT = Path(__file__).resolve().parents[1]
SETS = {"forget": "forget10_perturbed", "retain": "retain_perturbed", "neighbours": "neighbours"}


def accuracies(
    adapter: CausalLMAdapter, world, *, generate: bool = False
) -> dict[str, dict[str, float]]:
    """Answer- and value-token accuracy per set (and generation accuracy on forget)."""
    out = {}
    for name, config in SETS.items():
        res = qa_accuracy(adapter, world.tofu[config], generate=generate and name == "forget")
        out[name] = {k: r.aggregate for k, r in res.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", default=None, help="comma-separated (default: all)")
    ap.add_argument("--preset", default="demo")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "unlearn_methods.json"
    )
    ap.add_argument("overrides", nargs="*", help="method config overrides for every method")
    args = ap.parse_args()
    register_builtin_methods()
    methods = args.methods.split(",") if args.methods else methods_of("lm")
    if not args.methods:  # the demo target is dense: the MoE-only methods need another build
        methods = [n for n in methods if not getattr(METHODS.get(n), "requires_moe", False)]
    built = build(build_spec(args.preset), progress=False, log=lambda m: None)
    target = CausalLMAdapter.from_pretrained(built.target_dir, batch_size=128)
    world = built.world
    before = accuracies(target, world, generate=True)
    oracle = accuracies(
        CausalLMAdapter.from_pretrained(built.oracle_dir, batch_size=128), world, generate=True
    )
    results = {"before": before, "oracle": oracle, "methods": {}}
    for name in methods:
        model = copy.deepcopy(target.model)
        adapter = CausalLMAdapter(
            model, target.tokenizer, batch_size=128, prompt_format=target.prompt_format
        )
        unlearned, record = unlearn(
            adapter,
            world.tofu["forget10"],
            world.tofu["retain90"],
            name,
            progress=False,
            **parse_overrides(args.overrides),
        )
        after = accuracies(unlearned, world, generate=True)
        results["methods"][name] = {
            "after": after,
            "wall_time_s": record.wall_time_s,
            "steps": record.steps,
            "config": record.config,
            "parameters_changed": record.parameters_changed,
        }
        print(
            name,
            json.dumps({k: round(v["answer_token_acc"], 3) for k, v in after.items()}),
            f"{record.wall_time_s:.1f}s",
        )
    table = Table(
        title=f"Unlearning forget10 on the {args.preset} world: accuracy (ratio to target)"
    )
    for col in (
        "model",
        "forget answer-tok",
        "forget value-tok",
        "forget generation",
        "retain answer-tok",
        "neighbours answer-tok",
        "time (s)",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    cells = [
        ("forget", "answer_token_acc"),
        ("forget", "value_token_acc"),
        ("forget", "generation_acc"),
        ("retain", "answer_token_acc"),
        ("neighbours", "answer_token_acc"),
    ]

    def row(label: str, acc: dict, seconds: str) -> None:
        table.add_row(
            label, *(f"{acc[s][m]:.3f} ({acc[s][m] / before[s][m]:.2f})" for s, m in cells), seconds
        )

    row("target (before)", before, "-")
    row(
        "oracle (never saw forget10)",
        oracle,
        f"{built.records['oracle']['train_record']['wall_time_s']:.0f}",
    )
    for name, r in results["methods"].items():
        row(name, r["after"], f"{r['wall_time_s']:.1f}")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
