"""The hyperparameter search behind the classifier methods' defaults (docs/classifiers.md).

On a *tuning* identity world held out from the reported one (the demo world with world
seed 1 and model seed 1: other people, other images, another target). Each setting is
scored by NoMUS (0.5·test accuracy + 0.5·(1 − 2·|MIA − 0.5|), MIA = MUFAC's logistic
attack on losses, forget against unseen people) and by the retain accuracy it keeps. The
rule: among the settings keeping retain accuracy >= ``--keep`` (0.90) of the target's, the
highest NoMUS; within ``--tie`` (0.005) the one keeping the most retain accuracy. The
oracle is not used. Writes every point to benchmarks/results/tune_classifier.json.

    python benchmarks/tune_classifier.py [--methods salun,scrub] [--grid JSON]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from unlearnkit.core.cache import Cache
from unlearnkit.evaluation.functional import classifier as C
from unlearnkit.methods.classifier.base import classifier_methods, unlearn_classifier
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.runner.families.classifier import Classifiers

HERE = Path(__file__).resolve().parent
GRIDS: dict[str, dict[str, list]] = {
    "finetune": {"lr": [0.01, 0.02, 0.05], "epochs": [3, 5, 10]},
    "cf_k": {"lr": [0.01, 0.02, 0.05], "epochs": [5, 10], "k": [1, 2]},
    "neg_grad": {"lr": [0.002, 0.005, 0.01], "epochs": [3, 5, 10]},
    "neg_grad_plus": {"lr": [0.005, 0.01, 0.02], "epochs": [2, 5], "beta": [0.9, 0.95]},
    "random_label": {"lr": [0.002, 0.005, 0.01], "epochs": [1, 2, 4]},
    "salun": {"lr": [0.002, 0.005, 0.01], "epochs": [1, 2, 4], "fraction": [0.5]},
    "scrub": {"lr": [0.002, 0.005, 0.01], "epochs": [2, 4], "max_epochs": [1, 2]},
    "bad_teacher": {"lr": [0.002, 0.005, 0.01], "epochs": [1, 2, 4]},
    "l1_sparse": {"lr": [0.01, 0.02, 0.05], "epochs": [3, 5, 10], "gamma": [5e-4]},
    "unsir": {"lr": [0.005, 0.01, 0.02], "impair_lr": [0.01, 0.02], "epochs": [1, 2]},
}
TUNING = ["world.seed=1", "model_seed=1"]


def score(adapter: ClassifierAdapter, splits) -> dict[str, float]:
    f, u = splits["forget"], splits["unseen"]
    mia = C.logistic_attack_accuracy(
        adapter.losses(f.images, f.labels).numpy(), adapter.losses(u.images, u.labels).numpy()
    )
    test = adapter.accuracy(splits["test"].images, splits["test"].labels)
    return {
        "forget": adapter.accuracy(f.images, f.labels),
        "retain": adapter.accuracy(splits["retain"].images, splits["retain"].labels),
        "test": test,
        "mia": mia,
        "nomus": C.nomus(test, mia),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=None)
    parser.add_argument("--grid", type=json.loads, default=None)
    parser.add_argument("--keep", type=float, default=0.90)
    parser.add_argument("--tie", type=float, default=0.005)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "tune_classifier.json")
    args = parser.parse_args()
    spec = Classifiers.load_spec(None, TUNING)
    run = Classifiers(spec, Cache())
    s = run.splits
    target = run.target
    base = score(target, s)
    print("target", {k: round(v, 3) for k, v in base.items()})
    names = args.methods.split(",") if args.methods else classifier_methods()
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = previous.get("methods", {})
    for name in names:
        grid = (args.grid or {}).get(name) or GRIDS[name]
        keys = list(grid)
        points = []
        for values in itertools.product(*(grid[k] for k in keys)):
            setting = dict(zip(keys, values, strict=True))
            t0 = time.perf_counter()
            out, _ = unlearn_classifier(target, s["forget"], s["retain"], name, **setting)
            sc = score(out, s)
            points.append({"setting": setting, **sc, "seconds": round(time.perf_counter() - t0, 2)})
        ok = [p for p in points if p["retain"] >= args.keep * base["retain"]]
        best = None
        if ok:
            top = max(p["nomus"] for p in ok)
            best = max((p for p in ok if p["nomus"] >= top - args.tie), key=lambda p: p["retain"])
        results[name] = {"points": points, "selected": best}
        print(name, "->", best)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "tuning": TUNING,
                "target": base,
                "rule": {"keep": args.keep, "tie": args.tie},
                "methods": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
