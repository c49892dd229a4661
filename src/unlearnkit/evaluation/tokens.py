"""Which scored tokens a metric reads.

A QA answer is scored with the EOS token that TOFU and open-unlearning append to it
(``preprocess_chat_instance``). The likelihood metrics (probability, truth ratio,
normalised probability, LOSS, ZLib, Reference) read every scored token, that EOS included.
The token-level ones (exact memorisation, extraction strength, Min-K%, Min-K%++, GradNorm)
read every scored token *but the last*, as open-unlearning's ``tokenwise_logprobs`` and
``tokenwise_vocab_logprobs`` do (``[:-1]``, "ignore eos prediction"). Those drop the last
labelled token of *every* item, so MUSE's raw texts, which end without an EOS, lose their
last real token there too; we do the same, so the numbers agree.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import torch

from unlearnkit.models.adapters.causal_lm import ContinuationScores

__all__ = ["without_last_token"]


def without_last_token(scores: ContinuationScores) -> ContinuationScores:
    """``scores`` without its last scored token: every per-token field (a tensor or a tuple
    of tensors whose first dimension is T, or the tuple of T offsets) cut to its first
    ``T - 1`` entries. An empty continuation stays empty."""
    t = scores.n_tokens
    n = max(t - 1, 0)

    def cut(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value[:n] if value.dim() >= 1 and value.shape[0] == t else value
        if isinstance(value, tuple) and value and all(isinstance(v, torch.Tensor) for v in value):
            return tuple(cut(v) for v in value)  # (mu, sigma2)
        if isinstance(value, tuple) and len(value) == t:
            return value[:n]  # one (start, end) offset per token
        return value

    return replace(scores, **{f.name: cut(getattr(scores, f.name)) for f in fields(scores)})
