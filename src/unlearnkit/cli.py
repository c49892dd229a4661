"""The command line: a thin layer that parses arguments and calls the library.

Every command's errors go through one path (:class:`_Commands`): an expected failure (a
config, data, model, disk or cache problem: :class:`UnlearnkitError`, a full, read-only or
forbidden disk, running out of memory) exits with status 2 and one paragraph that names the
file and the fix; anything else is a bug, shown with its traceback and a request to report
it (status 1). ``--debug`` (before or after the command) or ``UNLEARNKIT_DEBUG=1`` adds the
traceback to expected failures too. Ctrl-C exits with status 130.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from unlearnkit import __version__
from unlearnkit.core.errors import ConfigError, UnlearnkitError

DEBUG_ENV = "UNLEARNKIT_DEBUG"
#: the options that name where a command writes, for the message of a disk error
_OUTPUT_PARAMS = ("out", "runs_dir", "cache_dir", "json_out", "csv_out", "markdown")
#: errno values of a disk that cannot take a write (or a file we may not open)
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
#: what passes through the error path untouched: typer's usage errors (exit 2 with their
#: own message), --help, and the exits the commands ask for
_TYPER_EXITS = (typer.TyperException, typer.Exit, typer.Abort)


class _Invocation:
    """What the error path needs to know about the command being run (reset per call)."""

    debug: bool = False
    group: Any = None  # the group's context
    command: tuple[str, Any, list[str]] | None = None  # (name, command, its arguments)
    showwarning: Any = warnings.showwarning  # how Python showed warnings before the command


class _Commands(TyperGroup):
    """The command group, with the one error path every command goes through."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _Invocation.debug, _Invocation.group, _Invocation.command = False, ctx, None
        # --debug also after the command (``unlearnkit run spec.yaml --debug``)
        end = args.index("--") if "--" in args else len(args)
        first = next((i for i, a in enumerate(args[:end]) if not a.startswith("-")), end)
        tail = args[first + 1 : end]
        if "--debug" in tail:
            _Invocation.debug = True
            args = [*args[: first + 1], *(a for a in tail if a != "--debug"), *args[end:]]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name is not None and cmd is not None:
            _Invocation.command = (name, cmd, list(rest))
        return name, cmd, rest

    def invoke(self, ctx: Any) -> Any:
        shown = _Invocation.showwarning = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except _TYPER_EXITS:
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # the one error path of every command (module docstring)
            _report(exc)
        finally:
            warnings.showwarning = shown


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """unlearnkit's own warnings as one ``warning:`` paragraph (no source line); others as
    Python shows them."""
    ours = category.__module__.startswith("unlearnkit") or filename.startswith(_PACKAGE_DIR)
    if not ours:
        _Invocation.showwarning(message, category, filename, lineno, file, line)
        return
    err.print(f"[yellow]warning:[/] {escape(' '.join(str(message).split()))}", soft_wrap=True)


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    help="unlearnkit: unlearn, audit against an exact retrain oracle, benchmark.",
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err = Console(stderr=True)


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help=f"show the full traceback of an error (also after the command, or {DEBUG_ENV}=1)",
        ),
    ] = False,
) -> None:
    """unlearnkit: unlearn, audit against an exact retrain oracle, benchmark."""
    if debug:
        _Invocation.debug = True


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

        from unlearnkit.core.config import yaml_problem

        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(
                "options", "--prompt-format", value, f"not valid inline YAML ({yaml_problem(exc)})"
            ) from None
    return value


def _wide() -> bool:
    """Whether the terminal has room for the bootstrap intervals in the tables."""
    return console.width >= 150


