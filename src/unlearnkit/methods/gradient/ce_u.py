"""CE-U, cross-entropy unlearning, Yang 2025, arXiv:2503.01224.

Cross-entropy toward the model's own current distribution with the answer token removed
(and renormalised; no gradient through the target): it lowers the answer token with a
gradient that vanishes as its probability goes to 0. As in the paper, the first answer
token(s) are left out (``ignore_first``). Forget data only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, UnlearnConfig
from unlearnkit.methods.gradient._terms import logits
from unlearnkit.methods.losses import ce_u_loss
from unlearnkit.models.encoding import IGNORE_INDEX


@dataclass(frozen=True)
class CEUConfig(UnlearnConfig):
    """ignore_first: answer tokens left out at the start of each answer."""

    lr: float = param(3e-4, gt=0)
    epochs: int = param(1, ge=1)
    ignore_first: int = param(1, ge=0)


def drop_first_answer_tokens(labels: torch.Tensor, n: int) -> torch.Tensor:
    """``labels`` with the first ``n`` scored tokens of every row set to -100 (rows with at
    most ``n`` scored tokens keep their last one)."""
    if n == 0:
        return labels
    scored = labels != IGNORE_INDEX
    rank = scored.long().cumsum(-1)  # 1 at the first scored token
    keep = rank.max(-1, keepdim=True).values.clamp_max(n + 1)  # short rows keep the last
    return labels.masked_fill(scored & (rank < keep), IGNORE_INDEX)


@METHODS.register(
    "ce_u",
    paper="arXiv:2503.01224 (Yang, CE-U: cross entropy unlearning)",
    description="CE-U: CE toward the model's own distribution without the answer token.",
)
class CEU(Method):
    """loss = mean_t CE(softmax(stopgrad(logits_t) with logit[y_t] = -inf), softmax(logits_t))."""

    config_class = CEUConfig

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        batch = {**f, "labels": drop_first_answer_tokens(f["labels"], self.config.ignore_first)}
        ceu = ce_u_loss(*logits(ctx.model, batch))
        return {"loss": ceu, "forget_ce_u": ceu}
