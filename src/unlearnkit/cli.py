"""The command line: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from unlearnkit import __version__
from unlearnkit.core.errors import UnlearnkitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="unlearnkit: unlearn, audit against an exact retrain oracle, benchmark.",
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err = Console(stderr=True)

Overrides = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. n_people=50 seed=3")
]
PromptFormatOption = Annotated[
    str | None,
    typer.Option(
        "--prompt-format",
        help="how the model was prompted in training: a preset (tofu, llama-2-chat, "
        "llama-3-instruct, qwen2.5-instruct, phi-3.5-instruct, gemma-it, zephyr, chat, "
        "unlearnkit), a YAML/JSON file of fields, or inline YAML such as "
        "\"{template: 'Q: {question}\\nA:', answer_prefix: ' '}\" (default: the format stored "
        "with the model; a model without one is refused)",
    ),
]


def _prompt_format(value: str | None):
    """The --prompt-format value: a preset, a file, or an inline YAML mapping."""
    if value is None:
        return None
    if value.lstrip().startswith("{"):
        import yaml

        return yaml.safe_load(value)
    return value


def _wide() -> bool:
    """Whether the terminal has room for the bootstrap intervals in the tables."""
    return console.width >= 150


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"unlearnkit {__version__}")


@app.command()
def world(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory to write the world to")],
    preset: Annotated[str, typer.Option(help="world preset: test, demo or bench")] = "demo",
    seed: Annotated[
        int | None, typer.Option(help="generation seed (default: the preset's)")
    ] = None,
    overrides: Overrides = None,
) -> None:
    """Generate the synthetic world and write it in the public TOFU / MUSE layouts."""
    from unlearnkit.data.world import generate_world, world_preset

    try:
        spec = world_preset(preset).with_overrides(overrides or [])
        if seed is not None:
            spec = spec.replace(seed=seed)
        path = generate_world(spec).write(out)
    except UnlearnkitError as exc:
        _fail(exc)
    console.print(f"wrote the world ({spec.n_people} people, seed {spec.seed}) to {path}")


@app.command()
def demo(
    preset: Annotated[str, typer.Option(help="build preset: test, demo or bench")] = "demo",
    cache_dir: Annotated[
        Path | None, typer.Option("--cache", help="cache directory (default: ~/.cache/unlearnkit)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write results here")] = None,
    overrides: Overrides = None,
) -> None:
    """Build the demo world, train the target and the exact retrain oracle, print accuracies.

    Overrides address the build spec, e.g. ``train.epochs=20 world.seed=1 forget=forget05``.
    """
    from unlearnkit.core.cache import Cache
    from unlearnkit.core.io import atomic_write_json
    from unlearnkit.runner.build import build_spec
    from unlearnkit.runner.demo import run_demo

    _quiet_libraries()
    try:
        spec = build_spec(preset, overrides or [])
        result = run_demo(spec, cache=Cache(cache_dir), log=lambda m: console.print(m))
    except UnlearnkitError as exc:
        _fail(exc)
    b = result.built
    for art in ("world", "tokenizer", "target", "oracle"):
        state = f"built in {b.seconds[art]:.1f}s" if b.built[art] else "reused from cache"
        console.print(f"  {art:<9} {state}")
    table = Table(title=f"Accuracy ({preset} preset; forget split {spec.forget})")
    table.add_column("evaluation set")
    table.add_column("model")
    for col in ("answer-token acc", "value-token acc", "generation acc"):
        table.add_column(col, justify="right")
    for set_name in next(iter(result.accuracy.values())):
        for role in ("target", "oracle"):
            m = result.accuracy[role][set_name]
            cells = [
                f"{m[k]:.3f}" if k in m else "-"
                for k in ("answer_token_acc", "value_token_acc", "generation_acc")
            ]
            table.add_row(set_name if role == "target" else "", role, *cells)
    console.print(table)
    console.print(f"target: {b.target_dir}\noracle: {b.oracle_dir}\nworld:  {b.world_dir}")
    if json_out is not None:
        atomic_write_json(json_out, result.to_dict())
        console.print(f"results written to {json_out}")


@app.command()
def run(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="experiment spec: a YAML file or a recipe name (default: demo; classifier: "
            "the identity-level image-classifier experiment; recommender: forgetting "
            "interactions, users or items from a recommender)"
        ),
    ] = None,
    runs_dir: Annotated[Path, typer.Option("--runs", help="where runs are written")] = Path("runs"),
    cache_dir: Annotated[
        Path | None, typer.Option("--cache", help="cache directory (default: ~/.cache/unlearnkit)")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            help="key=value override of the spec, e.g. -s seeds=[0,1] -s bootstrap=200 "
            "-s build.train.epochs=8",
        ),
    ] = None,
    report: Annotated[
        bool, typer.Option(help="write the HTML report (RUN_DIR/report/index.html)")
    ] = True,
    prompt_format: PromptFormatOption = None,
) -> None:
    """Run an experiment: build or reuse the models, unlearn, evaluate, print the leaderboard.

    Everything is cached; an interrupted run resumes where it stopped, and a changed
    evaluation setting reuses every model.
    """
    from unlearnkit.core.cache import Cache
    from unlearnkit.report.tables import leaderboard_table
    from unlearnkit.runner.classifier import (
        is_classifier_spec,
        load_classifier_spec,
        run_classifier_experiment,
    )
    from unlearnkit.runner.recommender import (
        is_recommender_spec,
        load_recommender_spec,
        run_recommender_experiment,
    )
    from unlearnkit.runner.run import load_results, run_experiment
    from unlearnkit.runner.spec import load_spec

    _quiet_libraries()
    try:
        if is_recommender_spec(spec):
            result = run_recommender_experiment(
                load_recommender_spec(spec, overrides or []),
                cache=Cache(cache_dir),
                runs_dir=runs_dir,
                log=lambda m: console.print(m),
            )
        elif is_classifier_spec(spec):
            result = run_classifier_experiment(
                load_classifier_spec(spec, overrides or []),
                cache=Cache(cache_dir),
                runs_dir=runs_dir,
                log=lambda m: console.print(m),
            )
        else:
            experiment = load_spec(spec, overrides or [])
            if prompt_format is not None:
                experiment = experiment.replace(prompt_format=_prompt_format(prompt_format))
            result = run_experiment(
                experiment,
                cache=Cache(cache_dir),
                runs_dir=runs_dir,
                log=lambda m: console.print(m),
            )
    except UnlearnkitError as exc:
        _fail(exc)
    if result.built:
        reused = [k for k, fresh in result.built.items() if not fresh]
        console.print(f"reused from the cache: {len(reused)} of {len(result.built)} artefacts")
    console.print(leaderboard_table(load_results(result.run_dir), _wide()))
    console.print(f"run finished in {result.wall_time_s:.1f}s; results: {result.run_dir}")
    if report:
        from unlearnkit.report import write_report

        page = write_report(result.run_dir)
        console.print(f"report: {page}")


@app.command()
def sweep(
    spec: Annotated[
        str | None,
        typer.Argument(help="experiment spec: a YAML file or a recipe name (default: demo)"),
    ] = None,
    sizes: Annotated[
        str, typer.Option(help="comma-separated forget requests")
    ] = "forget01,forget05,forget10,forget25",
    runs_dir: Annotated[Path, typer.Option("--runs", help="where runs are written")] = Path("runs"),
    cache_dir: Annotated[
        Path | None, typer.Option("--cache", help="cache directory (default: ~/.cache/unlearnkit)")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="key=value override of the spec (as for run)"),
    ] = None,
) -> None:
    """Scalability (MUSE): run the experiment once per forget-set size, each against its own
    exact oracle, and print forget quality, utility and cost per method and size.

    Every size is an ordinary cached run (RUNS/<name>-<size>/...); the gathered table is
    written to RUNS/<name>-sweep/sweep.json.
    """
    from unlearnkit.audit.scalability import forget_size_sweep
    from unlearnkit.core.cache import Cache
    from unlearnkit.report.tables import sweep_table
    from unlearnkit.runner.spec import load_spec

    _quiet_libraries()
    try:
        experiment = load_spec(spec, overrides or [])
        result = forget_size_sweep(
            experiment,
            [s.strip() for s in sizes.split(",") if s.strip()],
            cache=Cache(cache_dir),
            runs_dir=runs_dir,
            log=lambda m: console.print(m),
        )
    except UnlearnkitError as exc:
        _fail(exc)
    console.print(sweep_table(result))
    console.print(f"sweep finished in {result.wall_time_s:.1f}s; table: {result.path}")


@app.command("report")
def report_(
    run_dir: Annotated[Path, typer.Argument(help="a run directory (holds results.json)")],
    out: Annotated[
        Path | None, typer.Option(help="where to write (default: RUN_DIR/report)")
    ] = None,
) -> None:
    """Write a run's HTML report (self-contained), its PNG plots and CSV/Markdown tables."""
    from unlearnkit.report import write_report

    try:
        page = write_report(run_dir, out)
    except UnlearnkitError as exc:
        _fail(exc)
    console.print(f"report: {page}")
    console.print(f"plots and tables: {page.parent}")