def _debug() -> bool:
    """Whether tracebacks are wanted: --debug, or UNLEARNKIT_DEBUG set to 1/true/yes."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return _Invocation.debug


def _fail(exc: Exception) -> NoReturn:
    """Report an expected failure (one paragraph, exit status 2)."""
    _report(exc)


def _report(exc: BaseException) -> NoReturn:
    """The one error path: an expected failure as one paragraph (exit 2; the traceback too
    under --debug), anything else as a bug with its traceback (exit 1)."""
    message = _expected(exc)
    if message is None:
        traceback.print_exception(exc, file=sys.stderr)
        err.print(
            f"[bold red]unlearnkit {__version__} failed unexpectedly:[/] "
            f"{escape(type(exc).__name__)}: {escape(_one_line(exc))}. This is a bug in "
            "unlearnkit, not in your input: please report it to the unlearnkit maintainers "
            "with the command you ran and the traceback above.",
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
    if _debug() and exc.__traceback__ is not None:
        traceback.print_exception(exc, file=sys.stderr)
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=2)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _expected(exc: BaseException) -> str | None:
    """The paragraph for an expected failure, or None for a bug."""
    if isinstance(exc, UnlearnkitError):
        return _one_line(exc)
    disk = _disk_error(exc)
    if disk is not None:
        return _disk_message(*disk, exc, _outputs())
    for link in _chain(exc):
        if type(link).__name__ == "OutOfMemoryError":  # torch's, for a GPU
            return (
                f"out of GPU memory ({_one_line(link).split('. ')[0]}). Lower the batch "
                "size (batch_size=8, or -s batch_size=8 for run), use bfloat16 weights or a "
                "smaller model, or free the GPU"
            )
        if isinstance(link, MemoryError):
            return (
                "out of memory. Lower the batch size (batch_size=8, or -s batch_size=8 for "
                "run), use fewer workers, or a machine with more memory"
            )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, outermost first."""
    out: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and all(link is not seen for seen in out):
        out.append(link)
        link = link.__cause__ or link.__context__
    return out


