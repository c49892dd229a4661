"""Forward passes shared by gradient methods (the losses themselves are in ``losses``).

:func:`logits` (the forward pass cut to the scored positions) lives in the public
:mod:`unlearnkit.methods.forward`; the methods take it from here with the terms built on it.
"""

from __future__ import annotations

import torch

from unlearnkit.methods.base import UnlearnContext
from unlearnkit.methods.forward import logits
from unlearnkit.methods.losses import nll_loss, sequence_logprob


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


__all__ = ["logits", "reference_logits", "reference_sequence_logprob", "retain_nll"]
