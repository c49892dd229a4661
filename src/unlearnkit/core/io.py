"""Atomic file writes: a reader never sees a half-written file or directory.

A directory is built under a temporary name (``.<name>.<random>.tmp``) that holds an owner
file (:data:`OWNER_FILE`: pid, host, process start time); a process killed while building
leaves that folder behind, and :func:`clean_stale_temps` (run by every later
:func:`atomic_dir` of the same name, and by the cache before each build) removes the folders
whose owner is gone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: written first into every temporary directory :func:`atomic_dir` makes; removed before the
#: directory is moved into place
OWNER_FILE = ".unlearnkit-owner.json"
#: a temporary directory owned by a process on another host (a shared file system, whose
#: pids this host cannot check) counts as abandoned after this many seconds
FOREIGN_TEMP_AGE_S = 7 * 24 * 3600.0
#: the suffixes of the temporary directories :func:`atomic_dir` makes (being built; being
#: deleted after a replacement)
TEMP_SUFFIXES = (".tmp", ".old")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; honour the umask instead
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """JSON with sorted-stable output (insertion order kept, UTF-8, trailing newline)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> Path:
    """Atomically write records as JSON Lines (one compact object per line)."""
    lines = [json.dumps(r, ensure_ascii=False, allow_nan=False) for r in records]
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


#: ``PF_EXITING`` in the flags of ``/proc/<pid>/stat`` (field 9 of proc(5)): the task has
#: begun to exit and runs no more user code
_PF_EXITING = 0x4


def _stat_fields(stat_path: str | Path) -> list[str] | None:
    """The fields of a ``/proc/.../stat`` file from field 3 (the state) on; ``None`` when it
    cannot be read (the process or thread is gone, or there is no ``/proc``)."""
    try:
        text = Path(stat_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the name may hold spaces and brackets


def _start_time(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), which
    tells a process from a later one that reuses its pid; ``None`` where unknown."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return int(fields[19]) if fields else None  # field 22 of proc(5); fields[0] is field 3


def _thread_exiting(fields: list[str]) -> bool:
    """Whether a thread whose stat fields are ``fields`` is a zombie, dead, or exiting."""
    return fields[0] in ("Z", "X", "x") or bool(int(fields[6]) & _PF_EXITING)


def _dying(pid: int) -> bool | None:
    """Whether process ``pid`` is exiting or exited (every thread of it a zombie or past the
    start of its exit), ``None`` where ``/proc`` cannot tell.

    A process killed by ``kill -9`` closes its files, and so releases its ``flock`` locks,
    during its exit, before it becomes a zombie: a parent that waited on the lock of a child
    it had just killed read the child's state, once it got the lock, as ``R`` (with
    ``PF_EXITING``) 272 times in 300 and as ``Z`` 28 times (Linux 6.18). Every thread
    counts: a process whose main thread alone has ended is listed as a zombie but runs."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tids = []
    states = [_stat_fields(f"/proc/{pid}/task/{tid}/stat") for tid in tids]
    states = [f for f in states if f is not None]
    if not states:  # no per-thread view: the process's own line
        own = _stat_fields(f"/proc/{pid}/stat")
        if own is None:
            return None
        states = [own]
    return all(_thread_exiting(f) for f in states)


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether process ``pid`` (on this host) is still running: not gone, not a zombie, not
    exiting (killed, closing its files) and, when ``start_time`` is known, not a later
    process that reuses the pid."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if _dying(pid):
        return False
    if start_time is not None:
        now = _start_time(pid)
        if now is not None and now != start_time:
            return False
    return True


def owner_record() -> dict[str, Any]:
    """What :data:`OWNER_FILE` holds: this process's pid, host and start time."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "start_time": _start_time(pid),
        "created": time.time(),
    }


