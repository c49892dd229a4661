"""A cache directory of artefacts keyed by a content hash of everything that determines them.

``Cache(root).get_or_build("target", key, build)`` returns ``root/target/<hash>``; ``build``
runs only when that entry is missing (or found corrupt) and writes into a temporary directory
that is moved into place on success, so an interrupted build never leaves a half-written
artefact.

An entry is trusted only when it checks out against its manifest (:data:`MANIFEST_FILE`:
the relative path, size and sha256 of every file), written last, inside the temporary
directory, before the rename. Reading checks that every listed file exists with its size
and, for entries up to :data:`FULL_VERIFY_BYTES` (``verify="auto"``, the default) or always
(``verify="full"``), its sha256. A folder without a manifest (written by an older version,
or not by unlearnkit), with a missing, truncated or altered file, is named in a
:class:`CacheCorruptionWarning`, removed and rebuilt. Files the manifest does not list are
ignored. The manifest guards against accidents (a killed copy, a full disk, bit rot, an
edited file), not against someone who can write the cache: they can write a manifest too.

Measured on a shared 2-core machine under load, files in the page cache: the test preset's
target entry (0.71 MB) checks in 0.11 ms by size and 0.68 ms with hashes (median of 50);
a 256 MiB entry in 0.16 ms by size and 0.19 s with hashes (sha256 at about 1.4 GB/s),
so hashing a 14 GB model (7B parameters in bf16) would take 10 s or more at every read;
entries above :data:`FULL_VERIFY_BYTES` are therefore checked by size unless
``verify="full"`` (or ``UNLEARNKIT_CACHE_VERIFY=full``) asks for hashes. Writing the
manifest hashes each file once (14 ms for the test preset's target).

Two processes that need the same missing entry share the work: the builder holds a lock
(``fcntl.flock`` on ``root/.locks/<kind>/<hash>.lock``, released by the kernel when the
process dies, even by ``kill -9``), and the other waits for it and then reuses the entry.
Where ``fcntl`` does not exist (Windows) there is no lock: both build, and the entry one of
them renames into place last is kept, whole. Before each build the temporary folders that
killed builds left in the entry's kind folder are removed
(:func:`unlearnkit.core.io.clean_stale_temps`): those whose owner process is gone, and
those without an owner file (older versions) after :data:`ORPHAN_TEMP_AGE_S`. The entry's
own temporary folders are removed once its lock is held, whatever their owner's pid says:
every builder of the entry held that lock, and a builder killed by ``kill -9`` loses it
while its pid still reads as a running process (closing files comes before the end of
its exit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unlearnkit.core.errors import ConfigError
from unlearnkit.core.io import (
    OWNER_FILE,
    atomic_dir,
    atomic_write_json,
    clean_stale_temps,
    make_owned_dir,
)

try:  # Linux and macOS; elsewhere builds are not locked (see the module docstring)
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we test
    fcntl = None  # type: ignore[assignment]

KEY_FILE = "cache_key.json"
#: written last into every entry: ``{"files": {relative path: {"size", "sha256"}}}``
MANIFEST_FILE = "cache_manifest.json"
MANIFEST_KIND = "unlearnkit.cache-manifest"
MANIFEST_VERSION = 1
#: ``verify="auto"`` hashes entries up to this many bytes and checks larger ones by size
FULL_VERIFY_BYTES = 256 * 2**20
#: a temporary folder without an owner file (left by a version that wrote none) is removed
#: after this many seconds
ORPHAN_TEMP_AGE_S = 3600.0
LOCK_DIR = ".locks"

Verify = Literal["size", "auto", "full"]
VERIFY_MODES: tuple[str, ...] = ("size", "auto", "full")

log = logging.getLogger(__name__)


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its check and is being discarded and rebuilt."""