@app.command()
def compare(
    runs_dir: Annotated[Path, typer.Option("--runs", help="the runs directory")] = Path("runs"),
    name: Annotated[str | None, typer.Option(help="only runs of this experiment")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="also write CSV here")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="also write Markdown here")
    ] = None,
) -> None:
    """Compare the runs listed in RUNS/index.json: one line per run × model."""
    from unlearnkit.core.io import atomic_write_text
    from unlearnkit.report.tables import compare_runs, comparison_table, to_csv, to_markdown

    try:
        lines = compare_runs(runs_dir, name)
    except UnlearnkitError as exc:
        _fail(exc)
    if not lines:
        _fail(
            UnlearnkitError(
                f"no finished runs in {str(runs_dir)!r}" + (f" named {name!r}" if name else "")
            )
        )
    console.print(comparison_table(lines, _wide()))
    tagged = [{**ln, "label": f"{ln['run']}/{ln['run_id']}: {ln['label']}"} for ln in lines]
    if csv_out is not None:
        atomic_write_text(csv_out, to_csv(tagged))
        console.print(f"wrote {csv_out}")
    if markdown is not None:
        atomic_write_text(markdown, to_markdown(tagged))
        console.print(f"wrote {markdown}")


@app.command("list")
def list_(
    what: Annotated[
        str, typer.Argument(help="what to list: methods, metrics, attacks or suites")
    ] = "methods",
) -> None:
    """List registered components with one-line descriptions and papers."""
    from unlearnkit.core.errors import UnknownNameError
    from unlearnkit.evaluation import METRICS, MIA_ATTACKS, SUITES
    from unlearnkit.methods import METHODS
    from unlearnkit.methods.api import register_builtin_methods

    tables = {"methods": METHODS, "metrics": METRICS, "attacks": MIA_ATTACKS, "suites": SUITES}
    if what not in tables:
        _fail(UnknownNameError("listing", what, tables))
    register_builtin_methods()
    table = Table(title=f"unlearnkit {what}")
    cols = (
        ("name", "family", "description", "paper")
        if what == "methods"
        else (
            "name",
            "description",
            "paper",
        )
    )
    for col in cols:
        table.add_column(col, overflow="fold")
    for entry in tables[what].entries():
        desc = entry.obj.description if what == "suites" else entry.description
        cells = [entry.name, desc, str(entry.meta.get("paper", ""))]
        if what == "methods":
            cells.insert(1, str(entry.meta.get("family", "lm")))
        table.add_row(*cells)
    console.print(table)


