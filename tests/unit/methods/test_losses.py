"""Every loss on tiny tensors whose value was computed by hand (arithmetic in comments)."""

from __future__ import annotations

import math

import pytest
import torch

from unlearnkit.methods.losses import (
    answer_logprobs,
    ascent_loss,
    dpo_loss,
    kl_to_reference,
    nll_loss,
    npo_loss,
    rmu_control_vector,
    rmu_forget_loss,
    rmu_retain_loss,
    sequence_logprob,
    simnpo_loss,
)

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


def two_rows():
    """V=2, T=3. Row 0: labels [-100, 0, 1]; logits[0,0]=[0, ln3] -> p=(1/4, 3/4), so
    log p(0) = ln 1/4; logits[0,1]=[0, 0] -> log p(1) = ln 1/2. Row 1: labels [-100, -100, 0];
    logits[1,1]=[ln3, 0] -> log p(0) = ln 3/4; logits[1,0] predicts a masked label."""
    logits = torch.tensor(
        [
            [[0.0, LN3], [0.0, 0.0], [5.0, -5.0]],
            [[7.0, 1.0], [LN3, 0.0], [2.0, 2.0]],
        ]
    )
    labels = torch.tensor([[-100, 0, 1], [-100, -100, 0]])
    return logits, labels


def test_answer_logprobs_by_hand():
    logits, labels = two_rows()
    logp, mask = answer_logprobs(logits, labels)
    torch.testing.assert_close(logp, torch.tensor([[-LN4, -LN2], [0.0, math.log(0.75)]]))
    assert mask.tolist() == [[True, True], [False, True]]


def test_sequence_logprob_sum_and_mean():
    logits, labels = two_rows()
    # row 0: ln 1/4 + ln 1/2 = -ln 8; row 1: ln 3/4
    torch.testing.assert_close(
        sequence_logprob(logits, labels), torch.tensor([-math.log(8), math.log(0.75)])
    )
    torch.testing.assert_close(
        sequence_logprob(logits, labels, average=True),
        torch.tensor([-math.log(8) / 2, math.log(0.75)]),
    )


def test_unscored_rows_sum_to_zero_and_cannot_be_averaged():
    logits = torch.zeros(2, 3, 2)
    labels = torch.tensor([[-100, -100, -100], [-100, 1, 1]])
    torch.testing.assert_close(sequence_logprob(logits, labels), torch.tensor([0.0, -2 * LN2]))
    with pytest.raises(ValueError, match=r"rows \[0\]"):
        sequence_logprob(logits, labels, average=True)


def test_nll_is_the_token_mean_over_the_batch():
    logits, labels = two_rows()
    # (ln 4 + ln 2 + ln 4/3) / 3 scored tokens
    expected = (LN4 + LN2 + math.log(4 / 3)) / 3
    assert float(nll_loss(logits, labels)) == pytest.approx(expected)
    assert float(ascent_loss(logits, labels)) == pytest.approx(-expected)


def test_masked_positions_do_not_matter():
    logits, labels = two_rows()
    changed = logits.clone()
    changed[1, 0] = torch.tensor([-9.0, 9.0])  # predicts row 1's masked label
    changed[:, 2] = 3.0  # the last position predicts nothing
    assert float(nll_loss(changed, labels)) == pytest.approx(float(nll_loss(logits, labels)))


def test_nll_equals_transformers_loss(tiny_lm):
    ids = torch.tensor([tiny_lm.tokenizer("Count: one, two, three")["input_ids"]])
    labels = ids.clone()
    labels[:, :3] = -100
    out = tiny_lm.model(input_ids=ids, labels=labels)
    torch.testing.assert_close(nll_loss(out.logits, labels), out.loss)


def test_ascent_gradient_is_minus_nll_gradient():
    logits, labels = two_rows()
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    nll_loss(a, labels).backward()
    ascent_loss(b, labels).backward()
    torch.testing.assert_close(b.grad, -a.grad)


