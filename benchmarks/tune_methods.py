"""The hyperparameter search behind each method's demo defaults (docs/methods.md).

For each method, a small grid on a *tuning* world's forget10 split (retain90 as retain
data). The tuning world is the demo preset with another world seed and model seed
(``--build world.seed=1 model_seed=1``), so the people, the facts and the target model all
differ from the demo world that ``benchmarks/unlearn_methods.py`` reports on: the reported
figures are held out from the selection.

Each setting is scored by answer-token and value-token accuracy on forget10,
retain_perturbed and the neighbours, as ratios to the target's. The selection rule: among
the settings that keep retain and neighbour answer-token accuracy >= ``--keep`` (0.90) of
the target's, the lowest forget ratio on ``--select-on`` (answer tokens, the measure of the
done-criterion); settings within ``--tie`` (0.01) of it count as tied and the one keeping
the most retain accuracy wins. Writes every point to ``--out``.
The oracle is not used for selection.

    .venv/bin/python benchmarks/tune_methods.py [--methods npo,rmu] [--grid JSON]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
from pathlib import Path

from unlearn_methods import SETS, accuracies
from unlearnkit.methods import unlearn
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.runner.build import build, build_spec

ROOT = Path(__file__).resolve().parents[1]

GRIDS: dict[str, dict[str, list]] = {
    "grad_ascent": {"lr": [1e-4, 2e-4], "epochs": [2, 5]},
    "grad_diff": {"lr": [3e-4, 5e-4, 8e-4], "epochs": [8, 12], "alpha": [3.0, 5.0]},
    "kl": {"lr": [2e-4, 5e-4], "epochs": [4, 8], "alpha": [1.0, 3.0]},
    "npo": {"lr": [1e-3, 2e-3], "epochs": [10, 20], "beta": [0.1, 0.03]},
    "simnpo": {"lr": [1e-3, 2e-3], "epochs": [20, 30], "beta": [0.2, 0.1], "gamma": [0.0]},
    "idk_nll": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "idk_dpo": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "rmu": {"lr": [1e-3, 5e-3], "layer": [0, 1], "auto_coeff_scale": [4.0, 20.0], "alpha": [10.0]},
    "wga": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "satimp": {"lr": [1e-3, 3e-3], "epochs": [5, 10], "beta1": [1.0, 5.0]},
    "undial": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "ce_u": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "pdu": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "flat": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "loku": {"lr": [1e-3, 3e-3], "epochs": [5, 10]},
    "task_vector": {"epochs": [2, 5], "scale": [0.5, 1.0]},
    "concept_vector_ablation": {"lr": [3e-3, 1e-2], "k": [20, 100]},
    "rocr": {"layer": [0, 1]},
}
#: the build of the tuning world: the demo preset with other seeds (held out from the report)
TUNING_BUILD = ["world.seed=1", "model_seed=1"]


def select(points: list[dict], select_on: str, tie: float) -> dict | None:
    """The lowest forget ratio on ``select_on``; within ``tie`` of it, the most retain kept."""
    if not points:
        return None
    lowest = min(p["ratios"][f"forget/{select_on}"] for p in points)
    tied = [p for p in points if p["ratios"][f"forget/{select_on}"] <= lowest + tie]
    return max(tied, key=lambda p: p["ratios"]["retain/answer_token_acc"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", default=",".join(GRIDS))
    ap.add_argument(
        "--grid", default=None, help='replace the grid of one method: JSON, e.g. {"beta": [0.03]}'
    )
    ap.add_argument(
        "--build",
        nargs="*",
        default=TUNING_BUILD,
        help="overrides of the demo build spec that make the tuning world",
    )
    ap.add_argument(
        "--select-on",
        default="answer_token_acc",
        choices=["answer_token_acc", "value_token_acc"],
        help="forget measure a setting is selected on (lowest ratio wins)",
    )
    ap.add_argument(
        "--keep",
        type=float,
        default=0.90,
        help="retain and neighbour answer-token ratio a setting must keep",
    )
    ap.add_argument(
        "--tie",
        type=float,
        default=0.01,
        help="settings whose forget ratio is within this of the lowest count as tied; the "
        "tie goes to the one keeping the most retain accuracy",
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "tune_methods_seed1.json"
    )
    args = ap.parse_args()
    built = build(build_spec("demo", args.build), progress=False, log=lambda m: None)
    target = CausalLMAdapter.from_pretrained(built.target_dir, batch_size=128)
    before = accuracies(target, built.world)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.methods.split(","):
        grid = json.loads(args.grid) if args.grid else GRIDS[name]
        points = list(results.get(name, {}).get("points", []))
        done = [p["setting"] for p in points]
        for values in itertools.product(*grid.values()):
            setting = dict(zip(grid, values, strict=True))
            if setting in done:
                continue
            model = copy.deepcopy(target.model)
            adapter = CausalLMAdapter(
                model, target.tokenizer, batch_size=128, prompt_format=target.prompt_format
            )
            out, rec = unlearn(
                adapter,
                built.world.tofu["forget10"],
                built.world.tofu["retain90"],
                name,
                progress=False,
                **setting,
            )
            acc = accuracies(out, built.world)
            ratios = {
                f"{k}/{m}": acc[k][m] / before[k][m]
                for k in SETS
                for m in ("answer_token_acc", "value_token_acc")
            }
            points.append({"setting": setting, "ratios": ratios, "wall_time_s": rec.wall_time_s})
            print(name, setting, {k: round(v, 3) for k, v in ratios.items()}, flush=True)
        ok = [
            p
            for p in points
            if p["ratios"]["retain/answer_token_acc"] >= args.keep
            and p["ratios"]["neighbours/answer_token_acc"] >= args.keep
        ]
        best = select(ok, args.select_on, args.tie)
        results[name] = {
            "build": args.build,
            "rule": {"select_on": args.select_on, "keep": args.keep, "tie": args.tie},
            "grid": grid,
            "points": points,
            "selected": best,
        }
        print(name, "selected:", best, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
