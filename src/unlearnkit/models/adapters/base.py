"""The family-agnostic part of the adapter contract, and the one weight fingerprint.

Every family (causal LM, image classifier, recommender) wraps its model in an adapter with
this shape: the wrapped ``model``, its ``device``, a ``family`` name, a content
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
    """What every family's adapter offers (``isinstance`` checks it): ``family`` (its
    name: "causal_lm", "classifier", "recommender"), the wrapped ``model``, its ``device``,
    ``fingerprint()`` (:func:`model_fingerprint` of the weights, plus any wrapper's
    settings) and ``save(path)`` (a directory its ``from_pretrained`` loads again)."""

    family: ClassVar[str]
    model: torch.nn.Module

    @property
    def device(self) -> torch.device: ...

    def fingerprint(self) -> str: ...

    def save(self, path: str | Path) -> Path: ...


def tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """The raw bytes of ``tensor`` (on the CPU, contiguous, native byte order), whatever its
    dtype: viewed as bytes rather than converted, so dtypes numpy lacks (bfloat16, float8)
    hash like any other. For a dtype numpy has, the bytes equal ``tensor.numpy().tobytes()``."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


def model_fingerprint(model: torch.nn.Module, length: int = 16, *, layout: bool = True) -> str:
    """sha256 over every parameter and buffer, in name order: its name, with ``layout`` its
    dtype and shape, and its bytes (:func:`tensor_bytes`), as the first ``length`` hex digits.

    Two models with the same weights have the same fingerprint whatever their device; a
    bfloat16 copy differs from its float32 original (other bytes). The fingerprint is a
    cache key: the causal-LM adapter hashes with ``layout``; the classifier and recommender
    adapters without it (name and bytes only), as they did before this was shared, so
    their caches stay valid.
    """
    h = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        t = state[name]
        h.update(name.encode())
        if layout:
            h.update(str(t.dtype).encode())
            h.update(str(tuple(t.shape)).encode())
        h.update(tensor_bytes(t))
    return h.hexdigest()[:length]
