"""Every LM method on the demo world, in one table (issue 7).

All registered methods with their (tuned) defaults run through `unlearnkit run` (cached)
with a light audit: 16 relearning steps on half of the forget set (knowledge of the other
half) and int4 round-to-nearest weights. Per method: forget quality, model utility,
PrivLeak, the relearning and quantization recovery as a fraction of the forgotten gap
((attacked - unlearned) / (target - unlearned): 0 = nothing comes back, 1 = all of it), and
the time as a share of retraining. Methods that need a mixture of experts (UOE) run on the
MoE demo world (the demo world with a 4-expert Mixtral target and oracle), next to NPO and
GradDiff on all weights of the same model. Writes benchmarks/results/methods_demo.json.

The corpus requests have tables of their own (their forget set is not people, so there is
no forget quality): RMU (and baselines) forgetting the hazardous domain of the WMDP-like
world (hazard / benign four-option accuracy, chance 0.25), and WHP (with the book's
anchored terms, and with reinforcement only) and baselines forgetting the world's book
(KnowMem / VerbMem on the book, KnowMem on retain people). Relearning there fine-tunes 16
steps on half the hazardous entities' passages (measured on the other half's questions) or
on half the chapters (measured on the book's questions).

    python benchmarks/methods_demo.py [--methods npo,wga] [--moe-baselines npo,grad_diff]
        [--wmdp rmu,npo,grad_diff] [--book whp,npo,grad_diff]  (empty: skip) [--no-demo]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from unlearnkit.audit.api import AuditConfig
from unlearnkit.audit.knowledge import recovered_fraction
from unlearnkit.core.cache import Cache
from unlearnkit.methods import METHODS
from unlearnkit.methods.api import methods_of, register_builtin_methods
from unlearnkit.report.tables import TIME_COLUMN, leaderboard
from unlearnkit.runner.build import build_spec
from unlearnkit.runner.run import load_results, run_experiment
from unlearnkit.runner.spec import MethodSpec, load_spec

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=None, help="comma-separated (default: all)")
    parser.add_argument("--no-demo", action="store_true", help="only the corpus requests")
    parser.add_argument("--moe-baselines", default="npo,grad_diff")
    parser.add_argument("--wmdp", default="rmu,npo,grad_diff,simnpo", help="on the domains")
    parser.add_argument("--book", default="whp,npo,grad_diff,simnpo", help="on the book")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "methods_demo.json")
    args = parser.parse_args()
    register_builtin_methods()
    names = args.methods.split(",") if args.methods else methods_of("lm")
    if args.no_demo:
        names = []
    dense = [n for n in names if not getattr(METHODS.get(n), "requires_moe", False)]
    moe = [n for n in names if n not in dense]
    demo = load_spec(None)
    t0 = time.perf_counter()
    table = {}
    if dense:
        table.update(measure(demo, "methods", dense, args.runs))
    if moe:
        spec = demo.replace(build=build_spec("moe"))
        baselines = [n for n in args.moe_baselines.split(",") if n]
        rows = measure(spec, "methods-moe", moe + baselines, args.runs)
        table.update({f"{label} [moe]": row for label, row in rows.items()})
    corpus = {}
    if args.wmdp:
        corpus["wmdp"] = measure_corpus("wmdp", args.wmdp.split(","), args.runs)
    if args.book:
        corpus["book"] = measure_corpus("book", args.book.split(","), args.runs)
    wall = time.perf_counter() - t0

    def f(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    print(
        f"{'model':<25}{'FQ':>10}{'MU':>7}{'PrivLeak':>10}{'forget':>8}"
        f"{'relearn16':>10}{'int4':>7}{'time %':>8}"
    )
    for label, t in table.items():
        print(
            f"{label:<25}{f(t['forget quality'], '.3g'):>10}{f(t['model utility'], '.3f'):>7}"
            f"{f(t['PrivLeak'], '.1f'):>10}{f(t['forget knowledge'], '.3f'):>8}"
            f"{f(t['relearn16 recovery'], '.2f'):>10}{f(t['int4 recovery'], '.2f'):>7}"
            f"{f(t['time %'], '.1f'):>8}"
        )
    for preset, rows in corpus.items():
        cols = [c for c in next(iter(rows.values())) if c not in ("wall_time_s",)]
        what = "forget the hazardous domain" if preset == "wmdp" else "forget the book"
        print(f"\n{preset} ({what})")
        print(f"{'model':<25}" + "".join(f"{c:>18}" for c in cols))
        for label, t in rows.items():
            print(f"{label:<25}" + "".join(f"{f(t[c], '.3g'):>18}" for c in cols))
    # a call for some methods adds its rows to the table of earlier calls
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out = {"wall_time_s": wall, "table": {**previous.get("table", {}), **table}}
    for preset in ("wmdp", "book"):
        merged = {**previous.get(preset, {}), **corpus.get(preset, {})}
        if merged:
            out[preset] = merged
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"{wall:.1f}s; wrote {args.out}")


def measure(base, name: str, methods: list[str], runs: Path) -> dict[str, dict]:
    """Run ``methods`` (demo configs where the demo has them) with the light audit and
    return the table rows by label."""
    demo_configs = {m.name: m.config for m in base.methods}
    specs = tuple(MethodSpec(n, config=dict(demo_configs.get(n, {}))) for n in methods)
    audit = AuditConfig(
        bits=(4,),
        noise=(),
        relearn_steps=(16,),
        related=False,
        lora_steps=(),
        forms=(),
        probe=False,
        traces=False,
        requests=0,
    )
    spec = base.replace(name=name, methods=specs, audit=audit)
    result = run_experiment(spec, cache=Cache(), runs_dir=runs, progress=False, log=print)
    results = load_results(result.run_dir)
    lines = {line["label"]: line for line in leaderboard(results)}
    target = next(r for r in results["rows"] if r["kind"] == "target")
    table = {}
    for row in results["rows"]:
        audit_row = {k: float(v) for k, v in row["audit"].items()}
        line = lines[row["label"]]
        forget = audit_row["forget"]
        relearn0, relearn16 = audit_row["relearn@0"], audit_row["relearn@16"]
        t_relearn0 = float(target["audit"]["relearn@0"])
        table[row["label"]] = {
            "forget quality": line["forget quality"]["value"],
            "model utility": line["model utility"]["value"],
            "PrivLeak": line["PrivLeak"]["value"],
            "forget knowledge": forget,
            "relearn16 recovery": recovered_fraction(relearn16, relearn0, t_relearn0),
            "int4 recovery": recovered_fraction(
                audit_row["int4"], forget, float(target["audit"]["forget"])
            ),
            "time %": (line.get(TIME_COLUMN) or {}).get("value"),
            "wall_time_s": (row.get("efficiency") or {}).get("wall_time_s"),
        }
    return table


#: settings selected on the held-out tuning worlds by benchmarks/tune_corpus.py (the
#: methods' defaults are tuned for forgetting people)
CORPUS_CONFIGS = {
    ("wmdp", "rmu"): {"lr": 5e-3, "epochs": 20, "alpha": 100.0, "auto_coeff_scale": 20.0},
}


def measure_corpus(preset: str, methods: list[str], runs: Path) -> dict[str, dict]:
    """Run ``methods`` on the corpus request of build preset ``preset`` (``wmdp``: forget
    the hazardous domain; ``book``: forget the book; WHP also without its dictionary) with
    the light audit, and return the table rows by label."""
    from unlearnkit.runner.build import build

    spec_build = build_spec(preset)
    forget = spec_build.forget
    specs = []
    for n in methods:
        if n == "whp":
            built = build(spec_build, cache=Cache(), log=print)
            anchors = str(built.world_dir / "book" / "book.json")
            specs += [
                MethodSpec("whp", config={"anchors_file": anchors}),
                MethodSpec("whp", label="whp (no anchors)"),
            ]
        elif (preset, n) in CORPUS_CONFIGS:  # tuned for the request, and the defaults
            specs += [
                MethodSpec(n, config=dict(CORPUS_CONFIGS[(preset, n)])),
                MethodSpec(n, label=f"{n} (defaults)"),
            ]
        else:
            specs.append(MethodSpec(n))
    audit = AuditConfig(
        forget=forget,
        bits=(4,),
        noise=(),
        relearn_steps=(16,),
        related=False,
        lora_steps=(),
        forms=(),
        probe=False,
        traces=False,
        requests=0,
    )
    suites = ("wmdp", "muse") if forget == "hazard" else ("muse",)
    spec = load_spec(None).replace(
        name=f"methods-{preset}",
        build=spec_build,
        forget=forget,
        methods=tuple(specs),
        suites=suites,
        audit=audit,
    )
    result = run_experiment(spec, cache=Cache(), runs_dir=runs, progress=False, log=print)
    results = load_results(result.run_dir)
    lines = {line["label"]: line for line in leaderboard(results)}
    target = next(r for r in results["rows"] if r["kind"] == "target")
    t_relearn0 = float(target["audit"]["relearn@0"])
    table = {}
    for row in results["rows"]:
        a = {k: float(v) for k, v in row["audit"].items()}
        line = lines[row["label"]]
        cells = {label: line[label]["value"] for label in line["columns"]}
        table[row["label"]] = {
            **cells,
            "audited knowledge": a["forget"],
            "relearn16 recovery": recovered_fraction(a["relearn@16"], a["relearn@0"], t_relearn0),
            "relearn@16": a["relearn@16"],
            "int4 recovery": recovered_fraction(
                a["int4"], a["forget"], float(target["audit"]["forget"])
            ),
            "time %": (line.get(TIME_COLUMN) or {}).get("value"),
            "wall_time_s": (row.get("efficiency") or {}).get("wall_time_s"),
        }
    return table


if __name__ == "__main__":
    main()
