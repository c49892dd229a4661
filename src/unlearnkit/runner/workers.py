"""Run independent jobs (training the target and the oracle, unlearning, evaluating) side by
side in worker processes.

Tiny models on a CPU do not use a second core well inside one process (one thread is about
two thirds as fast as two), so two single-threaded workers finish a run's independent jobs
sooner than one two-threaded process. Each worker pins its torch thread count (results do
not depend on which worker ran a job) and draws its progress bars on its own line; Ctrl-C
stops the workers and leaves nothing half-written (every artefact is renamed into the
cache only when complete).

Workers die with their parent, even one killed by ``kill -9`` (which runs no cleanup): on
Linux each worker asks the kernel for SIGKILL when the thread that spawned it ends
(``prctl(PR_SET_PDEATHSIG)``), and on every system a watchdog thread in each worker kills it
within :data:`PARENT_POLL_S` seconds of its parent pid changing (the parent died and the
worker was handed to another). The pool spawns all its workers when it is made, from the
thread that makes it; the parent-death signal is asked for only when that is the main
thread (the signal follows the spawning *thread*, and another thread may end while the
process lives on), elsewhere the watchdog alone stops them. Processes a job itself starts
are not covered.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import torch

#: glibc malloc settings for the workers: tensors of up to 32 MB are kept on the heap
#: instead of being mapped and unmapped at every step, which cuts page faults about
#: four-fold and training time by about 6% on the demo (allocation never changes a result:
#: torch aligns every tensor the same way). A value already in the environment wins. Only
#: the workers get them (:class:`_WorkerProcess`); the parent's environment is left as is.
WORKER_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(2**30),
    "MALLOC_TOP_PAD_": str(64 * 2**20),
}

_SPAWN = mp.get_context("spawn")  # fork is unsafe once torch has started threads


@contextmanager
def _worker_environment() -> Iterator[None]:
    """:data:`WORKER_MALLOC_ENV` in ``os.environ`` for the duration of the block (the names
    not already set), then exactly the environment there was before.

    glibc reads these when a process starts, so they must be in the environment the worker
    is spawned with: an initializer would be too late, and multiprocessing's spawn takes no
    environment of its own (it passes the parent's). Meanwhile another thread of the parent
    sees them too; they tune only the allocator of processes started in that window.
    """
    added = {name: value for name, value in WORKER_MALLOC_ENV.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class _WorkerProcess(_SPAWN.Process):  # type: ignore[name-defined]
    """A spawned worker process that starts with :data:`WORKER_MALLOC_ENV`."""

    def start(self) -> None:
        with _worker_environment():
            super().start()


class _WorkerContext(type(_SPAWN)):  # type: ignore[misc]
    """The spawn context whose processes are :class:`_WorkerProcess` and are remembered
    (``processes``): the executor takes it as its ``mp_context`` and starts every worker
    through it, so the pool knows its workers without reading the executor's internals."""

    def __init__(self) -> None:
        super().__init__()
        self.processes: list[_WorkerProcess] = []

    def Process(self, *args: Any, **kwargs: Any) -> _WorkerProcess:  # multiprocessing's name
        process = _WorkerProcess(*args, **kwargs)
        self.processes.append(process)
        return process


def default_workers(threads_per_worker: int = 1, limit: int = 4) -> int:
    """How many workers to use: one per ``threads_per_worker`` CPUs, at most ``limit``;
    one on a GPU (its jobs share the device) or a single CPU."""
    if torch.cuda.is_available():
        return 1
    return max(1, min(limit, (os.cpu_count() or 1) // max(1, threads_per_worker)))


#: how often (seconds) a worker's watchdog checks that its parent is still alive
PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_GO: Any = None  # the pool's start event, in a worker


def _set_parent_death_signal(sig: int) -> bool:
    """Ask the Linux kernel to send ``sig`` to this process when its parent thread ends;
    whether it was set (``False`` elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float) -> None:
    while True:
        if os.getppid() != parent:  # re-parented: the process that made us is gone
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(interval)


def die_with_parent(parent: int, *, death_signal: bool = True) -> None:
    """Make this process end when process ``parent`` (its parent) dies, however it dies:
    the parent-death signal (Linux, when ``death_signal``) and a watchdog thread."""
    if death_signal:
        _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent, PARENT_POLL_S), name="parent-watchdog", daemon=True
    ).start()


def _init_worker(threads: int, slots: Any, parent: int, death_signal: bool, go: Any) -> None:
    global _GO
    die_with_parent(parent, death_signal=death_signal)
    _GO = go
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    # The worker's share of the CPUs is ``threads`` torch threads: the Rust tokenizers' own
    # thread pool (one thread per core) would run every worker's tokenization on every
    # core. Encodings are the same either way; a value the user set wins. Set here, in the
    # worker, so that the parent's environment is not changed.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging

    from unlearnkit.core.progress import set_bar_position

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    set_bar_position(slots.get())


def _started() -> int:
    """The pool's first job on each worker: held until every worker has been spawned."""
    _GO.wait()
    return os.getpid()


class WorkerPool:
    """A pool of ``workers`` spawned processes with ``threads`` torch threads each::

    with WorkerPool(2, threads=1) as pool:
        future = pool.submit(train_role, spec_dict, "oracle")
    """

    def __init__(self, workers: int, threads: int = 1) -> None:
        ctx = self._ctx = _WorkerContext()
        self._slots = ctx.Queue()
        for i in range(workers):
            self._slots.put(i + 1)  # line 0 is the parent's
        go = ctx.Event()
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(threads, self._slots, os.getpid(), _in_main_thread(), go),
        )
        # Spawn every worker now, from this thread: the executor spawns one per submit while
        # none is idle, and each of these jobs holds its worker until all are submitted.
        try:
            for _ in range(workers):
                self._pool.submit(_started)
        finally:
            go.set()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._pool.shutdown(wait=True)
            return
        # interrupted or failed: stop at once (what was finished is in the cache); shutdown
        # alone would cancel the queued jobs but wait for the running ones to end
        processes = list(self._ctx.processes)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=10)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


__all__ = ["WorkerPool", "default_workers", "die_with_parent"]
