"""Seeding helpers. Every stochastic piece takes a seed or a generator; nothing inside the
library draws from the global RNG without being given a seed."""

from __future__ import annotations

import hashlib
import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: the data layer must not pay for it
    import torch


def derive_seed(seed: int, *keys: object) -> int:
    """A stable 31-bit seed derived from ``seed`` and any keys (same inputs, same output,
    on every platform and Python version: uses sha256, not ``hash``)."""
    text = "\x1f".join([str(int(seed)), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") >> 1


def make_generator(seed: int, *keys: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(seed, *keys)``."""
    import torch

    g = torch.Generator()
    g.manual_seed(derive_seed(seed, *keys) if keys else int(seed))
    return g


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global RNGs (for code outside our control, e.g. weight
    initialisation inside transformers)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Pin torch's intra-op thread count (the count changes floating-point results, so a
    reproducible run pins it). Default: ``UNLEARNKIT_THREADS`` or the number of CPUs."""
    import torch

    if n is None:
        n = int(os.environ.get("UNLEARNKIT_THREADS", "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n
