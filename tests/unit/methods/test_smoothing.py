"""Smoothness defences: the gradient each one accumulates, by hand on a small objective,
and each one inside the loop."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.conformance.test_methods import _adapter, _data
from unlearnkit.methods import unlearn
from unlearnkit.methods.smoothing import SMOOTHING, WeightAverage, smoothed_backward

A = torch.tensor([1.0, 3.0])
T = torch.tensor([0.5, -1.0])


class Quadratic:
    """F(w) = ½ Σ A_i w_i² + w_0³/6 (forget); R(w) = ½‖w - T‖² (retain)."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w

    def loss(self, ctx, forget, retain):
        w = self.w
        f = 0.5 * (A * w * w).sum() + w[0] ** 3 / 6
        total = f if retain is None else f + 0.5 * ((w - T) ** 2).sum()
        return {"loss": total, "forget_f": f}


def grad_f(w: torch.Tensor) -> torch.Tensor:
    return A * w + torch.tensor([w[0] ** 2 / 2, 0.0])


def run(mode: str, rho: float = 0.1, mu: float = 0.5, generator=None) -> torch.Tensor:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    cfg = SimpleNamespace(smoothing=mode, smooth_rho=rho, smooth_weight=mu)
    ctx = SimpleNamespace(generator=generator or torch.Generator().manual_seed(0))
    terms = smoothed_backward(
        Quadratic(w),
        ctx,
        {},
        {"r": 1},
        [w],
        cfg,
        backward=lambda x: x.backward(),
        check=lambda x: None,
    )
    assert float(terms["loss"].detach()) == pytest.approx(0.5 * (1 + 12) + 1 / 6 + 0.5 * (0.25 + 9))
    torch.testing.assert_close(w.detach(), torch.tensor([1.0, 2.0]))  # back at θ
    return w.grad


W = torch.tensor([1.0, 2.0])
RETAIN_GRAD = W - T


@pytest.mark.parametrize("mode", ["none", "weight_avg"])
def test_plain_modes_give_the_plain_gradient(mode):
    torch.testing.assert_close(run(mode), grad_f(W) + RETAIN_GRAD)


def test_sam_takes_the_forget_gradient_at_the_ascent_point():
    g = grad_f(W)
    expected = grad_f(W + 0.1 * g / g.norm()) + RETAIN_GRAD
    torch.testing.assert_close(run("sam"), expected)


def test_random_smoothing_takes_the_forget_gradient_at_a_seeded_noisy_point():
    noise = torch.randn(2, generator=torch.Generator().manual_seed(0)) * W.std()
    expected = grad_f(W + 0.1 * noise) + RETAIN_GRAD
    torch.testing.assert_close(run("random"), expected)


def test_gradient_penalty_adds_two_mu_h_g_by_a_finite_difference():
    g = grad_f(W)
    h = 0.1 / g.norm()
    hg = (grad_f(W + h * g) - g) / h  # ≈ H g
    torch.testing.assert_close(run("grad_penalty"), g + 2 * 0.5 * hg + RETAIN_GRAD)
    # quadratic part exact: H = diag(A) + diag(w0, 0); the finite difference is close to it
    exact = g + 2 * 0.5 * (torch.diag(A + torch.tensor([W[0], 0.0])) @ g) + RETAIN_GRAD
    torch.testing.assert_close(run("grad_penalty", rho=1e-3), exact, atol=2e-2, rtol=1e-3)


def test_curvature_penalty_sees_the_third_order_term_only():
    g = grad_f(W)
    z = g / g.norm()
    # along z the quadratic part has no curvature change; w0³/6 gives z0² in coordinate 0
    expected = g + 0.5 * torch.tensor([z[0] ** 2, 0.0]) + RETAIN_GRAD
    torch.testing.assert_close(run("curvature"), expected, atol=1e-4, rtol=1e-4)


def test_weight_average_is_the_mean_of_the_iterates():
    p = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    avg = WeightAverage([p])
    avg.apply()  # nothing seen yet: unchanged
    for value in ([1.0, 2.0], [3.0, 4.0]):
        with torch.no_grad():
            p.copy_(torch.tensor(value))
        avg.update()
    avg.apply()
    torch.testing.assert_close(p.detach(), torch.tensor([2.0, 3.0]))


@pytest.mark.parametrize("mode", [m for m in SMOOTHING if m != "none"])
def test_each_defence_runs_in_the_loop_and_changes_the_result(tiny_lm, mode):
    forget, retain = _data()
    kw = {"max_steps": 2, "batch_size": 2, "progress": False, "seed": 1, "lr": 1e-3}
    plain, _ = unlearn(_adapter(tiny_lm), forget, retain, "npo", **kw)
    smooth, record = unlearn(
        _adapter(tiny_lm), forget, retain, "npo", smoothing=mode, smooth_rho=0.05, **kw
    )
    again, _ = unlearn(
        _adapter(tiny_lm), forget, retain, "npo", smoothing=mode, smooth_rho=0.05, **kw
    )
    assert record.steps == 2 and record.config["smoothing"] == mode
    assert smooth.fingerprint() != plain.fingerprint()
    assert smooth.fingerprint() == again.fingerprint()  # seeded
