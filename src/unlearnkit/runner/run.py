"""``unlearnkit run``: the one runner of every family.

Every expensive artefact is a cache entry keyed by a content hash of what determines it:
the inputs, the target and the oracle, each unlearned model (target weights + forget/retain
data + method config + seed), each evaluation report (model weights + data + evaluation
settings + oracle weights) and each audit. A cache entry is written in a temporary
directory and renamed into place when complete, so an interrupted run (Ctrl-C, kill)
leaves nothing half-written, and the next invocation redoes only what is missing.
Changing an evaluation setting reuses every model.

The runner knows only the family contract (:mod:`unlearnkit.runner.families.base`): it
builds one job graph (build → unlearn → evaluate → audit → row), runs it on one scheduler,
in worker processes when there are several, and writes ``RUNS/<name>/<run id>/``:
``spec.yaml``, ``status.json``, ``results.json`` (one row per model: target, oracle,
method × seed, with the headline metrics, the efficiency figures and the path of its full
evaluation report; the layout is :mod:`unlearnkit.core.runs`'s, with the ``family``) and
``reports/``. ``RUNS/index.json`` lists every run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.io import atomic_write_json, atomic_write_text
from unlearnkit.core.runs import (
    RESULTS_KIND,
    RESULTS_VERSION,
    Row,
    load_results,
    read_status,
    run_folder,
    run_id,
    run_status,
    slug,
    update_index,
)
from unlearnkit.runner.families.base import FAMILIES, Family, Step, Subject, read_json
from unlearnkit.runner.schedule import InlineExecutor, Job, run_jobs


def library_versions() -> dict[str, str]:
    """The versions every result records (:func:`unlearnkit.evaluation.api.library_versions`)."""
    from unlearnkit.evaluation.api import library_versions as versions

    return versions()


@dataclass
class RunResult:
    """What a run produced, and what it reused."""

    spec: Any
    run_dir: Path
    rows: list[Row]
    built: dict[str, bool]  # artefact -> built now (False: reused)
    seconds: dict[str, float]
    wall_time_s: float
    oracle_cost: dict[str, Any] | None
    family: str = "lm"

    @property
    def headline(self) -> tuple[tuple[str, str], ...]:
        return FAMILIES.get(self.family).headline(self.spec)

    def to_dict(self) -> dict[str, Any]:
        family = FAMILIES.get(self.family)
        return {
            "kind": RESULTS_KIND,
            "version": RESULTS_VERSION,
            "family": self.family,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
            "spec": self.spec.to_dict(),
            "run_dir": str(self.run_dir),
            "wall_time_s": self.wall_time_s,
            "built": self.built,
            "seconds": self.seconds,
            "oracle_cost": self.oracle_cost,
            "headline": [{"label": a, "key": k} for a, k in self.headline],
            "presentation": family.presentation(self.spec),
            "rows": [r.to_dict() for r in self.rows],
        }


def family_of(spec: Any) -> type[Family]:
    """The family whose spec type ``spec`` is."""
    import unlearnkit.runner.families  # noqa: F401  (registers the built-in families)

    for name in FAMILIES.names():
        if isinstance(spec, FAMILIES.get(name).spec_type):
            return FAMILIES.get(name)
    raise UnlearnkitError(
        f"no registered family runs a {type(spec).__name__} (families: {FAMILIES.names()})"
    )


def run_experiment(
    spec: Any,
    *,
    cache: Cache | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    log: Callable[[str], None] = print,
    workers: int | None = None,
) -> RunResult:
    """Run ``spec`` (any family's): build or reuse the models, unlearn, evaluate, audit,
    write the results.

    ``workers``: processes for the independent jobs (default: the family's; for the
    embedded LM benchmark one per CPU, at most four; one for real models, whose jobs each
    hold a full model, and on a GPU). The results do not depend on it.

    The run directory's ``status.json`` says how the last invocation went
    (:func:`~unlearnkit.core.runs.run_status`): ``running``, ``ok``, or ``failed`` with the
    error; a failed run has no ``results.json``.
    """
    family = family_of(spec)
    with run_status(run_folder(spec, runs_dir), spec):
        return _Run(family, spec, cache or Cache(), log, progress).run(runs_dir, workers)


class _Run:
    """The job graph of one run (build → unlearn → evaluate → audit → row)."""

    def __init__(
        self, family: type[Family], spec: Any, cache: Cache, log: Callable[[str], None], progress
    ) -> None:
        self.family, self.spec, self.cache, self.log = family, spec, cache, log
        self.progress = progress
        self.built: dict[str, bool] = {}
        self.seconds: dict[str, float] = {}
        self.args = (family.name, spec.to_dict(), str(cache.root))

    def run(self, runs_dir: str | Path, workers: int | None) -> RunResult:
        t0 = time.perf_counter()
        spec, family = self.spec, self.family
        state = _worker_state(*self.args)  # this process's (reused by inline jobs)
        prep = state.prepare(self.log)
        self.built.update(prep.built)
        self.seconds.update(prep.seconds)
        for role in ("target", "oracle"):
            if role not in prep.missing:
                self.built.setdefault(role, False)
                self.seconds.setdefault(role, 0.0)
        workers = family.default_workers(spec) if workers is None else workers
        run_dir = run_folder(spec, runs_dir)
        (run_dir / "reports").mkdir(parents=True, exist_ok=True)

        subjects = [Subject("target", "target", model_dir=prep.target_dir)]
        if prep.oracle_dir is not None:
            subjects.append(Subject("oracle", "oracle", model_dir=prep.oracle_dir))
        built_roles = {r: (f"build:{r}",) if r in prep.missing else () for r in prep.missing}
        needs = tuple(d for r in prep.eval_needs for d in built_roles.get(r, ()))
        oracle_done = ("eval:oracle",) if prep.oracle_dir is not None else ()
        all_builds = tuple(f"build:{r}" for r in prep.missing)
        audits = state.audits()
        n_methods = len(spec.methods)

        jobs = [self._build_job(role, priority=i) for i, role in enumerate(prep.missing)]
        if prep.oracle_dir is not None:
            deps = (*built_roles.get("oracle", ()), *needs)
            jobs.append(self._eval_job(subjects[1], deps, priority=len(prep.missing)))
        jobs.append(
            self._eval_job(
                subjects[0],
                (*built_roles.get("target", ()), *oracle_done, *needs),
                priority=len(prep.missing),
            )
        )
        if audits:
            jobs += [self._audit_job(s, all_builds, 4 + n_methods) for s in subjects]
        for s in subjects:
            if state.sequenced(s):
                jobs.append(self._sequence_job(s, (*all_builds, *oracle_done), 5 + n_methods))
        order = state.unlearn_order()
        from unlearnkit.methods import METHODS

        for index, m in enumerate(spec.methods):
            for seed in spec.seeds:
                label = m.display if len(spec.seeds) == 1 else f"{m.display} (seed {seed})"
                s = Subject(
                    label,
                    "method",
                    method=m,
                    seed=seed,
                    paper=METHODS.entry(m.name).meta.get("paper"),
                )
                subjects.append(s)
                deps = built_roles.get("target", ())
                follow = (*oracle_done, *needs)
                jobs.append(self._unlearn_job(s, deps, follow, audits, all_builds, order[index]))
                if state.sequenced(s):
                    jobs.append(self._sequence_job(s, (*all_builds, *oracle_done), 5 + n_methods))

        if len(prep.missing) > 1 and workers > 1:
            self.log(f"training {' and '.join(prep.missing)} side by side (1 thread each)")
        per_method = 2 if audits else 1  # its evaluation (and audit)
        total = len(jobs) + per_method * n_methods * len(spec.seeds)
        _execute(jobs, workers, total, self.progress and workers > 1)

        rows = [self._row(state, s, run_dir) for s in subjects]
        result = RunResult(
            spec=spec,
            run_dir=run_dir,
            rows=rows,
            built=self.built,
            seconds=self.seconds,
            wall_time_s=time.perf_counter() - t0,
            oracle_cost=state.oracle_cost(),
            family=family.name,
        )
        atomic_write_text(
            run_dir / "results.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
        )
        update_index(Path(runs_dir), run_dir, spec.name, rows, result.headline)
        return result

    # -- jobs -------------------------------------------------------------------------------
    def _record(self, what: str, label: str, step: Step, verb: str) -> None:
        self.built[f"{what}:{label}"], self.seconds[f"{what}:{label}"] = step.fresh, step.seconds
        if step.fresh:
            self.log(f"{verb} {label} in {step.seconds:.1f}s")

    def _build_job(self, role: str, priority: int) -> Job:
        def then(step: Step) -> None:
            self.built[role], self.seconds[role] = step.fresh, step.seconds
            if step.fresh:
                self.log(f"trained {role} in {step.seconds:.1f}s")
            else:  # another process built it while this run waited on the cache lock
                self.log(f"reused {role} (built meanwhile by another process)")

        return Job(
            f"build:{role}",
            _step,
            (*self.args, "build", role, self.progress),
            priority=priority,
            then=then,
        )

    def _eval_job(self, s: Subject, deps: tuple[str, ...], priority: int) -> Job:
        def then(step: Step) -> None:
            self._record("eval", s.label, step, "evaluated")
            s.report = step.path

        return Job(
            f"eval:{s.label}",
            _step,
            (*self.args, "evaluate", s),
            deps=tuple(dict.fromkeys(deps)),
            priority=priority,
            then=then,
        )

    def _audit_job(self, s: Subject, deps: tuple[str, ...], priority: int) -> Job:
        def then(step: Step | None) -> None:
            if step is not None:
                self._record("audit", s.label, step, "audited")
                s.audit = step.path

        return Job(
            f"audit:{s.label}",
            _step,
            (*self.args, "audit", s),
            deps=tuple(dict.fromkeys(deps)),
            priority=priority,
            then=then,
        )

    def _sequence_job(self, s: Subject, deps: tuple[str, ...], priority: int) -> Job:
        def then(step: Step) -> None:
            self._record("sequence", s.label, step, "applied as successive requests:")
            s.sequence = step.path

        # a method's sequence starts from the target, not from its unlearned model
        return Job(
            f"sequence:{s.label}",
            _step,
            (*self.args, "sequence", s),
            deps=tuple(dict.fromkeys(deps)),
            priority=priority,
            then=then,
        )

    def _unlearn_job(
        self,
        s: Subject,
        deps: tuple[str, ...],
        eval_deps: tuple[str, ...],
        audits: bool,
        audit_deps: tuple[str, ...],
        rank: int,
    ) -> Job:
        n = len(self.spec.methods)

        def then(done: Any) -> list[Job]:
            self.built[f"unlearn:{s.label}"] = done.fresh
            self.seconds[f"unlearn:{s.label}"] = done.seconds
            if done.fresh:
                self.log(f"unlearned {s.label} in {done.seconds:.1f}s")
            s.model_dir, s.record, s.config = done.model_dir, done.record, done.config
            follow = [self._eval_job(s, eval_deps, priority=3 + n)]
            if audits:
                follow.append(self._audit_job(s, audit_deps, 4 + n))
            return follow

        assert s.method is not None and s.seed is not None
        return Job(
            f"unlearn:{s.label}",
            _step,
            (*self.args, "unlearn", s.method, s.seed, self.progress),
            deps=deps,
            priority=3 + rank,
            then=then,
        )

    # -- rows -------------------------------------------------------------------------------
    def _row(self, state: Family, s: Subject, run_dir: Path) -> Row:
        """The results row of one evaluated model; its reports are copied into the run."""
        assert s.report is not None, f"{s.label} was not evaluated"
        report = read_json(s.report)
        name = slug(s.label)
        path = run_dir / "reports" / f"{name}.json"
        atomic_write_json(path, report)
        fields = state.summarise(s, report)
        audit = audit_report = None
        if s.audit is not None:
            data = read_json(s.audit)
            copy_to = run_dir / "audits" / f"{name}.json"
            atomic_write_json(copy_to, data)
            audit, audit_report = state.audit_summary(data), str(copy_to.relative_to(run_dir))
        sequence = sequence_report = None
        if s.sequence is not None:
            data = read_json(s.sequence)
            copy_to = run_dir / "sequences" / f"{name}.json"
            atomic_write_json(copy_to, data)
            sequence, sequence_report = data["history"], str(copy_to.relative_to(run_dir))
        return Row(
            label=s.label,
            kind=s.kind,
            method=s.method.name if s.method is not None else None,
            seed=s.seed,
            metrics=fields.metrics,
            ci=fields.ci,
            report=str(path.relative_to(run_dir)),
            model_dir=str(s.model_dir),
            efficiency=fields.efficiency,
            config=s.config,
            paper=s.paper,
            audit=audit,
            audit_report=audit_report,
            sequence=sequence,
            sequence_report=sequence_report,
        )


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


# -- the worker side: one family state per process, each step a method call ----------------
_WORKER_STATE: dict[tuple[str, str, str], Family] = {}


def _worker_state(family: str, spec_dict: dict[str, Any], cache_root: str) -> Family:
    key = (family, json.dumps(spec_dict, sort_keys=True, default=str), cache_root)
    if key not in _WORKER_STATE:
        _WORKER_STATE.clear()
        cls = FAMILIES.get(family)
        _WORKER_STATE[key] = cls(cls.spec_type.from_dict(spec_dict), Cache(cache_root))
    return _WORKER_STATE[key]


def _step(family: str, spec_dict: dict[str, Any], cache_root: str, step: str, *args: Any) -> Any:
    """One job: ``step`` of the family's state in this process (plain, picklable arguments)."""
    state = _worker_state(family, spec_dict, cache_root)
    return getattr(state, step)(*args)


__all__ = [
    "RunResult",
    "family_of",
    "load_results",
    "read_status",
    "run_experiment",
    "run_id",
    "run_status",
]
