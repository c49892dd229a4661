"""``unlearnkit run``: build or reuse everything an experiment needs, run what is missing.

Every expensive artefact is a cache entry keyed by a content hash of what determines it:
the world, tokenizer, target and oracle (:mod:`unlearnkit.runner.build`), each unlearned
model (target weights + forget/retain data + method config + seed), and each evaluation
report (model weights + data + evaluation settings + oracle weights). A cache entry is
written in a temporary directory and renamed into place when complete, so an interrupted
run (Ctrl-C, kill) leaves nothing half-written, and the next invocation redoes only what
is missing. Changing an evaluation setting reuses every model.

A run writes ``RUNS/<name>/<run id>/``: ``spec.yaml``, ``results.json`` (one row per model:
target, oracle, method × seed, with the headline metrics, the efficiency figures and the
path of its full evaluation report) and ``reports/``. ``RUNS/index.json`` lists every run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from tqdm.auto import tqdm

from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.errors import RunFailedError, UnlearnkitError
from unlearnkit.core.io import atomic_write_json, atomic_write_text, pid_alive, strict_json
from unlearnkit.data.formatting import require_same_format
from unlearnkit.evaluation.api import EvalReport, evaluate, library_versions
from unlearnkit.evaluation.context import MEMO_FORMAT, EvalContext, records_hash
from unlearnkit.evaluation.data import EvalData, eval_data
from unlearnkit.evaluation.efficiency import oracle_training_cost
from unlearnkit.evaluation.suites import SUITES
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
from unlearnkit.runner.schedule import InlineExecutor, Job, run_jobs
from unlearnkit.runner.spec import ExperimentSpec

RESULTS_KIND = "unlearnkit.run"
RESULTS_VERSION = 1

#: the leaderboard's columns: (label, report key, format)
HEADLINE: tuple[tuple[str, str], ...] = (
    ("forget quality", "tofu/forget/forget_quality"),
    ("model utility", "tofu/model_utility"),
    ("forget ROUGE-L", "tofu/forget/rouge_l"),
    ("PrivLeak", "muse/privleak"),
    ("MIA AUC (Min-K%)", "mia/mia_min_k"),
)
#: the leaderboard's columns for the corpus requests (forget the book / the hazard domain)
CORPUS_HEADLINES: dict[str, tuple[tuple[str, str], ...]] = {
    "book": (
        ("VerbMem forget", "muse/verbmem_forget"),
        ("KnowMem forget", "muse/knowmem_forget"),
        ("KnowMem retain", "muse/knowmem_retain"),
        ("PrivLeak", "muse/privleak"),
    ),
    "hazard": (
        ("WMDP hazard acc", "wmdp/hazard"),
        ("WMDP benign acc", "wmdp/benign"),
        ("KnowMem retain", "muse/knowmem_retain"),
        ("PrivLeak", "muse/privleak"),
    ),
}


def headline_for(forget: str) -> tuple[tuple[str, str], ...]:
    """The leaderboard's (label, report key) columns of a forget request."""
    return CORPUS_HEADLINES.get(forget, HEADLINE)


def _headline(spec: Any) -> tuple[tuple[str, str], ...]:
    """A spec's own headline (classifier runs) or its forget request's."""
    own = getattr(spec, "headline", None)
    return tuple(own) if own else headline_for(spec.forget)


@dataclass
class Row:
    """One model of a run: the target, the oracle, or a method with a seed."""

    label: str
    kind: str  # "target" | "oracle" | "method"
    method: str | None
    seed: int | None
    metrics: dict[str, float]
    ci: dict[str, list[float] | None]
    report: str
    model_dir: str
    efficiency: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    paper: str | None = None
    audit: dict[str, float] | None = None  # the audit's summary row, when audited
    audit_report: str | None = None
    sequence: list[dict[str, Any]] | None = None  # the sequential requests' history
    sequence_report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "method": self.method,
            "seed": self.seed,
            "metrics": {k: _jf(v) for k, v in self.metrics.items()},
            "ci": {k: [_jf(x) for x in v] if v else None for k, v in self.ci.items()},
            "report": self.report,
            "model_dir": self.model_dir,
            "efficiency": self.efficiency,
            "config": self.config,
            "paper": self.paper,
            "audit": {k: _jf(v) for k, v in self.audit.items()} if self.audit else None,
            "audit_report": self.audit_report,
            "sequence": strict_json(self.sequence) if self.sequence is not None else None,
            "sequence_report": self.sequence_report,
        }


