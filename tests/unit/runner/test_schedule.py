"""The run's job scheduler: dependencies, priorities, jobs added by jobs, errors."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from unlearnkit.runner.schedule import InlineExecutor, Job, run_jobs


def recorder():
    log: list[str] = []

    def fn(name: str) -> str:
        log.append(name)
        return name

    return log, fn


def test_inline_jobs_run_in_dependency_then_priority_order():
    log, fn = recorder()
    jobs = [
        Job("eval:b", fn, ("eval:b",), deps=("unlearn:b",), priority=4),
        Job("unlearn:b", fn, ("unlearn:b",), deps=("build",), priority=3),
        Job("unlearn:a", fn, ("unlearn:a",), deps=("build",), priority=3),
        Job("eval:oracle", fn, ("eval:oracle",), priority=2),
        Job("build", fn, ("build",), priority=0),
    ]
    finished = []
    run_jobs(jobs, InlineExecutor(), 1, on_finish=lambda j: finished.append(j.key))
    # ready first by priority, then in the order given
    assert log == ["build", "eval:oracle", "unlearn:b", "unlearn:a", "eval:b"]
    assert finished == log


def test_a_finished_job_can_add_jobs_that_wait_for_others():
    log, fn = recorder()

    def then(result):
        return [Job(f"eval:{result}", fn, (f"eval:{result}",), deps=("eval:oracle",))]

    jobs = [
        Job("unlearn", fn, ("unlearn",), priority=0, then=then),
        Job("eval:oracle", fn, ("eval:oracle",), priority=1),
    ]
    run_jobs(jobs, InlineExecutor(), 1)
    assert log == ["unlearn", "eval:oracle", "eval:unlearn"]


def test_never_more_jobs_in_flight_than_workers():
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def fn(i: int) -> int:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return i

    jobs = [Job(f"j{i}", fn, (i,)) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        run_jobs(jobs, pool, 2)
    assert state["most"] == 2


def test_a_job_starts_as_soon_as_its_inputs_exist():
    """With two workers, a job waiting for a short job starts before a long one ends."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()

    def fn(name: str, seconds: float) -> None:
        time.sleep(seconds)
        times[name] = time.perf_counter() - t0

    jobs = [
        Job("long", fn, ("long", 0.4)),
        Job("short", fn, ("short", 0.05)),
        Job("after-short", fn, ("after-short", 0.05), deps=("short",)),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        run_jobs(jobs, pool, 2)
    assert times["after-short"] < times["long"]


def test_errors():
    log, fn = recorder()
    with pytest.raises(ValueError, match="do not exist: \\['nowhere'\\]"):
        run_jobs([Job("a", fn, ("a",), deps=("nowhere",))], InlineExecutor(), 1)
    with pytest.raises(ValueError, match="cycle"):
        run_jobs(
            [Job("a", fn, ("a",), deps=("b",)), Job("b", fn, ("b",), deps=("a",))],
            InlineExecutor(),
            1,
        )
    with pytest.raises(ValueError, match="two jobs named 'a'"):
        run_jobs([Job("a", fn, ("a",)), Job("a", fn, ("a",))], InlineExecutor(), 1)

    def boom() -> None:
        raise RuntimeError("job failed")

    with pytest.raises(RuntimeError, match="job failed"):
        run_jobs(
            [Job("boom", boom), Job("after", fn, ("after",), deps=("boom",))], InlineExecutor(), 1
        )
    assert "after" not in log
