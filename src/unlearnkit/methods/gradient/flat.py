"""FLAT: loss adjustment with only forget data, Wang et al. 2024, arXiv:2410.11143.

No retain data: for each forget question, a template answer (a refusal, drawn like the
``idk_*`` methods') is made more likely and the forget answer less likely, through the
variational form of an f-divergence between the two on their per-answer mean token
probabilities. The divergence sets the relative weights of the two pushes; Total Variation
(the paper's default) gives ``(tanh(P_forget) - tanh(P_template)) / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, UnlearnConfig
from unlearnkit.methods.gradient._terms import logits
from unlearnkit.methods.gradient.idk import RefusalMethod
from unlearnkit.methods.losses import answer_mean_prob, flat_loss


@dataclass(frozen=True)
class FLATConfig(UnlearnConfig):
    """divergence: the f-divergence (tv, kl, js, pearson). refusals_file: template answers,
    one per line (null = the shipped list)."""

    lr: float = param(1e-4, gt=0)
    epochs: int = param(1, ge=1)
    divergence: Literal["tv", "kl", "js", "pearson"] = "tv"
    refusals_file: str | None = None


@METHODS.register(
    "flat",
    paper="arXiv:2410.11143 (Wang et al., FLAT)",
    description="FLAT: maximise an f-divergence between template and forget answers (no retain).",
)
class FLAT(RefusalMethod):
    """loss = -g_f(P_template) + f*(g_f(P_forget)), P = per-answer mean token probability."""

    config_class = FLATConfig

    def loss(self, ctx, forget, retain):
        p_template = answer_mean_prob(*logits(ctx.model, forget["idk"]))
        p_forget = answer_mean_prob(*logits(ctx.model, forget["forget"]))
        loss = flat_loss(p_template, p_forget, self.config.divergence)
        return {"loss": loss, "forget_flat": loss, "answer_prob": p_forget.mean()}
