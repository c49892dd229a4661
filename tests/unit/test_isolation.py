"""The suite's own guard: no test reaches the user's cache (tests/conftest.py points
``$UNLEARNKIT_CACHE`` at a folder of the session)."""

from __future__ import annotations

from pathlib import Path

from unlearnkit.core.cache import default_cache_dir


def test_the_default_cache_is_the_sessions_private_folder(private_cache: Path) -> None:
    assert default_cache_dir() == private_cache
    assert not default_cache_dir().is_relative_to(Path.home() / ".cache")
