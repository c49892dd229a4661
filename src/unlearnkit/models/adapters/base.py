"""The family-agnostic part of the adapter contract.

Every family (causal LM now; classifier and recommender later) wraps its model in an
adapter with this shape: the wrapped ``model``, its ``device``, a ``family`` name, a content
``fingerprint`` (for caching and provenance) and ``save``. Family-specific queries
(log-probs and generation for LMs, logits and features for classifiers, scores for
recommenders) are added by each family's adapter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import torch


@runtime_checkable
class ModelAdapter(Protocol):
    family: ClassVar[str]
    model: torch.nn.Module

    @property
    def device(self) -> torch.device: ...

    def fingerprint(self) -> str: ...

    def save(self, path: str | Path) -> Path: ...


def model_fingerprint(model: torch.nn.Module, length: int = 16) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes), in name order.

    Two models with the same weights have the same fingerprint whatever their device.
    """
    h = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        t = t.to("cpu").contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: hash the raw bits
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:length]
