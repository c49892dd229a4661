"""SatImp, Yang et al. 2025, arXiv:2505.11953 ("Exploring Criteria of Loss Reweighting to
Enhance LLM Unlearning").

Token-weighted gradient ascent with two factors: saturation p^β₁ (as WGA: forgotten tokens
stop pulling) times importance (1 - p)^β₂ (near-certain tokens pull less too), no gradient
through the weight; plus a retain NLL term.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, retain_nll
from unlearnkit.methods.losses import weighted_ascent_loss


@dataclass(frozen=True)
class SatImpConfig(RetainConfig):
    """beta1: saturation exponent (p^beta1). beta2: importance exponent ((1-p)^beta2).
    alpha: retain NLL weight."""

    lr: float = param(3e-3, gt=0)
    epochs: int = param(10, ge=1)
    beta1: float = param(1.0, ge=0)
    beta2: float = param(1.0, ge=0)
    alpha: float = param(1.0, ge=0)


@METHODS.register(
    "satimp",
    paper="arXiv:2505.11953 (Yang et al., SatImp loss reweighting)",
    description="SatImp: -mean(p^b1 (1-p)^b2 * CE) over forget tokens + alpha * CE(r).",
)
class SatImp(Method):
    """loss = -mean_t stopgrad(p_t^β₁ (1 - p_t)^β₂) CE_t(forget) + α CE(retain)."""

    config_class = SatImpConfig
    uses_retain = True

    def loss(self, ctx, forget, retain):
        cfg = self.config
        out = logits(ctx.model, forget["forget"])
        sat = weighted_ascent_loss(*out, beta=cfg.beta1, gamma=cfg.beta2)
        r = retain_nll(ctx, retain)
        return {"loss": sat + cfg.alpha * r, "forget_satimp": sat, "retain_nll": r}
