"""The hyperparameter search behind the defaults of the corpus methods (docs/methods.md):
WHP on the book, RMU on the hazardous domain.

Like ``tune_methods.py`` for people, on a *tuning* world held out from the reported one:
the ``book`` / ``wmdp`` build preset with world seed 1 and model seed 1. Each setting is
scored by the request's headline after unlearning (``book``: KnowMem on the book's
questions; ``hazard``: four-option accuracy on the hazardous questions) and by what it
keeps (KnowMem on retain people; for ``hazard`` also the benign accuracy). The rule: among
the settings that keep every kept measure >= ``--keep`` (0.90) of the target's, the lowest
forget score; settings within ``--tie`` (0.01) of it are tied and the one keeping the most
wins. The oracle is not used. Writes every point to ``--out``.

    .venv/bin/python benchmarks/tune_corpus.py --preset book [--grid JSON]
    .venv/bin/python benchmarks/tune_corpus.py --preset wmdp
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from unlearnkit.evaluation.api import EvalConfig, evaluate
from unlearnkit.methods import unlearn
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.runner.build import build, build_spec

ROOT = Path(__file__).resolve().parents[1]
TUNING_BUILD = ["world.seed=1", "model_seed=1"]

#: preset -> (method, grid, forget key, kept keys, suites)
SEARCHES = {
    "book": (
        "whp",
        {"lr": [5e-4, 1e-3, 3e-3], "epochs": [3, 5, 10], "alpha": [2.0, 5.0]},
        "muse/knowmem_forget",
        ("muse/knowmem_retain",),
        ("muse",),
    ),
    "wmdp": (
        "rmu",
        {
            "lr": [2e-3, 5e-3],
            "epochs": [10, 20],
            "alpha": [10.0, 50.0, 100.0],
            "auto_coeff_scale": [4.0, 20.0],
        },
        "wmdp/hazard",
        ("wmdp/benign", "muse/knowmem_retain"),
        ("wmdp", "muse"),
    ),
}


def scores(adapter, world, forget: str, suites) -> dict[str, float]:
    cfg = EvalConfig(suites=suites, forget=forget, bootstrap=0)
    report = evaluate(adapter, world, config=cfg, progress=False)
    return {k: float(v) for k, v in report.summary().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(SEARCHES), required=True)
    parser.add_argument("--grid", type=json.loads, default=None, help="override the grid")
    parser.add_argument("--keep", type=float, default=0.90)
    parser.add_argument("--tie", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    method, grid, forget_key, kept_keys, suites = SEARCHES[args.preset]
    grid = args.grid or grid
    out = args.out or ROOT / "benchmarks" / "results" / f"tune_corpus_{args.preset}.json"
    built = build(build_spec(args.preset, TUNING_BUILD), progress=False, log=print)
    forget = built.spec.forget
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    base = scores(target, world, forget, suites)
    print("target", {k: round(base[k], 3) for k in (forget_key, *kept_keys)})
    extra = {}
    if method == "whp":
        extra["anchors_file"] = str(built.world_dir / "book" / "book.json")
    forget_set, retain_set = world.corpus_sets(forget)
    points = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        setting = dict(zip(keys, values, strict=True))
        t0 = time.perf_counter()
        model, _ = unlearn(
            CausalLMAdapter.from_pretrained(built.target_dir),
            forget_set,
            retain_set,
            method,
            progress=False,
            **extra,
            **setting,
        )
        s = scores(model, world, forget, suites)
        kept = {k: s[k] / base[k] if base[k] else float("nan") for k in kept_keys}
        point = {
            "setting": setting,
            "forget": s[forget_key],
            "kept": kept,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        points.append(point)
        print(point)
    ok = [p for p in points if all(v >= args.keep for v in p["kept"].values())]
    best = None
    if ok:
        low = min(p["forget"] for p in ok)
        tied = [p for p in ok if p["forget"] <= low + args.tie]
        best = max(tied, key=lambda p: min(p["kept"].values()))
    print("selected:", best)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "preset": args.preset,
                "tuning_build": TUNING_BUILD,
                "method": method,
                "target": base,
                "rule": {"keep": args.keep, "tie": args.tie},
                "points": points,
                "selected": best,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
