"""A cache directory of artefacts keyed by a content hash of everything that determines them.

``Cache(root).get_or_build("target", key, build)`` returns ``root/target/<hash>``; ``build``
runs only when that directory is missing and writes into a temporary directory that is moved
into place on success, so an interrupted build never leaves a half-written artefact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.io import atomic_dir, atomic_write_json

KEY_FILE = "cache_key.json"


def default_cache_dir() -> Path:
    """``$UNLEARNKIT_CACHE``, else ``$XDG_CACHE_HOME/unlearnkit``, else ``~/.cache/unlearnkit``."""
    if env := os.environ.get("UNLEARNKIT_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "unlearnkit"


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


@dataclass(frozen=True)
class Cache:
    root: Path

    def __init__(self, root: str | Path | None = None) -> None:
        object.__setattr__(self, "root", Path(root) if root else default_cache_dir())

    def path(self, kind: str, key: Any) -> Path:
        return self.root / kind / content_hash(key)

    def has(self, kind: str, key: Any) -> bool:
        return self.path(kind, key).is_dir()

    def get_or_build(self, kind: str, key: Any, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return ``(path, built)``; ``build(tmp_dir)`` fills a temporary directory."""
        target = self.path(kind, key)
        if target.is_dir():
            return target, False
        with atomic_dir(target, overwrite=True) as tmp:
            build(tmp)
            atomic_write_json(tmp / KEY_FILE, _canonical(key))
        return target, True

    def clear(self, kind: str | None = None) -> None:
        shutil.rmtree(self.root / kind if kind else self.root, ignore_errors=True)
