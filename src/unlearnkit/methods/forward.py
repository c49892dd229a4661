"""The methods' forward pass: a causal LM's logits at the positions a loss reads.

Public, so that code outside the methods that trains on the same objectives (the
relearning attack of :mod:`unlearnkit.audit.relearning`) runs the very same forward pass;
the gradient methods reach it through their shared terms (``methods.gradient._terms``).
"""

from __future__ import annotations

import torch

from unlearnkit.models.adapters.causal_lm import accepts_logits_to_keep
from unlearnkit.models.encoding import IGNORE_INDEX


def logits(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, labels)`` of a batch, cut to the positions the losses read.

    Every loss reads ``logits[:, t]`` only where ``labels[:, t + 1]`` is scored (an answer
    token). The output layer therefore runs from the position just before the batch's first
    scored token (transformers' ``logits_to_keep``), and labels are cut at the same place,
    so ``logits[:, t]`` still predicts ``labels[:, t + 1]``: (B, T', V) and (B, T'). Models
    whose forward has no ``logits_to_keep`` give the full (B, T, V) and labels unchanged.
    """
    labels = batch["labels"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    scored = (labels != IGNORE_INDEX).any(0).nonzero()
    first = int(scored[0]) - 1 if len(scored) else 0
    if first < 1 or not accepts_logits_to_keep(model):
        return model(**inputs).logits, labels
    keep = torch.arange(first, labels.shape[1], device=labels.device)
    return model(**inputs, logits_to_keep=keep).logits, labels[:, first:]


__all__ = ["logits"]
