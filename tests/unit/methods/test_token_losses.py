"""Hand-computed values of the token-level forget objectives (WGA, SatImp, UNDIAL, CE-U,
PDU's flatness term, LoKU's inverted hinge, FLAT) on the two-row fixture of test_losses:

scored positions (logits -> probabilities, label):
  (row 0, t 0): p = (1/4, 3/4), label 0 -> p_y = 1/4
  (row 0, t 1): p = (1/2, 1/2), label 1 -> p_y = 1/2
  (row 1, t 1): p = (3/4, 1/4), label 0 -> p_y = 3/4
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.unit.methods.test_losses import LN2, LN3, LN4, two_rows
from unlearnkit.methods.losses import (
    answer_mean_prob,
    ascent_loss,
    ce_u_loss,
    flat_loss,
    inverted_hinge_loss,
    logit_flatness_loss,
    undial_loss,
    weighted_ascent_loss,
)

P_Y = (0.25, 0.5, 0.75)
LOG_P_Y = (-LN4, -LN2, math.log(0.75))


def close(value: torch.Tensor, expected: float) -> None:
    assert float(value.detach()) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_wga_weights_each_token_by_its_probability():
    logits, labels = two_rows()
    expected = sum(p * lp for p, lp in zip(P_Y, LOG_P_Y, strict=True)) / 3
    close(weighted_ascent_loss(logits, labels, beta=1.0), expected)
    # beta = 2: p^2
    expected2 = sum(p * p * lp for p, lp in zip(P_Y, LOG_P_Y, strict=True)) / 3
    close(weighted_ascent_loss(logits, labels, beta=2.0), expected2)
    # no weighting: plain gradient ascent
    torch.testing.assert_close(
        weighted_ascent_loss(logits, labels, 0.0), ascent_loss(logits, labels)
    )


def test_satimp_multiplies_by_the_importance():
    logits, labels = two_rows()
    expected = sum(p * (1 - p) * lp for p, lp in zip(P_Y, LOG_P_Y, strict=True)) / 3
    close(weighted_ascent_loss(logits, labels, beta=1.0, gamma=1.0), expected)


def test_weights_carry_no_gradient_and_the_ascent_lowers_the_answer():
    logits, labels = two_rows()
    logits.requires_grad_(True)
    weighted_ascent_loss(logits, labels, beta=1.0).backward()
    # d/dlogit_y of (w * log p_y)/3 with w fixed = w * (1 - p_y) / 3 > 0: descent lowers it
    grad = logits.grad
    assert float(grad[0, 0, 0]) == pytest.approx(0.25 * (1 - 0.25) / 3)
    assert float(grad[1, 1, 0]) == pytest.approx(0.75 * (1 - 0.75) / 3)
    assert float(grad[1, 0].abs().sum()) == 0.0  # a prompt position
    with pytest.raises(ValueError, match="beta"):
        weighted_ascent_loss(logits, labels, beta=-1.0)


def test_undial_distils_toward_the_teacher_with_the_answer_logit_lowered():
    logits, labels = two_rows()
    # teacher = the same logits, beta = ln 3:
    #   (0,0): [0, ln3] - [ln3, 0] = [-ln3, ln3] -> q = (1/10, 9/10); p = (1/4, 3/4)
    #   (0,1): [0, 0] - [0, ln3] -> q = (3/4, 1/4); p = (1/2, 1/2)
    #   (1,1): [ln3, 0] - [ln3, 0] -> q = (1/2, 1/2); p = (3/4, 1/4)
    ce = [
        -(0.1 * math.log(0.25) + 0.9 * math.log(0.75)),
        LN2,
        -(0.5 * math.log(0.75) + 0.5 * math.log(0.25)),
    ]
    close(undial_loss(logits, logits.clone(), labels, beta=LN3), sum(ce) / 3)
    with pytest.raises(ValueError, match="shape"):
        undial_loss(logits, logits[:, :2], labels, beta=1.0)


def test_ce_u_targets_the_distribution_without_the_answer_token():
    logits, labels = two_rows()
    # V = 2: the target is all mass on the other token -> CE = -log p(other)
    close(ce_u_loss(logits, labels), (-math.log(0.75) + LN2 + LN4) / 3)
    logits.requires_grad_(True)
    ce_u_loss(logits, labels).backward()
    # gradient on the logits = (p - q)/N: positive on the answer token (descent lowers it)
    assert float(logits.grad[0, 0, 0]) == pytest.approx((0.25 - 0.0) / 3)
    assert float(logits.grad[0, 0, 1]) == pytest.approx((0.75 - 1.0) / 3)


def test_logit_flatness_is_the_squared_max_minus_mean():
    logits, labels = two_rows()
    # rows [0, ln3], [0, 0], [ln3, 0]: (max - mean)^2 = (ln3/2)^2, 0, (ln3/2)^2
    close(logit_flatness_loss(logits, labels), (LN3**2) / 6)
    flat = torch.zeros(2, 3, 2)
    assert float(logit_flatness_loss(flat, labels)) == 0.0


def test_inverted_hinge_by_hand():
    logits, labels = two_rows()
    # 1 + p_y - max_other: 1 + 1/4 - 3/4, 1 + 1/2 - 1/2, 1 + 3/4 - 1/4
    close(inverted_hinge_loss(logits, labels), (0.5 + 1.0 + 1.5) / 3)
    # a confident wrong token beyond the margin: p_y ~ 0, max other ~ 1 -> hinge at 0
    far = torch.tensor([[[-20.0, 20.0], [0.0, 0.0]]])
    assert float(inverted_hinge_loss(far, torch.tensor([[-100, 0]]))) == pytest.approx(0.0)


def test_empty_batches_give_zero_and_backpropagate():
    logits = torch.randn(1, 3, 4, requires_grad=True)
    labels = torch.full((1, 3), -100)
    for loss in (
        undial_loss(logits, logits.detach(), labels, 1.0),
        ce_u_loss(logits, labels),
        logit_flatness_loss(logits, labels),
        inverted_hinge_loss(logits, labels),
        weighted_ascent_loss(logits, labels, 1.0),
    ):
        assert float(loss.detach()) == 0.0
        loss.backward()


def test_answer_mean_prob_by_hand():
    logits, labels = two_rows()
    torch.testing.assert_close(answer_mean_prob(logits, labels), torch.tensor([0.375, 0.75]))
    with pytest.raises(ValueError, match="no scored token"):
        answer_mean_prob(logits, torch.tensor([[-100, -100, -100], [-100, -100, 0]]))


@pytest.mark.parametrize(
    ("divergence", "expected"),
    [
        ("tv", (math.tanh(0.3) - math.tanh(0.6)) / 2),
        ("kl", -0.6 + math.exp(0.3 - 1)),
        (
            "js",
            -(LN2 - math.log1p(math.exp(-0.6))) + 0.3 + math.log1p(math.exp(-0.3)) - LN2,
        ),
        ("pearson", -0.6 + 0.09 / 4 + 0.3),
    ],
)
def test_flat_loss_by_hand_and_its_direction(divergence, expected):
    template = torch.tensor([0.5, 0.7], requires_grad=True)  # mean 0.6
    forget = torch.tensor([0.2, 0.4], requires_grad=True)  # mean 0.3
    loss = flat_loss(template, forget, divergence)
    close(loss, expected)
    loss.backward()
    # descending raises the template answers' probability and lowers the forget answers'
    assert (template.grad < 0).all() and (forget.grad > 0).all()


def test_flat_loss_rejects_unknown_divergences_and_shapes():
    with pytest.raises(ValueError, match="divergence"):
        flat_loss(torch.ones(2), torch.ones(2), "hellinger")
    with pytest.raises(ValueError, match="one shape"):
        flat_loss(torch.ones(2), torch.ones(3))


def test_undial_matches_a_dense_reference_computation():
    torch.manual_seed(0)
    logits, ref = torch.randn(2, 4, 5), torch.randn(2, 4, 5)
    labels = torch.tensor([[-100, 1, 2, -100], [-100, -100, 4, 0]])
    got = undial_loss(logits, ref, labels, beta=3.0)
    rows = []
    for b, t in [(0, 0), (0, 1), (1, 1), (1, 2)]:
        y = int(labels[b, t + 1])
        q = (ref[b, t] - 3.0 * F.one_hot(torch.tensor(y), 5)).softmax(-1)
        rows.append(-(q * logits[b, t].log_softmax(-1)).sum())
    torch.testing.assert_close(got, torch.stack(rows).mean())
