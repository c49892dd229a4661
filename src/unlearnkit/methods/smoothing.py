"""Smoothness defences on the forget objective (Unlearn-Smooth, Fan et al. 2025,
arXiv:2502.05374): options of every gradient method (``smoothing=...`` in its config).

Relearning attacks recover knowledge because unlearning lands in a sharp region of the
forget loss: a few steps climb back out. Optimising a smoothed forget objective aims for a
flat region instead. The forget part F(θ) of a method's loss is what ``method.loss`` returns
without a retain batch; the rest R = loss − F keeps its plain gradient at θ. Per step:

- ``sam``: ∇F(θ + ρ·g/‖g‖) with g = ∇F(θ) (sharpness-aware minimisation: the worst nearby
  forget loss).
- ``random``: ∇F(θ + δ), δ ~ N(0, (ρ·std(W))²) per weight tensor (randomised smoothing, one
  draw per step from the method's seeded generator).
- ``grad_penalty``: ∇[F + μ‖∇F‖²] ≈ g + (2μ/h)(∇F(θ + h·g) − g) (the Hessian-vector product
  H·g by a finite difference of gradients, h = ρ/‖g‖, so no double backward).
- ``curvature``: ∇[F + μ·c], c = (F(θ + ρz) + F(θ − ρz) − 2F(θ))/ρ² the curvature along
  z = g/‖g‖ (z held fixed), by three forget gradients.
- ``weight_avg``: the plain objective, and the final weights are the average of the iterates
  over the run (stochastic weight averaging from the first step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

SMOOTHING = ("none", "sam", "random", "grad_penalty", "curvature", "weight_avg")


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor], **kw: Any) -> list[torch.Tensor]:
    out = torch.autograd.grad(loss, list(params), allow_unused=True, **kw)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out, strict=True)]


def _norm(grads: Sequence[torch.Tensor]) -> float:
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads)))


@torch.no_grad()
def _shift(params: Sequence[torch.Tensor], direction: Sequence[torch.Tensor], scale: float):
    for p, d in zip(params, direction, strict=True):
        p.add_(d, alpha=scale)


def smoothed_backward(
    method: Any,
    ctx: Any,
    forget: dict[str, Any],
    retain: dict[str, Any] | None,
    params: Sequence[torch.Tensor],
    config: Any,
    backward: Callable[[torch.Tensor], None],
    check: Callable[[torch.Tensor], None],
    grad_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Compute the method's terms at θ, ``check`` the loss, and accumulate into ``.grad``
    the gradient of the (smoothed) objective times ``grad_scale``; returns the terms at θ.

    ``backward(loss)`` must backpropagate ``grad_scale·loss`` (the loop's accumulation
    scaling). The weights are back at θ when it returns (perturbations are undone in
    place). Single process only: the smoothed forget gradient is added to ``.grad``
    directly, outside any gradient synchronisation."""
    mode = config.smoothing
    terms = method.loss(ctx, forget, retain)
    check(terms["loss"])
    if mode in ("none", "weight_avg"):
        backward(terms["loss"])
        return terms
    rho, mu = config.smooth_rho, config.smooth_weight
    f_here = method.loss(ctx, forget, None)["loss"]
    needs_g = mode != "random"
    g = _grads(f_here, params, retain_graph=True) if needs_g else None
    backward(terms["loss"] - f_here)  # the retain part's gradient at θ

    def forget_grad_at(direction: Sequence[torch.Tensor], scale: float) -> list[torch.Tensor]:
        _shift(params, direction, scale)
        try:
            return _grads(method.loss(ctx, forget, None)["loss"], params)
        finally:
            _shift(params, direction, -scale)

    if mode == "random":
        noise = [
            torch.randn(p.shape, generator=ctx.generator, device=ctx.generator.device).to(p)
            * (p.detach().float().std() if p.numel() > 1 else 1.0)
            for p in params
        ]
        total = forget_grad_at(noise, rho)
    else:
        assert g is not None
        norm = _norm(g)
        if norm == 0.0:
            total = g
        elif mode == "sam":
            total = forget_grad_at(g, rho / norm)
        elif mode == "grad_penalty":
            h = rho / norm
            g2 = forget_grad_at(g, h)
            total = [a + (2 * mu / h) * (b - a) for a, b in zip(g, g2, strict=True)]
        elif mode == "curvature":
            z = [x / norm for x in g]
            plus, minus = forget_grad_at(z, rho), forget_grad_at(z, -rho)
            total = [
                a + mu * (up + down - 2 * a) / rho**2
                for a, up, down in zip(g, plus, minus, strict=True)
            ]
        else:
            raise ValueError(f"smoothing must be one of {SMOOTHING}, got {mode!r}")
    # the smoothed forget gradient joins the retain part's in .grad (as backward would)
    with torch.no_grad():
        for p, t in zip(params, total, strict=True):
            t = (t * grad_scale).to(p.dtype)
            p.grad = t.clone() if p.grad is None else p.grad + t
    return terms


class WeightAverage:
    """The running average of the trained weights over the iterates (SWA from step 1)."""

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        self.params = list(params)
        self.sum = [torch.zeros_like(p, dtype=torch.float32) for p in self.params]
        self.count = 0

    @torch.no_grad()
    def update(self) -> None:
        for s, p in zip(self.sum, self.params, strict=True):
            s += p.detach().float()
        self.count += 1

    @torch.no_grad()
    def apply(self) -> None:
        """Set the weights to the average (no-op before the first update)."""
        if self.count == 0:
            return
        for s, p in zip(self.sum, self.params, strict=True):
            p.copy_((s / self.count).to(p.dtype))


__all__ = ["SMOOTHING", "WeightAverage", "smoothed_backward"]
