"""Worker processes die with their parent, even when it is killed with ``kill -9``; they
start with the glibc malloc settings without the parent's environment changing; a failure
in the parent stops the running workers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from unlearnkit.runner.workers import WORKER_MALLOC_ENV, WorkerPool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9 and /proc")

# A parent that starts a pool of two workers, each stuck in a long job that first writes its
# pid into a folder, and then waits (to be killed).
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    from unlearnkit.runner.workers import WorkerPool


    def job(folder):
        Path(folder, str(os.getpid())).write_text("")
        time.sleep(300)


    if __name__ == "__main__":
        with WorkerPool(2, threads=1) as pool:
            futures = [pool.submit(job, sys.argv[1]) for _ in range(2)]
            time.sleep(300)
    """
)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def _wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _worker_pids(folder: Path) -> list[int]:
    return sorted(int(p.name) for p in folder.iterdir())


@pytest.mark.slow
def test_kill_9_of_the_parent_leaves_no_worker_running(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT, encoding="utf-8")
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(pids_dir)], cwd=tmp_path)
    workers: list[int] = []
    try:
        # the workers import torch first: allow for a loaded machine
        assert _wait_for(lambda: len(list(pids_dir.iterdir())) == 2, timeout=120), (
            "the workers never started their jobs"
        )
        workers = _worker_pids(pids_dir)
        assert parent.pid not in workers and all(pid_alive(p) for p in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        gone = _wait_for(lambda: not any(pid_alive(p) for p in workers), timeout=5)
        alive = [p for p in workers if pid_alive(p)]
        assert gone, f"workers {alive} outlived their parent (killed with kill -9)"
    finally:
        for pid in workers:  # the processes this test started, should the assertion fail
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_worker_whose_parent_is_already_gone_exits_at_once(tmp_path):
    # The race the parent-death signal cannot cover: the parent dies before the worker asks
    # for the signal. ``die_with_parent`` sees the pid it was given is not its parent.
    code = (
        "from unlearnkit.runner.workers import die_with_parent\n"
        "import os, time\n"
        "die_with_parent(os.getppid() + 10**7)\n"  # not our parent
        "time.sleep(30)\n"
    )
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 1
    assert time.monotonic() - t0 < 30


def test_watchdog_kills_a_worker_whose_parent_dies_without_the_death_signal(tmp_path):
    # the portable path (no prctl): a child asks for no signal, only the watchdog; its
    # parent (a shell) is killed with kill -9; the child must be gone within a few seconds.
    child_code = (
        "import os, sys, time\n"
        "from unlearnkit.runner.workers import die_with_parent\n"
        "die_with_parent(os.getppid(), death_signal=False)\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(60)\n"
    )
    script = tmp_path / "child.py"
    script.write_text(child_code, encoding="utf-8")
    out = tmp_path / "child.pid"
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f'"{sys.executable}" "{script}" > "{out}"; sleep 60'],
    )
    child = 0
    try:
        assert _wait_for(lambda: out.exists() and out.read_text().strip(), timeout=60)
        child = int(out.read_text().strip())
        assert pid_alive(child)
        os.kill(shell.pid, signal.SIGKILL)
        shell.wait(timeout=10)
        assert _wait_for(lambda: not pid_alive(child), timeout=5), "the watchdog did not fire"
    finally:
        if child and pid_alive(child):
            os.kill(child, signal.SIGKILL)
        if shell.poll() is None:
            shell.kill()
            shell.wait()


def _environment() -> dict[str, str | None]:
    """Job: the malloc settings in the worker's environment."""
    return {name: os.environ.get(name) for name in WORKER_MALLOC_ENV}


@pytest.mark.slow
def test_workers_start_with_the_malloc_settings_and_the_parent_environment_is_unchanged(
    monkeypatch,
):
    for name in WORKER_MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    mine = "12345"  # a value the user set wins, in the worker, and stays in the parent
    monkeypatch.setenv("MALLOC_TOP_PAD_", mine)
    before = dict(os.environ)
    with WorkerPool(2, threads=1) as pool:
        assert dict(os.environ) == before  # every worker is spawned by now
        seen = [pool.submit(_environment).result(timeout=300) for _ in range(2)]
    assert dict(os.environ) == before
    assert seen == [{**WORKER_MALLOC_ENV, "MALLOC_TOP_PAD_": mine}] * 2


def _sleep_after_writing(path: str) -> None:
    """Job: say that it runs (an empty file at ``path``), then sleep for 5 minutes."""
    Path(path).write_text("")
    time.sleep(300)


@pytest.mark.slow
def test_a_failure_in_the_parent_stops_the_running_workers_at_once(tmp_path):
    started = tmp_path / "started"
    with pytest.raises(RuntimeError, match="the parent failed"), WorkerPool(1) as pool:
        worker = pool.submit(os.getpid).result(timeout=300)
        pool.submit(_sleep_after_writing, str(started))
        assert _wait_for(started.exists, timeout=60), "the job never started"
        raise RuntimeError("the parent failed")
    assert _wait_for(lambda: not pid_alive(worker), timeout=10), "the worker outlived the pool"
