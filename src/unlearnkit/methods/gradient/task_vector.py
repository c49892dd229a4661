"""Task-vector negation (Ilharco et al. 2023, arXiv:2212.04089), a MUSE baseline
(arXiv:2407.06460).

Fine-tune the model further on the forget set (the "reinforced" model θ_r), take the task
vector τ = θ_r − θ, and subtract it: θ_unlearned = θ − s·τ. The loop trains the reinforced
model (NLL on the forget answers); the negation happens once at the end. With LoRA the
adapters hold τ, so negating means scaling them by −s before the merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, UnlearnConfig
from unlearnkit.methods.gradient._terms import logits
from unlearnkit.methods.losses import nll_loss


@dataclass(frozen=True)
class TaskVectorConfig(UnlearnConfig):
    """scale: s in θ − s·τ. The loop settings (lr, epochs) train the reinforced model."""

    lr: float = param(1e-3, gt=0)
    epochs: int = param(5, ge=1)
    scale: float = param(1.0, gt=0)


@METHODS.register(
    "task_vector",
    paper="arXiv:2212.04089 (Ilharco et al., task arithmetic); MUSE baseline arXiv:2407.06460",
    description="Task-vector negation: theta - s * (theta_reinforced_on_f - theta).",
)
class TaskVector(Method):
    """Train θ_r by CE on the forget set, then set θ ← θ − s·(θ_r − θ)."""

    config_class = TaskVectorConfig
    uses_reference = True  # the weights before reinforcement (θ)

    def loss(self, ctx, forget, retain):
        nll = nll_loss(*logits(ctx.model, forget["forget"]))
        return {"loss": nll, "forget_nll": nll}

    def finish(self, ctx) -> None:
        model = ctx.accelerator.unwrap_model(ctx.model)
        s = self.config.scale
        if self.config.lora:
            # the merged update is B·A·(alpha/r): scaling every B by −s negates τ
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.mul_(-s)
            return
        reference = dict(ctx.reference.named_parameters())
        for name, p in model.named_parameters():
            if p.requires_grad:
                base = reference[name].to(p.device, p.dtype)
                p.copy_(base - s * (p - base))