def _jf(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


@dataclass
class RunResult:
    """What a run produced, and what it reused."""

    spec: ExperimentSpec
    run_dir: Path
    rows: list[Row]
    built: dict[str, bool]  # artefact -> built now (False: reused)
    seconds: dict[str, float]
    wall_time_s: float
    oracle_cost: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": RESULTS_KIND,
            "version": RESULTS_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
            "spec": self.spec.to_dict(),
            "run_dir": str(self.run_dir),
            "wall_time_s": self.wall_time_s,
            "built": self.built,
            "seconds": self.seconds,
            "oracle_cost": self.oracle_cost,
            "headline": [{"label": a, "key": k} for a, k in _headline(self.spec)],
            "rows": [r.to_dict() for r in self.rows],
        }


def run_id(spec: ExperimentSpec) -> str:
    """A run's id: a content hash of its spec (the same spec re-run lands in the same place)."""
    return content_hash(spec.to_dict(), length=10)


def run_folder(spec: Any, runs_dir: str | Path) -> Path:
    """``RUNS/<name>/<run id>``: where a run of ``spec`` (any family's) is written."""
    return Path(runs_dir) / spec.name / run_id(spec)


def run_experiment(
    spec: ExperimentSpec,
    *,
    cache: Cache | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    log: Callable[[str], None] = print,
    workers: int | None = None,
) -> RunResult:
    """Run ``spec``: build or reuse the models, unlearn, evaluate, write the results.

    ``workers``: processes for the independent jobs (default: one per CPU, at most four,
    for the embedded benchmark; one for real models, whose jobs each hold a full model, and
    on a GPU). The results do not depend on it.

    The run directory's ``status.json`` says how the last invocation went (:func:`run_status`):
    ``running``, ``ok``, or ``failed`` with the error; a failed run has no ``results.json``.
    """
    run_dir = run_folder(spec, runs_dir)
    with run_status(run_dir, spec):
        return _run_experiment(
            spec, cache=cache, runs_dir=runs_dir, progress=progress, log=log, workers=workers
        )


STATUS_FILE = "status.json"
STATUS_KIND = "unlearnkit.run-status"


@contextlib.contextmanager
def run_status(run_dir: str | Path, spec: Any = None) -> Iterator[None]:
    """Keep ``RUN_DIR/status.json`` true while the body runs a run into ``run_dir``.

    Before: ``running`` (with this process's pid), the spec written to ``spec.yaml`` and a
    ``results.json`` left by an earlier invocation removed (the folder describes this one).
    After: ``ok``; or, when the body raises (Ctrl-C included), ``failed`` with the error's
    type, message and traceback, and the error is raised on. :func:`load_results` on a
    failed run raises :class:`RunFailedError` saying why.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    base = {"kind": STATUS_KIND, "version": 1, "started": started, "pid": os.getpid()}
    if spec is not None:
        spec.to_yaml(run_dir / "spec.yaml")
    (run_dir / "results.json").unlink(missing_ok=True)
    atomic_write_json(run_dir / STATUS_FILE, {**base, "status": "running"})
    try:
        yield
    except BaseException as exc:
        message = " ".join(str(exc).split()) or (
            "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else ""
        )
        failed = {
            **base,
            "status": "failed",
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_time_s": time.perf_counter() - t0,
            "error": {
                "type": type(exc).__name__,
                "message": message,
                "traceback": "".join(traceback.format_exception(exc))[-20000:],
            },
        }
        # best effort: a full or read-only disk must not hide the error being reported
        with contextlib.suppress(OSError):
            atomic_write_json(run_dir / STATUS_FILE, failed)
        raise
    atomic_write_json(
        run_dir / STATUS_FILE,
        {
            **base,
            "status": "ok",
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_time_s": time.perf_counter() - t0,
        },
    )


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """A run directory's ``status.json`` (None when absent or unreadable)."""
    try:
        data = json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == STATUS_KIND else None


