"""Family adapters: the one door through which metrics, attacks and methods reach a model."""

from unlearnkit.models.adapters.base import ModelAdapter, model_fingerprint
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, ContinuationScores

__all__ = ["CausalLMAdapter", "ContinuationScores", "ModelAdapter", "model_fingerprint"]
