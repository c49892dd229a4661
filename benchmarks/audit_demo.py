"""The robustness audit of the demo methods (issue 6): which methods only suppress?

Runs (or reuses from the cache) the demo run of `unlearnkit run`, then audits the target,
the oracle and every unlearned model with :func:`unlearnkit.audit.api.audit_model`:
quantization (int8, int4), weight noise, relearning on half the forget set (measured on
the other half) and on related data (neighbours), LoRA recovery, every form of the facts,
and an attribute probe on the hidden states. Prints the summary table and the same numbers
as "forgetting left" (1 = as forgotten as the oracle, 0 = as known as the target), and
writes every report to benchmarks/results/audit_demo.json.

    python benchmarks/audit_demo.py            # full audit
    python benchmarks/audit_demo.py --quick    # a reduced ladder
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from unlearnkit.audit.api import AuditConfig, audit_model, summary_row
from unlearnkit.audit.knowledge import forgetting_left, knowledge
from unlearnkit.audit.relearning import split_records
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
from unlearnkit.runner.build import prepare
from unlearnkit.runner.run import run_experiment
from unlearnkit.runner.spec import load_spec

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="steps 1, 4, 16; one noise scale")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "audit_demo.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    cfg = AuditConfig(relearn_steps=(1, 4, 16), noise=(0.03,)) if args.quick else AuditConfig()
    spec = load_spec(None)
    t0 = time.perf_counter()
    run = run_experiment(spec, runs_dir=args.runs, progress=False, log=print)
    print(f"demo run ready in {time.perf_counter() - t0:.1f}s")
    world = prepare(spec.build).world
    rows = {r.label: r for r in run.rows}
    oracle = CausalLMAdapter.from_pretrained(rows["oracle"].model_dir)
    target = CausalLMAdapter.from_pretrained(rows["target"].model_dir)
    _, measured = split_records(world.tofu[cfg.forget], cfg.relearn_fraction, cfg.seed)
    target_measured = knowledge(target, measured).value_acc
    reports = {}
    for label, row in rows.items():
        print(f"auditing {label} ...")
        t = time.perf_counter()
        adapter = target if label == "target" else CausalLMAdapter.from_pretrained(row.model_dir)
        reports[label] = audit_model(
            adapter,
            world.tofu,
            forms=world.forms,
            oracle=oracle,
            target=target,
            target_knowledge=target_measured,
            config=cfg,
        )
        print(f"  {time.perf_counter() - t:.1f}s")
    table = {label: summary_row(r) for label, r in reports.items()}
    columns = list(table["target"])
    width = max(len(c) for c in columns) + 2

    def show(title: str, cell) -> None:
        print(f"\n{title}")
        print("model".ljust(13) + "".join(c.rjust(width) for c in columns))
        for label, row in table.items():
            print(label.ljust(13) + "".join(cell(label, c, row.get(c, math.nan)) for c in columns))

    show(
        "forget-set value accuracy (higher = knows more)", lambda lb, c, v: f"{v:.3f}".rjust(width)
    )
    show(
        "forgetting left: (target - x) / (target - oracle), per column (1 = oracle, 0 = target)",
        lambda lb, c, v: f"{forgetting_left(v, table['target'][c], table['oracle'][c]):.2f}".rjust(
            width
        ),
    )
    for label, r in reports.items():
        steps = r.get("relearn_forget_steps_to_half")
        print(f"{label}: steps to recover half the gap to the target: {steps}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"config": cfg.to_dict(), "summary": table, "reports": reports},
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
