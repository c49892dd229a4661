"""Weighted gradient ascent (WGA), Wang et al. 2025, arXiv:2502.19301 ("Rethinking LLM
Unlearning Objectives: A Gradient Perspective and Go Beyond").

Gradient ascent whose per-token terms are weighted by the token's own probability p^β
(no gradient through the weight): tokens already unlikely stop pulling, so the ascent fades
instead of running away; plus a retain NLL term.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, retain_nll
from unlearnkit.methods.losses import weighted_ascent_loss


@dataclass(frozen=True)
class WGAConfig(RetainConfig):
    """beta: exponent of the token-probability weight p^beta. alpha: retain NLL weight."""

    lr: float = param(3e-3, gt=0)
    epochs: int = param(10, ge=1)
    beta: float = param(1.0, ge=0)
    alpha: float = param(1.0, ge=0)


@METHODS.register(
    "wga",
    paper="arXiv:2502.19301 (Wang et al., weighted gradient ascent)",
    description="WGA: -mean(p^beta * CE) over forget tokens + alpha * CE(r).",
)
class WGA(Method):
    """loss = -mean_t stopgrad(p_t^β) CE_t(forget) + α CE(retain)."""

    config_class = WGAConfig
    uses_retain = True

    def loss(self, ctx, forget, retain):
        wga = weighted_ascent_loss(*logits(ctx.model, forget["forget"]), beta=self.config.beta)
        r = retain_nll(ctx, retain)
        return {"loss": wga + self.config.alpha * r, "forget_wga": wga, "retain_nll": r}