@app.command("eval")
def eval_(
    model: Annotated[Path, typer.Option("--model", help="Hugging Face model directory")],
    out: Annotated[Path, typer.Option("--out", "-o", help="results JSON to write")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="data directory: a written world, TOFU or MUSE layout (not needed when the "
            "only suite is lm_eval)",
        ),
    ] = None,
    oracle: Annotated[
        Path | None,
        typer.Option("--oracle", help="the retrain oracle's model directory (never saw forget)"),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference", help="reference model of the Reference attack (default: oracle)"
        ),
    ] = None,
    suite: Annotated[
        str, typer.Option("--suite", help="comma-separated suites: tofu, muse, mia")
    ] = "tofu,muse,mia",
    forget: Annotated[
        str, typer.Option(help="forget split: forget01, forget05, forget10, forget25")
    ] = "forget10",
    record: Annotated[
        Path | None,
        typer.Option("--record", help="the unlearning run's record.json (efficiency figures)"),
    ] = None,
    prompt_format: PromptFormatOption = None,
    overrides: Overrides = None,
) -> None:
    """Evaluate a model with the tofu / muse / mia suites; writes a results JSON.

    Overrides set the evaluation config, e.g. ``bootstrap=200 seed=1 batch_size=32``.
    """
    from unlearnkit.evaluation import EvalConfig, evaluate
    from unlearnkit.evaluation.report import print_report

    _quiet_libraries()
    try:
        cfg = EvalConfig(suites=tuple(s.strip() for s in suite.split(",") if s.strip()))
        cfg = cfg.replace(forget=forget).with_overrides(overrides or [])
        report = evaluate(
            model,
            data,
            oracle=oracle,
            reference=reference,
            record=record,
            config=cfg,
            progress=sys.stderr.isatty(),
            prompt_format=_prompt_format(prompt_format),
        )
        report.save(out)
    except UnlearnkitError as exc:
        _fail(exc)
    print_report(report, console)
    console.print(f"results written to {out}")


