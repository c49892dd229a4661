"""Run a run's jobs in dependency order, as many at once as there are workers.

A job names the jobs it waits for (``deps``) and a ``priority`` (lower first among the
ready ones). Exactly ``workers`` jobs are in flight at any time, so a job starts on the first
free worker the moment its inputs exist: evaluating the oracle starts as soon as the oracle
is trained, while the target is still training; unlearning starts as soon as the target is.
A finished job may add jobs (``then``): each method's evaluation is added when its
unlearned model exists.

With one worker the jobs run in this process, one by one, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Job:
    """One unit of work: ``fn(*args)`` once every job in ``deps`` has finished.

    then: called with the result when it finishes; may return new jobs to schedule.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    deps: tuple[str, ...] = ()
    priority: int = 0
    then: Callable[[Any], Iterable[Job] | None] | None = None
    order: int = field(default=0, compare=False)


class InlineExecutor:
    """An executor that runs each submitted call at once, in this process."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the caller through the future
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            future.set_exception(exc)
        return future


def run_jobs(
    jobs: Iterable[Job],
    executor: Any,
    workers: int,
    on_finish: Callable[[Job], None] | None = None,
) -> None:
    """Run ``jobs`` (and the jobs they add) on ``executor`` with at most ``workers`` at once.

    Raises the first job error (the jobs in flight are left to the executor's shutdown) and
    a ``ValueError`` when a job waits for a job that does not exist or the waits form a
    cycle.
    """
    waiting: dict[str, Job] = {}
    done: set[str] = set()
    running: dict[Future, Job] = {}
    counter = 0

    def add(new: Iterable[Job]) -> None:
        nonlocal counter
        for job in new:
            if (
                job.key in waiting
                or job.key in done
                or job.key in {j.key for j in running.values()}
            ):
                raise ValueError(f"two jobs named {job.key!r}")
            job.order = counter
            counter += 1
            waiting[job.key] = job

    add(jobs)
    while waiting or running:
        ready = sorted(
            (j for j in waiting.values() if all(d in done for d in j.deps)),
            key=lambda j: (j.priority, j.order),
        )
        for job in ready[: max(0, workers - len(running))]:
            del waiting[job.key]
            running[executor.submit(job.fn, *job.args)] = job
        if not running:
            known = set(waiting) | done
            missing = sorted({d for j in waiting.values() for d in j.deps} - known)
            raise ValueError(
                f"jobs wait for jobs that do not exist: {missing}"
                if missing
                else f"jobs wait for each other in a cycle: {sorted(waiting)}"
            )
        finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in sorted(finished, key=lambda f: running[f].order):
            job = running.pop(future)
            result = future.result()
            done.add(job.key)
            if job.then is not None:
                add(job.then(result) or ())
            if on_finish is not None:
                on_finish(job)


__all__ = ["InlineExecutor", "Job", "run_jobs"]
