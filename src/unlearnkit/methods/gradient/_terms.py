"""Forward passes shared by gradient methods (the losses themselves are in ``losses``)."""

from __future__ import annotations

import torch

from unlearnkit.methods.base import UnlearnContext
from unlearnkit.methods.losses import nll_loss


def logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, T, V) logits of a batch (labels are not passed: the methods compute losses)."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


@torch.no_grad()
def reference_logits(ctx: UnlearnContext, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    if ctx.reference is None:
        raise RuntimeError("this method declared uses_reference=False but asked for one")
    return logits(ctx.reference, batch)


def retain_nll(ctx: UnlearnContext, retain: dict[str, torch.Tensor] | None) -> torch.Tensor:
    """Token-mean NLL on the retain batch (0 when there is none)."""
    if retain is None:
        return torch.zeros((), device=ctx.accelerator.device)
    return nll_loss(logits(ctx.model, retain), retain["labels"])