def default_cache_dir() -> Path:
    """``$UNLEARNKIT_CACHE``, else ``$XDG_CACHE_HOME/unlearnkit``, else ``~/.cache/unlearnkit``."""
    if env := os.environ.get("UNLEARNKIT_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "unlearnkit"


def default_verify() -> Verify:
    """``$UNLEARNKIT_CACHE_VERIFY`` (``size``, ``auto`` or ``full``), else ``auto``."""
    value = os.environ.get("UNLEARNKIT_CACHE_VERIFY", "auto").strip().lower() or "auto"
    if value not in VERIFY_MODES:
        raise ConfigError(
            "environment",
            "UNLEARNKIT_CACHE_VERIFY",
            value,
            "one of size (sizes only), auto (hashes up to 256 MiB) or full (always hashes)",
        )
    return value  # type: ignore[return-value]


def _canonical(obj: Any) -> Any:
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _canonical(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj.is_integer():
        return obj  # keep 1.0 distinct from 1 only through JSON's own rules
    return obj


def content_hash(obj: Any, length: int = 16) -> str:
    """sha256 over canonical JSON (sorted keys) of ``obj``; configs hash via ``to_dict``."""
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_sha256(path: Path, chunk: int = 4 * 2**20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _entry_files(root: Path) -> list[str]:
    """Every file under ``root`` as a sorted relative POSIX path (the manifest and the owner
    file left out)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel not in (MANIFEST_FILE, OWNER_FILE):
                out.append(rel)
    return sorted(out)


def write_manifest(root: Path) -> dict[str, Any]:
    """Write :data:`MANIFEST_FILE` into ``root`` for the files in it now (call it last)."""
    files = {
        rel: {"size": (root / rel).stat().st_size, "sha256": file_sha256(root / rel)}
        for rel in _entry_files(root)
    }
    manifest = {"kind": MANIFEST_KIND, "version": MANIFEST_VERSION, "files": files}
    atomic_write_json(root / MANIFEST_FILE, manifest)
    return manifest


def check_entry(root: Path, verify: Verify = "auto") -> str | None:
    """Why the cache entry ``root`` cannot be trusted, or ``None`` when it checks out
    against its manifest (sizes always; sha256 as ``verify`` says)."""
    if not root.exists() and not root.is_symlink():
        return "it does not exist"
    if root.is_symlink() or not root.is_dir():
        return "it is not a folder"
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return (
            f"it has no {MANIFEST_FILE} (written by an older unlearnkit, interrupted, "
            "or not written by unlearnkit)"
        )
    except (OSError, ValueError) as exc:
        return f"its {MANIFEST_FILE} cannot be read ({exc})"
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        return f"its {MANIFEST_FILE} is not an unlearnkit cache manifest"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return f"its {MANIFEST_FILE} is not an unlearnkit cache manifest"
    total = 0
    for rel, info in files.items():
        if not isinstance(info, dict) or not isinstance(info.get("size"), int):
            return f"its {MANIFEST_FILE} has no size for {rel!r}"
        path = root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            return f"its {MANIFEST_FILE} names a file outside the entry: {rel!r}"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return f"the file {rel} is missing"
        except OSError as exc:
            return f"the file {rel} cannot be read ({exc})"
        if size != info["size"]:
            return (
                f"the file {rel} is {size} bytes where the manifest says {info['size']} "
                "(truncated or overwritten)"
            )
        total += size
    if verify == "full" or (verify == "auto" and total <= FULL_VERIFY_BYTES):
        for rel, info in files.items():
            try:
                digest = file_sha256(root / rel)
            except OSError as exc:
                return f"the file {rel} cannot be read ({exc})"
            if digest != info.get("sha256"):
                return f"the file {rel} differs from its sha256 in the manifest (corrupted)"
    return None


@contextlib.contextmanager
def _locked(lock_path: Path, what: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (blocking; the kernel drops it when the
    process dies)."""
    if fcntl is None:  # pragma: no cover - no lock where fcntl does not exist
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process that is building %s", what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _discard(target: Path) -> None:
    """Move ``target`` out of the way at once (a rename), then delete it."""
    if not target.exists() and not target.is_symlink():
        return
    trash = make_owned_dir(target.parent, f".{target.name}.", ".old")
    os.replace(target, trash / "corrupt")
    shutil.rmtree(trash, ignore_errors=True)


@dataclass(frozen=True)
class Cache:
    """The cache under ``root`` (default :func:`default_cache_dir`); ``verify`` says how
    an entry is checked when read: ``"size"``, ``"auto"`` (sha256 up to
    :data:`FULL_VERIFY_BYTES`, the default) or ``"full"``."""

    root: Path
    verify: Verify

    def __init__(self, root: str | Path | None = None, verify: Verify | None = None) -> None:
        if verify is not None and verify not in VERIFY_MODES:
            raise ConfigError("Cache", "verify", verify, f"one of {', '.join(VERIFY_MODES)}")
        object.__setattr__(self, "root", Path(root) if root else default_cache_dir())
        object.__setattr__(self, "verify", verify or default_verify())

    def path(self, kind: str, key: Any) -> Path:
        return self.root / kind / content_hash(key)

    def lock_path(self, kind: str, key: Any) -> Path:
        return self.root / LOCK_DIR / kind / f"{content_hash(key)}.lock"

    def check(self, kind: str, key: Any) -> str | None:
        """Why the entry of ``key`` is missing or cannot be trusted; ``None`` when usable."""
        return check_entry(self.path(kind, key), self.verify)

    def has(self, kind: str, key: Any) -> bool:
        """Whether the entry exists and checks out against its manifest."""
        return self.check(kind, key) is None

    def get_or_build(self, kind: str, key: Any, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return ``(path, built)``; ``build(tmp_dir)`` fills a temporary directory.

        A corrupt entry is named in a :class:`CacheCorruptionWarning`, removed and rebuilt;
        while one process builds an entry, another asking for it waits and reuses it.
        """
        target = self.path(kind, key)
        if check_entry(target, self.verify) is None:
            return target, False
        with _locked(self.lock_path(kind, key), target):
            # another process may have built (or repaired) it while we waited
            problem = check_entry(target, self.verify)
            if problem is None:
                return target, False
            if target.exists() or target.is_symlink():
                warnings.warn(
                    f"cache entry {target} is corrupt: {problem}. It is discarded and rebuilt.",
                    CacheCorruptionWarning,
                    stacklevel=2,
                )
                _discard(target)
            # this entry's temporary folders: whoever made them held this lock, which is ours
            # now, so they are abandoned even while the killed builder's pid still reads as
            # running (the kernel drops a lock before the process's exit is complete)
            clean_stale_temps(
                target.parent,
                prefix=f".{target.name}.",
                ownerless_age_s=ORPHAN_TEMP_AGE_S,
                lock_held=fcntl is not None,
            )
            self.clean(kind)
            with atomic_dir(target, overwrite=True) as tmp:
                build(tmp)
                atomic_write_json(tmp / KEY_FILE, _canonical(key))
                write_manifest(tmp)  # last: an entry with a manifest is complete
        return target, True

    def clean(self, kind: str | None = None) -> list[Path]:
        """Remove the temporary folders that killed builds left (in ``kind``'s folder, or in
        every kind's); return what was removed. Folders of live builds are kept."""
        kinds = [self.root / kind] if kind else _subdirs(self.root)
        removed: list[Path] = []
        for folder in kinds:
            removed += clean_stale_temps(folder, ownerless_age_s=ORPHAN_TEMP_AGE_S)
        return removed

    def clear(self, kind: str | None = None) -> None:
        shutil.rmtree(self.root / kind if kind else self.root, ignore_errors=True)


def _subdirs(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
