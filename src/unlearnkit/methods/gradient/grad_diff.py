"""Gradient difference (GradDiff): ascend on the forget set, descend on the retain set.

Liu et al. 2022 (arXiv:2203.12817, "Continual learning and private unlearning"); the TOFU
baseline (arXiv:2401.06121).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, retain_nll
from unlearnkit.methods.losses import ascent_loss


@dataclass(frozen=True)
class GradDiffConfig(RetainConfig):
    """alpha: weight of the retain NLL."""

    lr: float = param(8e-4, gt=0)
    epochs: int = param(12, ge=1)
    alpha: float = param(3.0, ge=0)


@METHODS.register(
    "grad_diff",
    paper="arXiv:2203.12817 (Liu et al.); TOFU baseline arXiv:2401.06121",
    description="Gradient difference: -CE(f) + alpha * CE(r).",
)
class GradDiff(Method):
    """loss = -CE(forget) + alpha * CE(retain)."""

    config_class = GradDiffConfig
    uses_retain = True

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        ga = ascent_loss(*logits(ctx.model, f))
        r = retain_nll(ctx, retain)
        return {"loss": ga + self.config.alpha * r, "forget_ascent": ga, "retain_nll": r}
