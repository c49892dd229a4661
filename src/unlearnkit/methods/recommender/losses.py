"""Losses of the recommender methods as pure functions of scores (hand-computed tests in
tests/unit/methods/test_recommender_losses.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["embedding_shift", "reverse_bpr_loss"]


def reverse_bpr_loss(forgotten: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """MMRecUn's reverse BPR: mean −log σ(s(u, j) − s(u, i_f)), a forgotten positive i_f
    ranked below a sampled negative j (BPR with the roles swapped)."""
    return -F.logsigmoid(negatives - forgotten).mean()


def embedding_shift(delta: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of an embedding update (UnlearnRec's preservation term: a request
    should move the embeddings as little as it can)."""
    return delta.pow(2).sum(-1).mean()