def test_kl_to_reference_by_hand():
    # one scored position; p_ref = (1/2, 1/2), p_model = (1/4, 3/4)
    # KL(ref || model) = 1/2 ln(2) + 1/2 ln(2/3) = 1/2 ln(4/3)
    labels = torch.tensor([[-100, 1]])
    ref = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    model = torch.tensor([[[0.0, LN3], [0.0, 0.0]]])
    assert float(kl_to_reference(model, ref, labels)) == pytest.approx(0.5 * math.log(4 / 3))
    assert float(kl_to_reference(ref, ref, labels)) == pytest.approx(0.0, abs=1e-7)


def test_npo_by_hand():
    same = torch.tensor([-3.0, -7.0])
    # logp == ref: -(2/β) ln σ(0) = (2/β) ln 2
    assert float(npo_loss(same, same, beta=0.1)) == pytest.approx(20 * LN2)
    # β = 1, logp - ref = ln 3: σ(-ln 3) = 1/4, loss = -2 ln(1/4) = 2 ln 4
    assert float(npo_loss(torch.tensor([LN3]), torch.tensor([0.0]), beta=1.0)) == pytest.approx(
        2 * LN4
    )


def test_npo_pushes_the_forget_likelihood_down():
    logp = torch.tensor([-2.0, -1.0], requires_grad=True)
    npo_loss(logp, torch.tensor([-2.0, -3.0]), beta=0.5).backward()
    assert (logp.grad > 0).all()  # descending the loss lowers log p
    # and it saturates: far below the reference, the gradient vanishes
    far = torch.tensor([-60.0], requires_grad=True)
    npo_loss(far, torch.tensor([0.0]), beta=0.5).backward()
    assert float(far.grad) < 1e-6


def test_simnpo_by_hand():
    # β = 2, γ = 0, avg log p = -ln3 / 2: σ(ln 3) = 3/4, loss = -(2/2) ln 3/4 = ln 4/3
    avg = torch.tensor([-LN3 / 2])
    assert float(simnpo_loss(avg, beta=2.0)) == pytest.approx(math.log(4 / 3))
    # γ = ln 3 cancels it: σ(0) = 1/2, loss = ln 2
    assert float(simnpo_loss(avg, beta=2.0, gamma=LN3)) == pytest.approx(LN2)


def test_dpo_by_hand():
    z = torch.tensor([-4.0])
    assert float(dpo_loss(z, z, z, z, beta=0.1)) == pytest.approx(LN2)
    # chosen margin ln 3, rejected margin 0, β = 1: -ln σ(ln 3) = ln 4/3
    assert float(
        dpo_loss(torch.tensor([LN3]), z, torch.tensor([0.0]), z, beta=1.0)
    ) == pytest.approx(math.log(4 / 3))


def test_rmu_terms_by_hand():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0]]])  # (B=1, T=2, H=2)
    control = torch.tensor([1.0, 1.0])
    # position 0 equals the control: 0; position 1 differs by 2 in each dim: (4 + 4) / 2 = 4
    assert float(rmu_forget_loss(hidden, control, torch.tensor([[1, 0]]))) == pytest.approx(0.0)
    assert float(rmu_forget_loss(hidden, control, torch.tensor([[0, 1]]))) == pytest.approx(4.0)
    assert float(rmu_forget_loss(hidden, control, torch.tensor([[1, 1]]))) == pytest.approx(2.0)
    assert float(rmu_retain_loss(hidden, hidden + 1, torch.tensor([[1, 1]]))) == pytest.approx(1.0)
    assert float(rmu_retain_loss(hidden, hidden, torch.tensor([[1, 1]]))) == 0.0


def test_rmu_control_vector():
    a = rmu_control_vector(16, 6.5, torch.Generator().manual_seed(0))
    b = rmu_control_vector(16, 6.5, torch.Generator().manual_seed(0))
    c = rmu_control_vector(16, 6.5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.norm()) == pytest.approx(6.5)
    assert (a >= 0).all()  # uniform [0, 1) entries, as in the WMDP code
