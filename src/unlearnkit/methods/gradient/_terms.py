"""Forward passes shared by gradient methods (the losses themselves are in ``losses``)."""

from __future__ import annotations

import torch

from unlearnkit.methods.base import UnlearnContext
from unlearnkit.methods.losses import nll_loss, sequence_logprob
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


@torch.no_grad()
def reference_logits(
    ctx: UnlearnContext, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`logits` of the frozen reference model (no gradients)."""
    if ctx.reference is None:
        raise RuntimeError("this method declared uses_reference=False but asked for one")
    return logits(ctx.reference, batch)


def reference_sequence_logprob(
    ctx: UnlearnContext, batch: dict[str, torch.Tensor], view: str
) -> torch.Tensor:
    """(B,) Σ_t log π_ref(y_t | x, y_<t) of each forget example of ``batch`` (view ``view``).

    The reference is frozen, so each example's value is computed once (in the first batch
    that holds it) and kept in ``ctx.state``; later epochs run no reference forward pass.
    Batches without an ``index`` are computed every time.
    """
    index = batch.get("index")
    if index is None:
        return sequence_logprob(*reference_logits(ctx, batch))
    cache: dict[tuple[str, int], torch.Tensor] = ctx.state.setdefault("reference_logprob", {})
    keys = [(view, int(i)) for i in index.tolist()]
    if any(k not in cache for k in keys):
        values = sequence_logprob(*reference_logits(ctx, batch))
        cache.update(zip(keys, values.detach(), strict=True))
    return torch.stack([cache[k] for k in keys])


def retain_nll(ctx: UnlearnContext, retain: dict[str, torch.Tensor] | None) -> torch.Tensor:
    """Token-mean NLL on the retain batch (0 when there is none)."""
    if retain is None:
        return torch.zeros((), device=ctx.accelerator.device)
    return nll_loss(*logits(ctx.model, retain))
