"""SimNPO, Fan et al. 2024, arXiv:2410.07163: NPO without a reference model, on the
length-normalised log-likelihood with a reward margin γ, plus a retain NLL term."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, retain_nll
from unlearnkit.methods.losses import sequence_logprob, simnpo_loss


@dataclass(frozen=True)
class SimNPOConfig(RetainConfig):
    """beta: inverse temperature; gamma: reward margin; alpha: retain NLL weight."""

    lr: float = param(1e-3, gt=0)
    epochs: int = param(30, ge=1)
    beta: float = param(0.1, gt=0)  # the paper's 4.5 saturates early on the demo world
    gamma: float = param(0.0, ge=0)
    alpha: float = param(1.0, ge=0)


@METHODS.register(
    "simnpo",
    paper="arXiv:2410.07163 (Fan et al., Simplicity Prevails: SimNPO)",
    description="SimNPO: -(2/beta) log sigmoid(-beta * avg log p - gamma) on f + alpha * CE(r).",
)
class SimNPO(Method):
    """loss = -(2/β) mean log σ(-β · avg log π_θ(y|x) - γ) + α CE(retain)."""

    config_class = SimNPOConfig
    uses_retain = True

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        avg = sequence_logprob(*logits(ctx.model, f), average=True)
        sim = simnpo_loss(avg, self.config.beta, self.config.gamma)
        r = retain_nll(ctx, retain)
        return {"loss": sim + self.config.alpha * r, "forget_simnpo": sim, "retain_nll": r}