@app.command()
def audit(
    model: Annotated[Path, typer.Option("--model", help="the unlearned model's directory")],
    data: Annotated[
        Path, typer.Option("--data", help="data directory: a written world or TOFU layout")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="audit report JSON to write")],
    target: Annotated[
        Path | None,
        typer.Option("--target", help="the model before unlearning (reference row, traces)"),
    ] = None,
    oracle: Annotated[
        Path | None,
        typer.Option("--oracle", help="the retrain oracle (reference row, CKA, traces' scale)"),
    ] = None,
    forget: Annotated[
        str, typer.Option(help="forget split: forget01, forget05, forget10, forget25")
    ] = "forget10",
    prompt_format: PromptFormatOption = None,
    overrides: Overrides = None,
) -> None:
    """Robustness audit: relearning, quantization, weight noise, LoRA recovery, form and
    representation probes, parametric traces (docs/audit.md).

    With --target and --oracle they are audited too, and the table shows "forgetting left"
    (1 = as forgotten as the oracle, 0 = as known as the target). Overrides set the audit
    config, e.g. ``relearn_steps=[1,4,16] bits=[8] probe=false``.
    """
    import json
    import math

    from unlearnkit.audit.api import AuditConfig, audit_model, summary_row
    from unlearnkit.audit.data import audit_data
    from unlearnkit.audit.knowledge import forgetting_left, knowledge
    from unlearnkit.audit.relearning import split_records
    from unlearnkit.data.formatting import require_same_format
    from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

    _quiet_libraries()
    try:
        cfg = AuditConfig(forget=forget).with_overrides(overrides or [])
        splits, forms = audit_data(data, forget=forget)
        fmt = _prompt_format(prompt_format)

        def load(path: Path) -> CausalLMAdapter:
            return CausalLMAdapter.from_pretrained(path, prompt_format=fmt)

        adapters = {"model": load(model)}
        if target is not None:
            adapters["target"] = load(target)
        if oracle is not None:
            adapters["oracle"] = load(oracle)
        require_same_format({role: a.prompt_format for role, a in adapters.items()})
        target_measured = None
        if "target" in adapters:
            _, measured = split_records(splits[cfg.forget], cfg.relearn_fraction, cfg.seed)
            target_measured = knowledge(adapters["target"], measured).headline
        reports = {}
        for role, adapter in adapters.items():
            err.print(f"auditing {role} ...")
            reports[role] = audit_model(
                adapter,
                splits,
                forms=forms,
                oracle=adapters.get("oracle"),
                target=adapters.get("target"),
                target_knowledge=target_measured,
                config=cfg,
                log=err.print,
            )
    except (UnlearnkitError, KeyError, ValueError) as exc:
        _fail(exc)
    rows = {role: summary_row(r) for role, r in reports.items()}
    table = Table(title="Robustness audit: forget-set knowledge before and after each attack")
    columns = list(rows["model"])
    table.add_column("model")
    for c in columns:
        table.add_column(c, justify="right")
    for role, row in rows.items():
        table.add_row(role, *(f"{row.get(c, math.nan):.3f}" for c in columns))
    if "target" in rows and "oracle" in rows:
        t, o = rows["target"], rows["oracle"]
        table.add_row(
            "forgetting left",
            *(f"{forgetting_left(rows['model'][c], t[c], o[c]):.2f}" for c in columns),
        )
    console.print(table)
    payload = {
        "kind": "unlearnkit.audit",
        "version": 1,
        "config": cfg.to_dict(),
        "reports": reports,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    console.print(f"audit written to {out}")


@app.command()
def unlearn(
    model: Annotated[Path, typer.Option("--model", help="Hugging Face model directory")],
    data: Annotated[Path, typer.Option("--data", help="TOFU-layout data directory (or world)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    method: Annotated[
        str, typer.Option(help="method name (see `unlearnkit list methods`)")
    ] = "npo",
    forget: Annotated[
        str, typer.Option(help="forget split: forget01, forget05, forget10, forget25")
    ] = "forget10",
    prompt_format: PromptFormatOption = None,
    resume: Annotated[
        bool | None,
        typer.Option(
            "--resume/--no-resume",
            help="--resume: continue from this run's checkpoint in OUT (one must be there); "
            "--no-resume: delete OUT/checkpoints and start afresh (default: continue when "
            "OUT holds this run's checkpoints, refuse another run's)",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="replace the earlier run in OUT: its model/, record.json, log.jsonl and "
            "checkpoints/ are deleted first",
        ),
    ] = False,
    keep_checkpoints: Annotated[
        bool,
        typer.Option(
            "--keep-checkpoints",
            help="keep OUT/checkpoints after the run ends well (deleted by default)",
        ),
    ] = False,
    overrides: Overrides = None,
) -> None:
    """Unlearn a forget split from a model; writes OUT/model (HF directory) and OUT/record.json.

    Overrides set the method's config, e.g. ``lr=1e-3 epochs=5 lora=true``. With
    checkpoint_every=N, a checkpoint of the run is kept in OUT/checkpoints every N steps
    (safetensors and JSON, bound to the method, config, model, data and prompt format); an
    interrupted run continues from it when rerun with the same arguments, and checkpoints
    of another run are refused (--no-resume or --overwrite start afresh).
    """
    from unlearnkit.core.config import parse_overrides
    from unlearnkit.data.loaders import load_tofu
    from unlearnkit.methods.api import method_config
    from unlearnkit.methods.api import unlearn as run

    _quiet_libraries()
    try:
        cfg = method_config(method, parse_overrides(overrides or []))
        tofu = load_tofu(data, forget=forget)
        _, record = run(
            model,
            tofu.forget,
            tofu.retain,
            method,
            config=cfg,
            out_dir=out,
            resume=resume,
            overwrite=overwrite,
            keep_checkpoints=keep_checkpoints,
            prompt_format=_prompt_format(prompt_format),
        )
    except UnlearnkitError as exc:
        _fail(exc)
    console.print(
        f"{method}: {record.steps} steps in {record.wall_time_s:.1f}s, "
        f"{record.parameters_changed:,} of {record.parameters_total:,} parameters changed; "
        f"final losses {', '.join(f'{k}={v:.4f}' for k, v in record.final_losses.items())}"
    )
    console.print(f"unlearned model: {out / 'model'}\nrecord: {out / 'record.json'}")


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
