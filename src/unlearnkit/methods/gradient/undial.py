"""UNDIAL: self-distillation with adjusted logits, Dong et al. 2024, arXiv:2402.10052.

The model is distilled on the forget set toward its own frozen copy whose logit of each
answer token is lowered by β: the answer loses probability and every other token keeps its
relative share, so the change stays local and the objective is bounded (a distillation
target, not an ascent).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, reference_logits, retain_nll
from unlearnkit.methods.losses import undial_loss


@dataclass(frozen=True)
class UNDIALConfig(RetainConfig):
    """beta: how far the teacher's answer-token logit is lowered. alpha: retain NLL weight
    (0: the paper's forget-only form)."""

    lr: float = param(1e-3, gt=0)
    epochs: int = param(10, ge=1)
    beta: float = param(10.0, gt=0)
    alpha: float = param(0.0, ge=0)


@METHODS.register(
    "undial",
    paper="arXiv:2402.10052 (Dong et al., UNDIAL)",
    description="UNDIAL: CE toward the frozen model's softmax with the answer logit - beta.",
)
class UNDIAL(Method):
    """loss = mean_t CE(softmax(logits_ref,t - β onehot(y_t)), softmax(logits_t)) + α CE(r)."""

    config_class = UNDIALConfig
    uses_retain = True
    uses_reference = True

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        student, labels = logits(ctx.model, f)
        teacher, _ = reference_logits(ctx, f)
        distil = undial_loss(student, teacher, labels, self.config.beta)
        if self.config.alpha == 0:
            return {"loss": distil, "forget_undial": distil}
        r = retain_nll(ctx, retain)
        return {"loss": distil + self.config.alpha * r, "forget_undial": distil, "retain_nll": r}