def make_owned_dir(parent: str | Path, prefix: str, suffix: str) -> Path:
    """A new empty directory ``parent/<prefix><random><suffix>`` (mode from the umask)
    holding :data:`OWNER_FILE`, so that :func:`clean_stale_temps` can tell when the process
    that made it is gone."""
    parent = Path(parent)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; honour the umask instead
        (tmp / OWNER_FILE).write_text(json.dumps(owner_record()) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def temp_owner_gone(tmp: Path, *, foreign_age_s: float = FOREIGN_TEMP_AGE_S) -> bool | None:
    """Whether the process that made the temporary directory ``tmp`` is gone: ``True`` (its
    pid is dead on this host, or it is on another host and older than ``foreign_age_s``),
    ``False`` (it may still be writing) or ``None`` when ``tmp`` has no readable owner file
    (not made by :func:`make_owned_dir`, or killed before writing it)."""
    try:
        owner = json.loads((tmp / OWNER_FILE).read_text(encoding="utf-8"))
        pid, host = int(owner["pid"]), str(owner["host"])
        start = owner.get("start_time")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host == socket.gethostname():
        return not pid_alive(pid, int(start) if start is not None else None)
    try:
        age = time.time() - (tmp / OWNER_FILE).stat().st_mtime
    except OSError:
        return None
    return age > foreign_age_s


def _owned_here(tmp: Path) -> bool:
    """Whether the owner file of ``tmp`` names a process on this host."""
    try:
        owner = json.loads((tmp / OWNER_FILE).read_text(encoding="utf-8"))
        return str(owner["host"]) == socket.gethostname()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def clean_stale_temps(
    parent: str | Path,
    *,
    prefix: str = ".",
    ownerless_age_s: float | None = None,
    foreign_age_s: float = FOREIGN_TEMP_AGE_S,
    lock_held: bool = False,
) -> list[Path]:
    """Remove the temporary directories under ``parent`` (named ``<prefix>...tmp`` or
    ``...old``) left by processes that are gone; return the removed paths.

    A directory whose :data:`OWNER_FILE` names a live process (on this host) is kept, one
    from another host only after ``foreign_age_s``. A directory without an owner file is
    removed only when ``ownerless_age_s`` is given and it is older than that (folders left
    by versions that wrote no owner file): elsewhere a ``.x.tmp`` folder may be the user's.

    ``lock_held=True`` says that the caller holds the lock every writer of these folders
    holds while it writes them (the cache's lock on one entry): an owner on this host then
    cannot be writing, so its folders are removed whatever its pid looks like (a killed
    builder releases its lock before its pid reads as dead, see :func:`pid_alive`).
    """
    parent = Path(parent)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.startswith(".") and name.endswith(TEMP_SUFFIXES)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        tmp = Path(entry.path)
        gone = temp_owner_gone(tmp, foreign_age_s=foreign_age_s)
        if gone is False and lock_held and _owned_here(tmp):
            gone = True
        if gone is None:
            gone = ownerless_age_s is not None and time.time() - mtime > ownerless_age_s
        if gone:
            shutil.rmtree(tmp, ignore_errors=True)
            if not tmp.exists():
                removed.append(tmp)
    return removed


def honour_umask(root: str | Path) -> None:
    """Give every file under ``root`` the read/write bits the umask allows (never fewer than
    it has): writers that go through a temporary file of their own, such as safetensors'
    ``save_file`` and so ``save_pretrained``, leave mode 0600 whatever the umask."""
    allowed = 0o666 & ~_umask()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            file = os.path.join(dirpath, name)
            mode = os.lstat(file).st_mode
            if stat.S_ISREG(mode) and (mode | allowed) & 0o7777 != mode & 0o7777:
                os.chmod(file, (mode | allowed) & 0o7777)


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name and move it into place only on success.

    >>> with atomic_dir("out/model") as tmp:
    ...     (tmp / "weights.bin").write_bytes(b"...")

    Temporary folders of the same name left by killed processes are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    clean_stale_temps(path.parent, prefix=f".{path.name}.")
    tmp = make_owned_dir(path.parent, f".{path.name}.", ".tmp")
    try:
        yield tmp
        (tmp / OWNER_FILE).unlink(missing_ok=True)
        honour_umask(tmp)
        if path.exists() or path.is_symlink():
            trash = make_owned_dir(path.parent, f".{path.name}.", ".old")
            os.replace(path, trash / "old")
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float as a string ("nan", "inf", "-inf"), for strict
    JSON (``json.dumps(..., allow_nan=False)``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    return obj
