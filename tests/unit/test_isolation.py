"""The suite's own guard: no test reaches the user's caches (tests/conftest.py points
unlearnkit's cache, the Hugging Face and matplotlib caches and ``$XDG_CACHE_HOME`` at
folders of the test session)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import PRIVATE_DIRS
from unlearnkit.core.cache import default_cache_dir


def test_the_default_cache_is_the_sessions_private_folder(private_cache: Path) -> None:
    assert default_cache_dir() == private_cache
    assert not default_cache_dir().is_relative_to(Path.home() / ".cache")


def test_the_libraries_caches_are_out_of_the_home_folder(private_cache: Path) -> None:
    import datasets
    import matplotlib

    root = private_cache.parent
    for key in PRIVATE_DIRS:
        assert Path(os.environ[key]).is_relative_to(root), key
    assert Path(datasets.config.HF_DATASETS_CACHE).is_relative_to(root)
    assert Path(matplotlib.get_cachedir()).is_relative_to(root)
