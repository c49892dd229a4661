"""Gradient ascent (GA): maximise the forget set's NLL.

The simplest baseline (e.g. Jang et al. 2023, arXiv:2210.01504; TOFU arXiv:2401.06121).
Unbounded: run long enough it destroys the model, which is why the others exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, UnlearnConfig
from unlearnkit.methods.gradient._terms import logits
from unlearnkit.methods.losses import ascent_loss


@dataclass(frozen=True)
class GradAscentConfig(UnlearnConfig):
    """Gradient ascent; only the loop settings (defaults tuned on the demo world)."""

    lr: float = param(1e-4, gt=0)  # 2e-4 forgets more but collapses retain (docs/methods.md)
    epochs: int = param(5, ge=1)


@METHODS.register(
    "grad_ascent",
    paper="arXiv:2210.01504 (Jang et al., Knowledge Unlearning); TOFU baseline arXiv:2401.06121",
    description="Gradient ascent on the forget set: -CE(f).",
)
class GradAscent(Method):
    """Gradient ascent: loss = -mean CE(forget)."""

    config_class = GradAscentConfig

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        ga = ascent_loss(*logits(ctx.model, f))
        return {"loss": ga, "forget_ascent": ga}
