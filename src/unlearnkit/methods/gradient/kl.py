"""KL minimisation: ascend on the forget set while keeping the retain set's next-token
distributions close to the original model's (TOFU baseline, arXiv:2401.06121)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, reference_logits
from unlearnkit.methods.losses import ascent_loss, kl_to_reference


@dataclass(frozen=True)
class KLConfig(RetainConfig):
    """alpha: weight of KL(reference || model) on retain answer tokens."""

    lr: float = param(5e-4, gt=0)
    epochs: int = param(8, ge=1)
    alpha: float = param(3.0, ge=0)


@METHODS.register(
    "kl",
    paper="arXiv:2401.06121 (TOFU, KL minimisation baseline)",
    description="-CE(f) + alpha * KL(reference || model) on r.",
)
class KL(Method):
    """loss = -CE(forget) + alpha * KL(p_ref || p_model) over retain answer tokens."""

    config_class = KLConfig
    uses_retain = True
    uses_reference = True

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        ga = ascent_loss(*logits(ctx.model, f))
        if retain is None:  # the forget part alone (smoothing asks for it)
            return {"loss": ga, "forget_ascent": ga}
        model_logits, labels = logits(ctx.model, retain)
        ref_logits, _ = reference_logits(ctx, retain)
        kl = kl_to_reference(model_logits, ref_logits, labels)
        return {"loss": ga + self.config.alpha * kl, "forget_ascent": ga, "retain_kl": kl}
