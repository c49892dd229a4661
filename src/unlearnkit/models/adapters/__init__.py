"""Family adapters: the one door through which metrics, attacks and methods reach a model.

The causal-LM adapter is imported on first use: the contract and the weight fingerprint
(:mod:`unlearnkit.models.adapters.base`) serve every family without loading transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unlearnkit.models.adapters.base import ModelAdapter, model_fingerprint, tensor_bytes

if TYPE_CHECKING:
    from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, ContinuationScores

_LAZY = {"CausalLMAdapter", "ContinuationScores"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from unlearnkit.models.adapters import causal_lm

        return getattr(causal_lm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CausalLMAdapter",
    "ContinuationScores",
    "ModelAdapter",
    "model_fingerprint",
    "tensor_bytes",
]