def _disk_error(exc: BaseException) -> tuple[int, str | None] | None:
    """(errno, file) when ``exc`` comes from a disk that is full, read-only or forbidden."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _DISK_ERRNOS:
            return link.errno, link.filename
        # I/O errors of Rust libraries (safetensors) come as plain text: "(os error 28)"
        found = re.search(r"\(os error (\d+)\)", str(link))
        if found and int(found.group(1)) in _DISK_ERRNOS:
            return int(found.group(1)), None
    return None


def _disk_message(code: int, file: str | None, exc: BaseException, where: str) -> str:
    file = _shown_path(file) if file else _written_path(exc)
    options = f" ({where})" if where else ""
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full" if code == errno.ENOSPC else "the disk quota is used up"
        at = f" while writing {file}" if file else ""
        return f"{what}{at} ({_one_line(exc)}). Free some space, or write elsewhere{options}."
    if code == errno.EROFS:
        at = file or "the output folder"
        return f"{at} is on a read-only file system ({_one_line(exc)}). Write elsewhere{options}."
    at = file or "a file this command needs"
    return (
        f"permission denied for {at} ({_one_line(exc)}). Make it writable (readable, for an "
        f"input) by you, or write elsewhere{options}."
    )


def _shown_path(file: str) -> str:
    """A path for messages: a temporary folder of an atomic write is named by its parent."""
    path = Path(file)
    for part in (path, *path.parents):
        if part.name.startswith(".") and part.name.endswith((".tmp", ".old")):
            return f"{part.parent} (a temporary folder in it)"
    return str(path)


def _written_path(exc: BaseException) -> str | None:
    """The file or folder being written when ``exc`` (an OSError without a file name, such
    as a write() on a full disk) was raised: the innermost unlearnkit frame's ``path``,
    ``tmp``, ``target`` or ``out``."""
    for link in _chain(exc):
        frames = []
        tb = link.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):
            if not str(frame.f_globals.get("__name__", "")).startswith("unlearnkit."):
                continue
            for name in ("path", "tmp", "target", "out"):
                value = frame.f_locals.get(name)
                if isinstance(value, (str, Path)) and str(value):
                    return _shown_path(str(value))
    return None


def _outputs() -> str:
    """The invoked command's output options and their values ("--runs runs, --cache ...")."""
    if _Invocation.command is None or _Invocation.group is None:
        return ""
    name, cmd, rest = _Invocation.command
    try:
        sub = cmd.make_context(name, list(rest), parent=_Invocation.group, resilient_parsing=True)
    except _TYPER_EXITS:
        return ""
    shown = []
    for param in cmd.params:
        if param.name not in _OUTPUT_PARAMS or not param.opts:
            continue
        value = sub.params.get(param.name)
        if value is None and param.name == "cache_dir":
            from unlearnkit.core.cache import default_cache_dir

            value = default_cache_dir()
        if value is not None:
            shown.append(f"{param.opts[0]} {value}")
    return ", ".join(shown)


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
            help="experiment spec: a YAML file (its `kind:` names the family; none: a "
            "language model) or a family's default (`unlearnkit list families`: demo, "
            "classifier, recommender)"
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
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="processes for the run's independent jobs (default: the family's; one per "
            "CPU, at most four, for the embedded LM benchmark); the results do not depend on it",
        ),
    ] = None,
) -> None:
    """Run an experiment: build or reuse the models, unlearn, evaluate, print the leaderboard.

    Everything is cached; an interrupted run resumes where it stopped, and a changed
    evaluation setting reuses every model.
    """
    from unlearnkit.core.cache import Cache
    from unlearnkit.report.tables import leaderboard_table
    from unlearnkit.runner.run import load_results, run_experiment
    from unlearnkit.runner.spec import load_any_spec

    _quiet_libraries()
    try:
        experiment = load_any_spec(spec, overrides or [])
        if prompt_format is not None:
            if not hasattr(experiment, "prompt_format"):
                raise UnlearnkitError(
                    "--prompt-format is how a language model was prompted in training; "
                    f"this is a {type(experiment).__name__} run: leave it out"
                )
            experiment = experiment.replace(prompt_format=_prompt_format(prompt_format))
        result = run_experiment(
            experiment,
            cache=Cache(cache_dir),
            runs_dir=runs_dir,
            log=lambda m: console.print(m),
            workers=workers,
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
    from unlearnkit.core.cache import Cache
    from unlearnkit.report.tables import sweep_table
    from unlearnkit.runner.scalability import forget_size_sweep
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
        str, typer.Argument(help="what to list: methods, families, metrics, attacks or suites")
    ] = "methods",
    family: Annotated[
        str | None,
        typer.Option(
            "--family", help="methods, metrics: only this family's (`unlearnkit list families`)"
        ),
    ] = None,
) -> None:
    """List registered components with one-line descriptions and papers."""
    from unlearnkit.core.errors import UnknownNameError
    from unlearnkit.evaluation import METRICS, MIA_ATTACKS, SUITES
    from unlearnkit.evaluation.metrics.base import metric_family
    from unlearnkit.methods import METHODS
    from unlearnkit.methods.api import method_family, methods_of, register_builtin_methods
    from unlearnkit.runner.families import FAMILIES, get_family

    tables = {
        "methods": METHODS,
        "families": FAMILIES,
        "metrics": METRICS,
        "attacks": MIA_ATTACKS,
        "suites": SUITES,
    }
    if what not in tables:
        _fail(UnknownNameError("listing", what, tables))
    if family is not None and what not in ("methods", "metrics"):
        _fail(
            UnlearnkitError(
                f"--family selects methods or metrics: `unlearnkit list methods --family {family}`"
            )
        )
    register_builtin_methods()
    if what == "families":
        table = Table(title="unlearnkit families")
        for col in ("name", "description", "methods", "default spec"):
            table.add_column(col, overflow="fold")
        for name in FAMILIES.names():
            cls = FAMILIES.get(name)
            n = len(methods_of(cls.method_family))
            default = "demo" if name == "lm" else name
            table.add_row(name, cls.description, str(n), f"unlearnkit run {default}")
        console.print(table)
        return
    if family is not None:
        try:
            family = get_family(family).method_family
        except UnlearnkitError as exc:
            _fail(exc)
    table = Table(title=f"unlearnkit {what}" + (f" of the {family} family" if family else ""))
    family_of = {"methods": method_family, "metrics": metric_family}.get(what)
    cols = (
        ("name", "family", "description", "paper")
        if family_of
        else ("name", "description", "paper")
    )
    for col in cols:
        table.add_column(col, overflow="fold")
    for entry in tables[what].entries():
        if family is not None and family_of is not None and family_of(entry.name) != family:
            continue
        desc = entry.obj.description if what == "suites" else entry.description
        cells = [entry.name, desc, str(entry.meta.get("paper", ""))]
        if family_of is not None:
            cells.insert(1, family_of(entry.name))
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
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # outside a command (the group's own handler catches inside)
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
