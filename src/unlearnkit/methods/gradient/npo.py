"""Negative Preference Optimization (NPO), Zhang et al. 2024, arXiv:2404.05868.

DPO with only a negative (dispreferred) answer: the forget answer's log-likelihood is pushed
below the reference model's, with a loss that saturates (bounded, unlike gradient ascent),
plus a retain NLL term (the paper's NPO+RT).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, reference_sequence_logprob, retain_nll
from unlearnkit.methods.losses import npo_loss, sequence_logprob


@dataclass(frozen=True)
class NPOConfig(RetainConfig):
    """beta: inverse temperature of the NPO loss. alpha: weight of the retain NLL."""

    lr: float = param(1e-3, gt=0)
    epochs: int = param(20, ge=1)
    beta: float = param(0.03, gt=0)  # the paper's 0.1 saturates early on the demo world
    alpha: float = param(1.0, ge=0)


@METHODS.register(
    "npo",
    paper="arXiv:2404.05868 (Zhang et al., Negative Preference Optimization)",
    description="NPO: -(2/beta) log sigmoid(-beta (log p - log p_ref)) on f + alpha * CE(r).",
)
class NPO(Method):
    """loss = -(2/β) mean log σ(-β (log π_θ(y|x) - log π_ref(y|x))) + α CE(retain)."""

    config_class = NPOConfig
    uses_retain = True
    uses_reference = True

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        logp = sequence_logprob(*logits(ctx.model, f))
        ref = reference_sequence_logprob(ctx, f, "forget")
        npo = npo_loss(logp, ref, self.config.beta)
        r = retain_nll(ctx, retain)
        return {"loss": npo + self.config.alpha * r, "forget_npo": npo, "retain_nll": r}
