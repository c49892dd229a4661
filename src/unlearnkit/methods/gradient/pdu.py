"""PDU, primal-dual unlearning ("Constrained Entropic Unlearning: A Primal-Dual Framework for
Large Language Models"; OpenUnlearning's ``PDU``).

Unlearning as a constrained problem: minimise a logit-flattening forget loss (the answer
positions' logits driven toward a flat row) subject to the retain loss staying below a
bound ε. The Lagrangian ``γ·L_f + λ·(L_r - ε)`` is minimised over the weights while the
dual variable λ ≥ 0 climbs when the retain loss exceeds its bound and falls (to 0) when it
is met: ``λ ← max(0, λ + η·(L_r - ε))`` after every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, retain_nll
from unlearnkit.methods.losses import logit_flatness_loss


@dataclass(frozen=True)
class PDUConfig(RetainConfig):
    """gamma: weight of the forget loss. alpha: the dual variable's starting value.
    retain_bound: ε, the retain NLL the constraint allows (null: the retain NLL of the first
    retain batch before any update, plus retain_slack). dual_lr: η, the dual step size."""

    lr: float = param(1e-3, gt=0)
    epochs: int = param(10, ge=1)
    gamma: float = param(0.01, gt=0)  # the squared logit gaps are large (~100s)
    alpha: float = param(10.0, ge=0)
    retain_bound: float | None = param(None, ge=0)
    retain_slack: float = param(0.05, ge=0)
    dual_lr: float = param(1.0, ge=0)


def dual_update(lam: float, retain_loss: float, bound: float, step_size: float) -> float:
    """One projected dual ascent step: ``max(0, λ + η·(L_r - ε))``."""
    return max(0.0, lam + step_size * (retain_loss - bound))


@METHODS.register(
    "pdu",
    paper="Constrained Entropic Unlearning: A Primal-Dual Framework for LLMs (OpenUnlearning PDU)",
    description="PDU: logit flattening on f subject to CE(r) <= eps, by primal-dual steps.",
)
class PDU(Method):
    """loss = γ mean_t (max logit_t - mean logit_t)² + λ (CE(retain) - ε); λ by dual ascent."""

    config_class = PDUConfig
    uses_retain = True

    def setup(self, ctx) -> None:
        ctx.state["dual"] = float(self.config.alpha)

    def after_step(self, ctx, terms) -> None:
        # the dual step uses the step's retain loss (measured on the weights it updated)
        state = ctx.state
        state["dual"] = dual_update(
            state["dual"], terms["retain_nll"], state["bound"], self.config.dual_lr
        )

    def loss(self, ctx, forget, retain):
        cfg, state = self.config, ctx.state
        flat = logit_flatness_loss(*logits(ctx.model, forget["forget"]))
        r = retain_nll(ctx, retain)
        if "bound" not in state and retain is not None:
            state["bound"] = (
                cfg.retain_bound
                if cfg.retain_bound is not None
                else float(r.detach()) + cfg.retain_slack
            )
        lam = state["dual"]
        total = cfg.gamma * flat + lam * (r - state.get("bound", 0.0))
        return {
            "loss": total,
            "forget_flatness": flat,
            "retain_nll": r,
            "dual": torch.tensor(lam),
        }