def _run_experiment(
    spec: ExperimentSpec,
    *,
    cache: Cache | None,
    runs_dir: str | Path,
    progress: bool,
    log: Callable[[str], None],
    workers: int | None,
) -> RunResult:
    t0 = time.perf_counter()
    cache = cache or Cache()
    if workers is None:
        from unlearnkit.runner.workers import default_workers

        workers = default_workers() if spec.embedded else 1
    built: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    target_dir, oracle_dir, missing = _locate(spec, cache, built, seconds)
    run_dir = run_folder(spec, runs_dir)
    (run_dir / "reports").mkdir(parents=True, exist_ok=True)
    spec.to_yaml(run_dir / "spec.yaml")
    from unlearnkit.methods import METHODS

    # the plan: every model to evaluate, in the order of the leaderboard
    evals: list[dict[str, Any]] = [{"label": "target", "kind": "target", "model_dir": target_dir}]
    if oracle_dir is not None:
        evals.append({"label": "oracle", "kind": "oracle", "model_dir": oracle_dir})
    by_label = {e["label"]: e for e in evals}
    args = (spec.to_dict(), str(cache.root))
    # oracle reference values are computed once, by the oracle's own evaluation
    after_oracle = ("eval:oracle",) if oracle_dir is not None else ()

    def finished(kind: str, label: str, result: tuple) -> None:
        *_, fresh, secs = result
        built[f"{kind}:{label}"], seconds[f"{kind}:{label}"] = fresh, secs
        if fresh:
            log(f"{'unlearned' if kind == 'unlearn' else 'evaluated'} {label} in {secs:.1f}s")

    def eval_job(e: dict[str, Any], deps: tuple[str, ...], priority: int) -> Job:
        def then(result: tuple) -> None:
            finished("eval", e["label"], result)
            e["report"] = EvalReport.load(result[0])

        record = _str(e.get("record"))
        return Job(
            f"eval:{e['label']}",
            _eval_job,
            (*args, str(e["model_dir"]), record),
            deps=deps,
            priority=priority,
            then=then,
        )

    # the audit needs the target and the oracle (traces, CKA) besides the model itself
    audit_deps = tuple(f"build:{r}" for r in missing)

    def audit_job(e: dict[str, Any], deps: tuple[str, ...]) -> Job:
        def then(result: tuple) -> None:
            *_, fresh, secs = result
            built[f"audit:{e['label']}"], seconds[f"audit:{e['label']}"] = fresh, secs
            if fresh:
                log(f"audited {e['label']} in {secs:.1f}s")
            e["audit"] = Path(result[0])

        return Job(
            f"audit:{e['label']}",
            _audit_job,
            (*args, str(e["model_dir"])),
            deps=tuple(dict.fromkeys((*deps, *audit_deps))),
            priority=4 + len(spec.methods),
            then=then,
        )

    def sequence_job(label: str, index: int, seed: int, e: dict[str, Any]) -> Job:
        def then(result: tuple) -> None:
            *_, fresh, secs = result
            built[f"sequence:{label}"], seconds[f"sequence:{label}"] = fresh, secs
            if fresh:
                log(f"applied {label} as {spec.audit.requests} requests in {secs:.1f}s")
            e["sequence"] = Path(result[0])

        deps = (*role_deps["target"], *after_oracle, *role_deps["oracle"])
        return Job(
            f"sequence:{label}",
            _sequence_job,
            (*args, index, seed),
            deps=tuple(dict.fromkeys(deps)),
            priority=5 + len(spec.methods),
            then=then,
        )

    def unlearn_job(label: str, index: int, seed: int, e: dict[str, Any], rank: int) -> Job:
        def then(result: tuple) -> list[Job]:
            path, config = Path(result[0]), result[1]
            finished("unlearn", label, result)
            e.update(model_dir=path / "model", config=config, record=path / "record.json")
            follow = [eval_job(e, after_oracle, priority=3 + len(spec.methods))]
            if spec.audit is not None:
                follow.append(audit_job(e, ()))
            return follow

        return Job(
            f"unlearn:{label}",
            _unlearn_job,
            (*args, index, seed, progress),
            deps=("build:target",) if "target" in missing else (),
            priority=3 + rank,
            then=then,
        )

    def build_job(role: str) -> Job:
        def then(result: tuple) -> None:
            built[role], seconds[role] = result[1], result[2]
            if result[1]:
                log(f"trained {role} in {result[2]:.1f}s")
            else:  # another process built it while this run waited on the cache lock
                log(f"reused {role} (built meanwhile by another process)")

        return Job(
            f"build:{role}",
            _build_job,
            (*args, role, progress),
            priority=0 if role == "target" else 1,  # the longer one first
            then=then,
        )

    jobs = [build_job(role) for role in missing]
    role_deps = {r: ((f"build:{r}",) if r in missing else ()) for r in ("target", "oracle")}
    if oracle_dir is not None:
        jobs.append(eval_job(by_label["oracle"], role_deps["oracle"], priority=2))
    jobs.append(eval_job(by_label["target"], role_deps["target"] + after_oracle, priority=2))
    if spec.audit is not None:
        jobs += [audit_job(e, ()) for e in evals]  # target and oracle (methods: when unlearned)
    # the longest unlearning first, so that short jobs fill the end of the run
    ranks = _longest_first(spec)
    # sequential requests split a forget set of people; a corpus request (book, hazard) has none
    sequences = spec.audit is not None and spec.audit.requests > 0 and not _corpus(spec)
    for index, m in enumerate(spec.methods):
        for seed in spec.seeds:
            label = m.display if len(spec.seeds) == 1 else f"{m.display} (seed {seed})"
            e = {
                "label": label,
                "kind": "method",
                "method": m.name,
                "seed": seed,
                "paper": METHODS.entry(m.name).meta.get("paper"),
            }
            evals.append(e)
            by_label[label] = e
            jobs.append(unlearn_job(label, index, seed, e, ranks[index]))
            if sequences:
                jobs.append(sequence_job(label, index, seed, e))

    if missing and len(missing) > 1 and workers > 1:
        log(f"training {' and '.join(missing)} side by side (1 thread each)")
    per_method = 2 if spec.audit is not None else 1  # its evaluation (and audit)
    total = len(jobs) + per_method * len(spec.methods) * len(spec.seeds)
    _execute(jobs, workers, total, progress and workers > 1)

    oracle_cost = oracle_training_cost(oracle_dir) if oracle_dir is not None else None
    rows = [_row(e, run_dir) for e in evals]
    result = RunResult(
        spec=spec,
        run_dir=run_dir,
        rows=rows,
        built=built,
        seconds=seconds,
        wall_time_s=time.perf_counter() - t0,
        oracle_cost=oracle_cost,
    )
    atomic_write_text(
        run_dir / "results.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    _update_index(Path(runs_dir), result)
    return result


def _longest_first(spec: ExperimentSpec) -> list[int]:
    """Each method's rank (0: longest) by its expected cost: optimiser steps (``max_steps``,
    else ``epochs`` of 400-example forget sets) x examples per step x sequences per example
    (forget views, plus one retain sequence)."""
    import random

    from unlearnkit.methods import METHODS
    from unlearnkit.methods.api import method_config

    costs = []
    for m in spec.methods:
        cfg = method_config(m.name, m.config)
        method = METHODS.get(m.name)(cfg)
        views = len(method.views("question", " answer", random.Random(0)))
        if not hasattr(cfg, "epochs"):  # an editing method: no training loop
            costs.append(0)
            continue
        examples = cfg.max_steps * cfg.batch_size if cfg.max_steps else cfg.epochs * 400
        costs.append(examples * (views + int(method.uses_retain)))
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    return [order.index(i) for i in range(len(costs))]


def _execute(jobs: list[Job], workers: int, total: int, bar: bool) -> None:
    """Run the jobs in a pool of ``workers`` processes (in this process when one), with an
    overall progress bar."""
    from unlearnkit.runner.workers import WorkerPool

    overall = tqdm(
        total=total, desc="jobs", unit="job", position=0, dynamic_ncols=True, disable=not bar
    )
    try:
        if workers > 1:
            threads = max(1, (os.cpu_count() or 1) // workers)
            with WorkerPool(workers, threads=threads) as pool:
                run_jobs(jobs, pool, workers, on_finish=lambda job: overall.update(1))
        else:
            run_jobs(jobs, InlineExecutor(), 1, on_finish=lambda job: overall.update(1))
    finally:
        overall.close()


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _locate(spec: ExperimentSpec, cache: Cache, built=None, seconds=None):
    """(target dir, oracle dir or None, roles still to train) of ``spec``.

    For the embedded benchmark this builds (or reuses) the world and the tokenizer; the
    target and the oracle are jobs of the run.
    """
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        prep = prepare(spec.build, cache=cache)
        if built is not None:
            built.update(prep.built)
            seconds.update(prep.seconds)
        missing = prep.missing()
        for role in ("target", "oracle"):
            if role not in missing and built is not None:
                built[role], seconds[role] = False, 0.0
        return prep.role_dir("target") / "model", prep.role_dir("oracle") / "model", missing
    oracle = Path(spec.oracle).expanduser() if spec.oracle else None
    return Path(spec.model).expanduser(), oracle, []


def _data(spec: ExperimentSpec, cache: Cache) -> EvalData:
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        return eval_data(prepare(spec.build, cache=cache).world, forget=spec.forget)
    return eval_data(Path(spec.data).expanduser(), forget=spec.forget)


class _State:
    """What every job of a run needs (the inputs, the loaded target and oracle), loaded
    once per process, each when first needed."""

    def __init__(self, spec: ExperimentSpec, cache: Cache) -> None:
        self.spec, self.cache = spec, cache
        self.target_dir, self.oracle_dir, _ = _locate(spec, cache)
        self._data: EvalData | None = None
        self._target: CausalLMAdapter | None = None
        self._oracle: EvalContext | None = None

    @property
    def data(self) -> EvalData:
        if self._data is None:
            self._data = _data(self.spec, self.cache)
        return self._data

    @property
    def target(self) -> CausalLMAdapter:
        if self._target is None:
            self._target = load_lm(self.spec, self.target_dir)
        return self._target

    @property
    def oracle(self) -> EvalContext | None:
        if self._oracle is None and self.oracle_dir is not None:
            self._oracle = EvalContext(
                load_lm(self.spec, self.oracle_dir),
                name="oracle",
                cache_dir=self.cache.root / "eval_reference",
                passes_dir=self.cache.root / "passes",
            )
            if not self.spec.embedded:
                # a real target exists from the start (an embedded one may still be training,
                # and its format is the build's, shared with its oracle by construction)
                require_same_format(
                    {
                        "target": self.target.prompt_format,
                        "oracle": self._oracle.adapter.prompt_format,
                    }
                )
        return self._oracle

    def unlearn(self, m, seed: int, log, progress: bool = True):
        t = time.perf_counter()
        out, config, fresh = _unlearned(
            self.spec, self.cache, self.target, self.target_dir, self.data, m, seed, log, progress
        )
        return out, config, fresh, time.perf_counter() - t if fresh else 0.0

    def evaluate(self, model_dir: Path, record: Path | None):
        t = time.perf_counter()
        cost = oracle_training_cost(self.oracle_dir) if self.oracle_dir is not None else None
        path, fresh = _evaluation(
            self.spec, self.cache, model_dir, self.data, self.oracle, record, cost
        )
        return path, fresh, time.perf_counter() - t if fresh else 0.0

    def audit(self, model_dir: Path):
        t = time.perf_counter()
        path, fresh = _audited(self, model_dir)
        return path, fresh, time.perf_counter() - t if fresh else 0.0

    def sequence(self, m, seed: int):
        t = time.perf_counter()
        path, fresh = _sequenced(self, m, seed)
        return path, fresh, time.perf_counter() - t if fresh else 0.0


def _sequenced(state: _State, m, seed: int) -> tuple[Path, bool]:
    """Method ``m`` (with ``seed``) applied to the target as ``audit.requests`` successive
    forget requests, judged after each (built or reused): cached by the target and oracle
    weights, the method's config, the requests and the data."""
    from unlearnkit.audit.sequential import sequential_unlearning
    from unlearnkit.methods.api import method_config

    spec, cfg, data = state.spec, state.spec.audit, state.data
    if data.tofu is None:
        raise UnlearnkitError("sequential requests need TOFU-format forget and retain sets")
    config = method_config(m.name, {**m.config, "seed": seed})
    oracle = state.oracle
    key = {
        "target": state.target.fingerprint(),
        "oracle": oracle.fingerprint if oracle is not None else None,
        "data": content_hash({"tofu": _split_hashes(data.tofu)}),
        "method": m.name,
        "config": config.to_dict(),
        "requests": cfg.requests,
        "seed": cfg.seed,
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        model = load_lm(spec, state.target_dir)
        out = sequential_unlearning(
            model,
            data.tofu.forget,
            data.tofu.retain,
            m.name,
            requests=cfg.requests,
            config=config.to_dict(),
            retain_eval=data.tofu.retain_eval,
            data=data if oracle is not None else None,
            oracle=oracle,
            seed=cfg.seed,
        )
        payload = {"kind": "unlearnkit.sequence", "version": 1, **out}
        atomic_write_json(tmp / "sequence.json", strict_json(payload))

    path, fresh = state.cache.get_or_build("sequences", key, make)
    return path / "sequence.json", fresh


def _audited(state: _State, model_dir: Path) -> tuple[Path, bool]:
    """The audit report of ``model_dir`` (built or reused): cached by the weights of the
    model, the target and the oracle, the audit config and the data."""
    from unlearnkit.audit.api import audit_model
    from unlearnkit.audit.data import audit_data
    from unlearnkit.audit.knowledge import knowledge
    from unlearnkit.audit.relearning import split_records

    spec, cfg = state.spec, state.spec.audit
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        source: Any = prepare(spec.build, cache=state.cache).world
    else:
        source = Path(spec.data).expanduser()
    if _corpus(spec):
        return _audited_corpus(state, model_dir, source)
    splits, forms = audit_data(source, forget=spec.forget)
    model = load_lm(spec, model_dir)
    oracle = state.oracle.adapter if state.oracle is not None else None
    key = {
        "model": model.fingerprint(),
        "target": state.target.fingerprint(),
        "oracle": oracle.fingerprint() if oracle is not None else None,
        "audit": {k: v for k, v in cfg.to_dict().items() if k != "requests"},  # not used here
        "data": content_hash(
            {
                "splits": {k: records_hash(v) for k, v in sorted(splits.items())},
                "forms": {k: records_hash(v) for k, v in sorted((forms or {}).items())},
            }
        ),
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        _, measured = split_records(splits[cfg.forget], cfg.relearn_fraction, cfg.seed)
        report = audit_model(
            model,
            splits,
            forms=forms,
            oracle=oracle,
            target=state.target,
            target_knowledge=knowledge(state.target, measured).headline,
            config=cfg,
        )
        payload = {"kind": "unlearnkit.audit", "version": 1, **report}
        atomic_write_json(tmp / "audit.json", strict_json(payload))

    path, fresh = state.cache.get_or_build("audits", key, make)
    return path / "audit.json", fresh


def _corpus(spec: ExperimentSpec) -> bool:
    """Whether the run forgets a corpus of the embedded world (``book``, ``hazard``)."""
    from unlearnkit.data.world.spec import CORPUS_REQUESTS

    return spec.embedded and spec.forget in CORPUS_REQUESTS


def _audited_corpus(state: _State, model_dir: Path, world: Any) -> tuple[Path, bool]:
    """:func:`_audited` of a corpus request (:mod:`unlearnkit.audit.corpus`)."""
    from unlearnkit.audit.corpus import audit_corpus

    spec, cfg = state.spec, state.spec.audit
    model = load_lm(spec, model_dir)
    key = {
        "kind": "corpus",
        "model": model.fingerprint(),
        "audit": {k: v for k, v in cfg.to_dict().items() if k != "requests"},
        "data": content_hash(
            {"world": world.spec.to_dict(), "items": records_hash(world.training_items())}
        ),
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        report = audit_corpus(model, world, config=cfg)
        payload = {"kind": "unlearnkit.audit", "version": 1, **report}
        atomic_write_json(tmp / "audit.json", strict_json(payload))

    path, fresh = state.cache.get_or_build("audits", key, make)
    return path / "audit.json", fresh


_WORKER_STATE: dict[tuple[str, str], _State] = {}


def _worker_state(spec_dict: dict[str, Any], cache_root: str) -> _State:
    key = (json.dumps(spec_dict, sort_keys=True, default=str), cache_root)
    if key not in _WORKER_STATE:
        _WORKER_STATE.clear()
        _WORKER_STATE[key] = _State(ExperimentSpec.from_dict(spec_dict), Cache(cache_root))
    return _WORKER_STATE[key]


def _build_job(spec_dict, cache_root, role: str, progress: bool):
    from unlearnkit.runner.build import _build_role_job

    spec = ExperimentSpec.from_dict(spec_dict)
    return _build_role_job(spec.build.to_dict(), cache_root, role, progress)


def _unlearn_job(spec_dict, cache_root, index: int, seed: int, progress: bool = True):
    state = _worker_state(spec_dict, cache_root)
    m = state.spec.methods[index]
    out, config, fresh, secs = state.unlearn(m, seed, lambda msg: None, progress)
    return str(out), config, fresh, secs


def _audit_job(spec_dict, cache_root, model_dir: str):
    state = _worker_state(spec_dict, cache_root)
    path, fresh, secs = state.audit(Path(model_dir))
    return str(path), fresh, secs


def _sequence_job(spec_dict, cache_root, index: int, seed: int):
    state = _worker_state(spec_dict, cache_root)
    path, fresh, secs = state.sequence(state.spec.methods[index], seed)
    return str(path), fresh, secs


def _eval_job(spec_dict, cache_root, model_dir: str, record: str | None):
    state = _worker_state(spec_dict, cache_root)
    path, fresh, secs = state.evaluate(Path(model_dir), Path(record) if record else None)
    return str(path), fresh, secs


def _row(e: dict[str, Any], run_dir: Path) -> Row:
    """The results row of one evaluated model; its report is copied into the run."""
    report: EvalReport = e["report"]
    path = run_dir / "reports" / f"{_slug(e['label'])}.json"
    report.save(path)
    ci = {
        f"{s}/{k}": list(r.ci) if r.ci else None
        for s, rs in report.results.items()
        for k, r in rs.items()
    }
    audit = audit_report = None
    if e.get("audit") is not None:
        from unlearnkit.audit.api import summary_row

        data = json.loads(Path(e["audit"]).read_text())
        copy_to = run_dir / "audits" / f"{_slug(e['label'])}.json"
        atomic_write_json(copy_to, data)
        audit, audit_report = summary_row(data), str(copy_to.relative_to(run_dir))
    sequence = sequence_report = None
    if e.get("sequence") is not None:
        data = json.loads(Path(e["sequence"]).read_text())
        copy_to = run_dir / "sequences" / f"{_slug(e['label'])}.json"
        atomic_write_json(copy_to, data)
        sequence, sequence_report = data["history"], str(copy_to.relative_to(run_dir))
    return Row(
        label=e["label"],
        kind=e["kind"],
        method=e.get("method"),
        seed=e.get("seed"),
        metrics=report.summary(),
        ci=ci,
        report=str(path.relative_to(run_dir)),
        model_dir=str(e["model_dir"]),
        efficiency=report.efficiency,
        config=e.get("config", {}),
        paper=e.get("paper"),
        audit=audit,
        audit_report=audit_report,
        sequence=sequence,
        sequence_report=sequence_report,
    )


def _unlearned(spec, cache, target, target_dir, data: EvalData, m, seed: int, log, progress=True):
    """The unlearned model directory of method ``m`` with ``seed`` (built or reused)."""
    from unlearnkit.methods.api import method_config, unlearn

    forget, retain = data.unlearning_sets()
    config = method_config(m.name, {**m.config, "seed": seed})
    key = {
        "target": target.fingerprint(),
        "prompt_format": target.prompt_format.to_dict(),
        "forget": records_hash(forget),
        "retain": records_hash(retain),
        "method": m.name,
        "config": config.to_dict(),
        "unlearnkit": library_versions()["unlearnkit"],
        "torch": library_versions()["torch"],
    }

    def make(tmp: Path) -> None:
        from unlearnkit.methods.errors import DivergedError

        log(f"unlearning {m.display} (seed {seed}) ...")
        try:
            unlearn(
                target_dir,
                forget,
                retain,
                m.name,
                config=config,
                out_dir=tmp,
                progress=progress,
                prompt_format=target.prompt_format.format,
            )
        except DivergedError as exc:  # tmp goes on failure: name no checkpoint inside it
            raise exc.discarded() from None
        atomic_write_json(tmp / "cache_key.json", key)

    path, fresh = cache.get_or_build("unlearned", key, make)
    return path, config.to_dict(), fresh


def load_lm(spec: ExperimentSpec, path: str | Path) -> CausalLMAdapter:
    """A model of the run: a real model with the spec's prompt format when it names one
    (models the run writes carry the target's), an embedded one with its stored format."""
    fmt = None if spec.embedded else spec.prompt_format
    return CausalLMAdapter.from_pretrained(path, batch_size=spec.batch_size, prompt_format=fmt)


def _evaluation(spec, cache, model_dir: Path, data, oracle_ctx, record, oracle_cost):
    """The evaluation report of ``model_dir`` (built or reused) and whether it was built."""
    model = load_lm(spec, model_dir)
    cfg = spec.eval_config()
    key = {
        "model": model.fingerprint(),
        "oracle": oracle_ctx.fingerprint if oracle_ctx is not None else None,
        # the prompt and the metric definitions the report was computed under
        "prompt_format": model.prompt_format.to_dict(),
        "definitions": MEMO_FORMAT,
        "data": content_hash(
            {
                "tofu": _split_hashes(data.tofu),
                "muse": _split_hashes(data.muse),
                **({"mcq": {k: records_hash(v) for k, v in data.mcq.items()}} if data.mcq else {}),
            }
        ),
        "eval": cfg.to_dict(),
        # what each suite computes (a change to a suite's items invalidates its reports)
        "suites": content_hash({name: repr(SUITES.get(name).items) for name in spec.suites}),
        "record": _record_key(record),
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        # the model's passes are kept across evaluations: changing an evaluation setting
        # then reruns no forward pass (see EvalContext.save)
        ctx = EvalContext(model, cache_dir=None, passes_dir=cache.root / "passes")
        report = evaluate(
            ctx,
            data,
            oracle=oracle_ctx,
            record=record,
            oracle_cost=oracle_cost if record is not None else None,
            config=cfg,
        )
        report.save(tmp / "report.json")
        for c in (ctx, oracle_ctx):
            if c is not None:
                c.save()

    path, fresh = cache.get_or_build("evaluations", key, make)
    return path / "report.json", fresh


def _record_key(record: Path | None) -> str | None:
    if record is None or not Path(record).is_file():
        return None
    return content_hash(json.loads(Path(record).read_text()))


def _split_hashes(obj: Any) -> dict[str, str] | None:
    if obj is None:
        return None
    out = {}
    for name, value in vars(obj).items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out[name] = records_hash(value)
    return out


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_+" else "_" for c in label)


def _update_index(runs_dir: Path, result: RunResult) -> None:
    """``RUNS/index.json``: one entry per run directory (latest invocation wins)."""
    from unlearnkit.report.tables import RunsIndexError, read_runs_index  # imports this module

    index_path = runs_dir / "index.json"
    try:
        listed = read_runs_index(runs_dir)
    except RunsIndexError as exc:  # after the run's work: replace the index, do not fail
        warnings.warn(
            f"the runs index {index_path} is damaged ({exc.problem}); it is replaced by one "
            "that lists this run (the other run folders are untouched, and rerunning their "
            "specs lists them again)",
            stacklevel=2,
        )
        listed = []
    runs = {r["run_dir"]: r for r in listed}
    headline = _headline(result.spec)
    runs[str(result.run_dir)] = {
        "run_dir": str(result.run_dir),
        "name": result.spec.name,
        "id": result.run_dir.name,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "methods": [r.label for r in result.rows if r.kind == "method"],
        "headline": {
            r.label: {k: _jf(r.metrics.get(k, math.nan)) for _, k in headline} for r in result.rows
        },
    }
    atomic_write_json(index_path, {"kind": "unlearnkit.runs", "runs": list(runs.values())})


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``results.json``, checked for its kind and version.

    Raises :class:`RunFailedError` when the run failed (with its error) or did not finish,
    and :class:`UnlearnkitError` for a folder that is not a run directory.
    """
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        _no_results(Path(run_dir))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFailedError(
            f"{path} is damaged ({exc}); run the experiment again to rewrite it "
            f"(unlearnkit run {Path(run_dir) / 'spec.yaml'}): everything is reused from the cache"
        ) from None
    if not isinstance(data, dict) or (
        data.get("kind") != RESULTS_KIND or data.get("version") != RESULTS_VERSION
    ):
        raise UnlearnkitError(
            f"{str(path)!r} is not a version-{RESULTS_VERSION} unlearnkit run result"
        )
    return data


def _no_results(run_dir: Path) -> NoReturn:
    """Why ``run_dir`` has no ``results.json``, as an error."""
    status = read_status(run_dir)
    again = f"unlearnkit run {run_dir / 'spec.yaml'}"
    if status is None:
        raise UnlearnkitError(f"no results.json in {str(run_dir)!r}: is it a run directory?")
    if status.get("status") == "failed":
        error = status.get("error") or {}
        why = str(error.get("message", "")).rstrip(". ")
        raise RunFailedError(
            f"the run in {run_dir} failed (started {status.get('started')}): "
            f"{error.get('type', 'error')}: {why}. It has no results; fix "
            f"the cause and run it again ({again}): finished work is reused from the cache. "
            f"The traceback is in {run_dir / STATUS_FILE}."
        )
    pid = status.get("pid")
    if status.get("status") == "ok":
        raise RunFailedError(
            f"the run in {run_dir} finished, but its results.json has been removed since; "
            f"run it again ({again}): everything is reused from the cache"
        )
    if status.get("status") == "running" and isinstance(pid, int) and pid_alive(pid):
        raise RunFailedError(
            f"the run in {run_dir} has not finished yet (started {status.get('started')}, "
            f"process {pid}); wait for it, or stop it and run it again ({again})"
        )
    raise RunFailedError(
        f"the run in {run_dir} stopped before it finished (started {status.get('started')}; "
        f"its process {pid} is gone: killed, or the machine stopped) and has no results; run "
        f"it again ({again}): finished work is reused from the cache"
    )


__all__ = [
    "CORPUS_HEADLINES",
    "HEADLINE",
    "Row",
    "RunResult",
    "headline_for",
    "load_results",
    "read_status",
    "run_experiment",
    "run_id",
    "run_status",
]
