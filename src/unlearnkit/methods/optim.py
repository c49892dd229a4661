"""The plain optimiser loop of the methods that train a small model in one process (the
classifier and recommender methods): one step per item, a stop on a non-finite loss, an
optional gradient mask (SalUn's saliency mask). The LM methods run on the accelerate loop
of :mod:`unlearnkit.methods.loop` instead (devices, checkpoints, resume).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from unlearnkit.methods.errors import UnlearningError


def train_steps(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    steps: Iterable[Any],
    loss_of: Callable[[Any], torch.Tensor],
    mask: Mapping[str, torch.Tensor] | None = None,
) -> int:
    """One optimiser step per item of ``steps`` on ``loss_of(item)``, the model in train
    mode (eval mode again at the end). With ``mask`` (parameter name -> 0/1 tensor) the
    gradients are multiplied by it before each step, so masked weights stay as they are.
    Returns the number of steps.

    A non-finite loss stops the loop with an :class:`UnlearningError` before its step is
    taken (the model holds the last finite step's weights); the message says to lower lr.
    """
    model.train()
    named = dict(model.named_parameters()) if mask is not None else {}
    n = 0
    for item in steps:
        loss = loss_of(item)
        if not torch.isfinite(loss):
            raise UnlearningError(f"the loss became {float(loss)} at step {n}; lower lr")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if mask is not None:
            for name, m in mask.items():
                if named[name].grad is not None:
                    named[name].grad.mul_(m)
        optimiser.step()
        n += 1
    model.eval()
    return n


__all__ = ["train_steps"]
