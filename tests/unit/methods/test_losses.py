"""Every loss in ``unlearnkit.methods.losses`` on tiny tensors whose values were computed by
hand (the arithmetic is in the comments), plus masking, gradient-direction and edge cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

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


def two_rows() -> tuple[torch.Tensor, torch.Tensor]:
    """V=2, T=3 (logits[:, t] predicts labels[:, t+1]).

    Row 0, labels [-100, 0, 1]:
      logits[0,0] = [0, ln3] -> p = (1/4, 3/4) -> log p(label 0) = ln 1/4 = -ln 4
      logits[0,1] = [0, 0]   -> p = (1/2, 1/2) -> log p(label 1) = -ln 2
      logits[0,2] predicts nothing (no label after the last position).
    Row 1, labels [-100, -100, 0]:
      logits[1,0] predicts a masked label (prompt) -> not scored
      logits[1,1] = [ln3, 0] -> p = (3/4, 1/4) -> log p(label 0) = ln 3/4
    """
    logits = torch.tensor(
        [
            [[0.0, LN3], [0.0, 0.0], [5.0, -5.0]],
            [[7.0, 1.0], [LN3, 0.0], [2.0, 2.0]],
        ]
    )
    labels = torch.tensor([[-100, 0, 1], [-100, -100, 0]])
    return logits, labels


# ------------------------------------------------------------------ answer_logprobs


def test_answer_logprobs_by_hand():
    logits, labels = two_rows()
    logp, mask = answer_logprobs(logits, labels)
    assert logp.shape == mask.shape == (2, 2)
    assert mask.dtype == torch.bool
    torch.testing.assert_close(logp, torch.tensor([[-LN4, -LN2], [0.0, math.log(0.75)]]))
    assert mask.tolist() == [[True, True], [False, True]]
    assert float(logp[1, 0]) == 0.0  # a masked position is exactly 0


def test_answer_logprobs_v3_by_hand():
    # V=3, logits [0, 0, ln2] -> exp = (1, 1, 2), sum 4 -> p = (1/4, 1/4, 1/2)
    logits = torch.tensor([[[0.0, 0.0, LN2], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[-100, 2]])
    logp, mask = answer_logprobs(logits, labels)
    torch.testing.assert_close(logp, torch.tensor([[-LN2]]))
    assert mask.tolist() == [[True]]


def test_answer_logprobs_upcasts_half_precision():
    logits, labels = two_rows()
    logp, _ = answer_logprobs(logits.to(torch.bfloat16), labels)
    assert logp.dtype == torch.float32


def test_shape_mismatch_is_a_value_error():
    logits, labels = two_rows()
    with pytest.raises(ValueError, match="labels must be"):
        answer_logprobs(logits, labels[:, :2])
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        answer_logprobs(logits[0], labels)


# ----------------------------------------------------------------- sequence_logprob


def test_sequence_logprob_sum_and_mean_by_hand():
    logits, labels = two_rows()
    # row 0: ln 1/4 + ln 1/2 = -ln 8 (2 tokens); row 1: ln 3/4 (1 token)
    torch.testing.assert_close(
        sequence_logprob(logits, labels), torch.tensor([-math.log(8), math.log(0.75)])
    )
    torch.testing.assert_close(
        sequence_logprob(logits, labels, average=True),
        torch.tensor([-math.log(8) / 2, math.log(0.75)]),
    )


def test_unscored_row_sums_to_zero_and_cannot_be_averaged():
    logits = torch.zeros(2, 3, 2)  # uniform over V=2: every log p = -ln 2
    labels = torch.tensor([[-100, -100, -100], [-100, 1, 1]])
    total = sequence_logprob(logits, labels)
    assert not torch.isnan(total).any()
    torch.testing.assert_close(total, torch.tensor([0.0, -2 * LN2]))
    with pytest.raises(ValueError, match=r"row\(s\) \[0\]"):
        sequence_logprob(logits, labels, average=True)


# -------------------------------------------------------------------------- nll_loss


def test_nll_is_the_token_mean_over_the_batch():
    logits, labels = two_rows()
    # 3 scored tokens: (ln 4 + ln 2 + ln 4/3) / 3 = ln(32/3) / 3 ≈ 0.78898
    expected = (LN4 + LN2 + math.log(4 / 3)) / 3
    assert float(nll_loss(logits, labels)) == pytest.approx(expected)
    # not the mean of per-sequence means ((ln 8)/2 + ln 4/3) / 2 ≈ 0.66371
    per_row = (math.log(8) / 2 + math.log(4 / 3)) / 2
    assert float(nll_loss(logits, labels)) != pytest.approx(per_row)


def test_nll_matches_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7)
    labels = torch.randint(0, 7, (3, 5))
    labels[:, :2] = -100  # prompt
    labels[2, 3:] = -100  # padding
    expected = F.cross_entropy(
        logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(nll_loss(logits, labels), expected)


def test_nll_equals_transformers_loss_on_a_tiny_random_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(1, 40, (2, 8))
    attention = torch.ones_like(ids)
    attention[1, 6:] = 0  # right padding on row 1
    labels = ids.clone()
    labels[:, :3] = -100  # prompt tokens
    labels[1, 6:] = -100  # padding
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=attention, labels=labels)
    torch.testing.assert_close(nll_loss(out.logits, labels), out.loss)


def test_all_masked_batch_gives_zero_not_nan_and_backpropagates():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    labels = torch.full((2, 3), -100)
    loss = nll_loss(logits, labels)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_masked_positions_change_neither_loss_nor_gradient():
    logits, labels = two_rows()
    changed = logits.clone()
    changed[1, 0] = torch.tensor([-9.0, 9.0])  # predicts row 1's masked (prompt) label
    changed[:, 2] = 3.0  # the last position predicts nothing
    assert float(nll_loss(changed, labels)) == pytest.approx(float(nll_loss(logits, labels)))
    torch.testing.assert_close(sequence_logprob(changed, labels), sequence_logprob(logits, labels))
    x = changed.clone().requires_grad_()
    nll_loss(x, labels).backward()
    assert torch.equal(x.grad[1, 0], torch.zeros(2))
    assert torch.equal(x.grad[:, 2], torch.zeros(2, 2))


# ----------------------------------------------------------------------- ascent_loss


def test_ascent_is_minus_nll_by_hand():
    logits, labels = two_rows()
    expected = -(LN4 + LN2 + math.log(4 / 3)) / 3
    assert float(ascent_loss(logits, labels)) == pytest.approx(expected)


def test_ascent_gradient_is_minus_nll_gradient():
    logits, labels = two_rows()
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    nll_loss(a, labels).backward()
    ascent_loss(b, labels).backward()
    torch.testing.assert_close(b.grad, -a.grad)
    # row 0, t=0: the label is token 0 with p = 1/4; over 3 scored tokens
    # d nll / d logit_0 = (p_0 - 1) / 3 = -1/4, so d ascent / d logit_0 = +1/4 > 0:
    # descending the ascent loss lowers the label's logit (the forget token gets less likely)
    assert float(a.grad[0, 0, 0]) == pytest.approx(-0.25)
    assert float(b.grad[0, 0, 0]) == pytest.approx(0.25)


# ------------------------------------------------------------------- kl_to_reference


def test_kl_to_reference_by_hand_and_its_direction():
    # one scored position; p_ref = (1/2, 1/2), p_model = (1/4, 3/4)
    # KL(ref || model) = 1/2 ln(1/2 / 1/4) + 1/2 ln(1/2 / 3/4) = 1/2 ln 2 + 1/2 ln 2/3
    #                  = 1/2 ln 4/3 ≈ 0.14384
    # KL(model || ref) = 1/4 ln(1/4 / 1/2) + 3/4 ln(3/4 / 1/2) = 3/4 ln 3 - ln 2 ≈ 0.13081
    labels = torch.tensor([[-100, 1]])
    ref = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    model = torch.tensor([[[0.0, LN3], [0.0, 0.0]]])
    assert float(kl_to_reference(model, ref, labels)) == pytest.approx(0.5 * math.log(4 / 3))
    assert float(kl_to_reference(ref, model, labels)) == pytest.approx(0.75 * LN3 - LN2)


def test_kl_to_reference_averages_over_scored_positions_only():
    # V=3, T=4, labels [-100, 0, 2, -100]: positions 0 and 1 are scored, 2 is not.
    # pos 0: ref logits [0, 0, ln2] -> p_ref = (1/4, 1/4, 1/2); model [0, 0, 0] -> 1/3 each
    #        KL = 2 · 1/4 ln(3/4) + 1/2 ln(3/2) = 1/2 ln(9/8)
    # pos 1: identical logits -> 0
    # pos 2: wildly different but masked; pos 3 predicts nothing
    # mean over the 2 scored positions = 1/4 ln(9/8) ≈ 0.029446
    labels = torch.tensor([[-100, 0, 2, -100]])
    ref = torch.tensor([[[0.0, 0.0, LN2], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    model = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [9.0, -9.0, 0.0], [5.0, 0.0, 0.0]]])
    assert float(kl_to_reference(model, ref, labels)) == pytest.approx(0.25 * math.log(9 / 8))


def test_kl_of_identical_distributions_is_zero_and_positive_otherwise():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5)
    labels = torch.tensor([[-100, 1, 2, 3], [-100, -100, 4, -100]])
    assert float(kl_to_reference(logits, logits.clone(), labels)) == pytest.approx(0.0, abs=1e-6)
    assert float(kl_to_reference(logits, logits + torch.randn(2, 4, 5), labels)) > 0.0


def test_kl_handles_zero_reference_probability_and_empty_batches():
    # ref logits [0, -inf] -> p_ref = (1, 0); model p = (1/4, 3/4)
    # KL = 1 · ln(1 / (1/4)) + 0 · (...) = ln 4, with 0 · log 0 taken as 0 (no NaN)
    labels = torch.tensor([[-100, 0]])
    ref = torch.tensor([[[0.0, -math.inf], [0.0, 0.0]]])
    model = torch.tensor([[[0.0, LN3], [0.0, 0.0]]])
    assert float(kl_to_reference(model, ref, labels)) == pytest.approx(LN4)
    x = torch.zeros(1, 2, 2, requires_grad=True)
    empty = kl_to_reference(x, torch.zeros(1, 2, 2), torch.full((1, 2), -100))
    assert float(empty.detach()) == 0.0
    empty.backward()  # still part of the graph
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_kl_gradient_pulls_the_model_toward_the_reference():
    labels = torch.tensor([[-100, 1]])
    ref = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    model = torch.tensor([[[0.0, LN3], [0.0, 0.0]]], requires_grad=True)
    kl_to_reference(model, ref, labels).backward()
    # d KL / d logit_v = p_model(v) - p_ref(v) = (1/4 - 1/2, 3/4 - 1/2) = (-1/4, 1/4)
    torch.testing.assert_close(model.grad[0, 0], torch.tensor([-0.25, 0.25]))


# --------------------------------------------------------------------------- npo_loss


def test_npo_equals_two_ln2_over_beta_at_the_reference():
    same = torch.tensor([-3.0, -7.0])
    # logp == ref: -(2/β) ln σ(0) = -(2/β) ln 1/2 = (2/β) ln 2 = 20 ln 2 at β = 0.1
    assert float(npo_loss(same, same, beta=0.1)) == pytest.approx(20 * LN2)


def test_npo_by_hand():
    # β = 1, logp - ref = ln 3: σ(-ln 3) = 1/(1 + 3) = 1/4, loss = -2 ln(1/4) = 2 ln 4
    assert float(npo_loss(torch.tensor([LN3]), torch.tensor([0.0]), beta=1.0)) == pytest.approx(
        2 * LN4
    )
    # batch mean: differences (ln 3, -ln 3): σ(-ln 3) = 1/4, σ(ln 3) = 3/4
    # loss = -(2/1) · (ln 1/4 + ln 3/4) / 2 = -ln(3/16) = ln(16/3)
    logp = torch.tensor([LN3, -LN3])
    assert float(npo_loss(logp, torch.zeros(2), beta=1.0)) == pytest.approx(math.log(16 / 3))


def test_npo_gradient_pushes_the_forget_likelihood_down():
    # d loss / d logp_b = (2/B) · σ(β (logp_b - ref_b)); β = 1, B = 2, differences (ln 3, -ln 3)
    # -> (σ(ln 3), σ(-ln 3)) = (3/4, 1/4): positive, so gradient descent lowers log p
    logp = torch.tensor([LN3, -LN3], requires_grad=True)
    npo_loss(logp, torch.zeros(2), beta=1.0).backward()
    torch.testing.assert_close(logp.grad, torch.tensor([0.75, 0.25]))
    # and it saturates: far below the reference the push vanishes (gradient ascent does not)
    far = torch.tensor([-60.0], requires_grad=True)
    npo_loss(far, torch.tensor([0.0]), beta=0.5).backward()
    assert 0.0 < float(far.grad) < 1e-6


def test_npo_rejects_bad_inputs():
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        npo_loss(z, z, beta=0.0)
    with pytest.raises(ValueError, match="one shape"):
        npo_loss(z, torch.zeros(3), beta=0.1)


# ------------------------------------------------------------------------ simnpo_loss


def test_simnpo_by_hand():
    # β = 2, γ = 0, avg log p = -ln3 / 2: -β·avg = ln 3, σ(ln 3) = 3/4,
    # loss = -(2/2) ln 3/4 = ln 4/3
    avg = torch.tensor([-LN3 / 2])
    assert float(simnpo_loss(avg, beta=2.0)) == pytest.approx(math.log(4 / 3))
    # γ = ln 3 enters outside β (paper's form): σ(ln 3 - ln 3) = σ(0) = 1/2, loss = ln 2.
    # (The authors' code form σ(β(-avg - γ)) = σ(2 (ln3/2 - ln3)) = σ(-ln 3) would give ln 4.)
    assert float(simnpo_loss(avg, beta=2.0, gamma=LN3)) == pytest.approx(LN2)


def test_simnpo_code_margin_is_gamma_over_beta():
    # The reference code computes -(2/β) logsigmoid(β (avg_nll - δ)); with γ = β·δ ours agrees.
    avg = torch.tensor([-1.3, -0.2, -2.5])
    beta, delta = 4.5, 0.3
    code_form = -(2 / beta) * F.logsigmoid(beta * (-avg - delta)).mean()
    torch.testing.assert_close(simnpo_loss(avg, beta=beta, gamma=beta * delta), code_form)


def test_simnpo_gradient_pushes_the_average_likelihood_down():
    # d loss / d avg_b = (2/B) · σ(β avg_b + γ); β = 2, avg = -ln3/2, B = 1: 2 σ(-ln 3) = 1/2
    avg = torch.tensor([-LN3 / 2], requires_grad=True)
    simnpo_loss(avg, beta=2.0).backward()
    assert float(avg.grad) == pytest.approx(0.5)


# --------------------------------------------------------------------------- dpo_loss


def test_dpo_equals_ln2_at_equal_margins():
    z = torch.tensor([-4.0, -1.0])
    assert float(dpo_loss(z, z - 3.0, z, z - 3.0, beta=0.1)) == pytest.approx(LN2)


def test_dpo_by_hand():
    z = torch.tensor([0.0])
    # chosen log-ratio ln 3, rejected log-ratio 0, β = 1: -ln σ(ln 3) = -ln 3/4 = ln 4/3
    assert float(dpo_loss(torch.tensor([LN3]), z, z, z, beta=1.0)) == pytest.approx(math.log(4 / 3))
    # rejected log-ratio +2 ln 3 (model likes the forget answer more than the reference),
    # β = 1/2: -ln σ(-ln 3) = -ln 1/4 = ln 4
    assert float(dpo_loss(z, torch.tensor([2 * LN3]), z, z, beta=0.5)) == pytest.approx(LN4)


def test_dpo_gradient_prefers_the_refusal():
    chosen = torch.tensor([-2.0], requires_grad=True)  # the refusal answer
    rejected = torch.tensor([-2.0], requires_grad=True)  # the forget answer
    ref = torch.tensor([-2.0])
    dpo_loss(chosen, rejected, ref, ref, beta=0.1).backward()
    # at margin 0: d/d chosen = -β σ(0) = -0.05, d/d rejected = +0.05
    assert float(chosen.grad) == pytest.approx(-0.05)
    assert float(rejected.grad) == pytest.approx(0.05)


# ------------------------------------------------------------------------------ RMU


def test_rmu_forget_loss_by_hand():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0]]])  # (B=1, T=2, H=2)
    control = torch.tensor([1.0, 1.0])
    # position 0 equals the control: 0; position 1 differs by 2 in each dim: (4 + 4) / 2 = 4
    assert float(rmu_forget_loss(hidden, control, torch.tensor([[1, 0]]))) == pytest.approx(0.0)
    assert float(rmu_forget_loss(hidden, control, torch.tensor([[0, 1]]))) == pytest.approx(4.0)
    # both: (0 + 0 + 4 + 4) / 4 elements = 2
    both = torch.tensor([[True, True]])
    assert float(rmu_forget_loss(hidden, control, both)) == pytest.approx(2.0)
    # with every position counted it is F.mse_loss against the broadcast control (WMDP's call)
    torch.testing.assert_close(
        rmu_forget_loss(hidden, control, both), F.mse_loss(hidden, control.expand_as(hidden))
    )


def test_rmu_mean_is_over_counted_elements_not_rows():
    # B=2, T=2, H=1, target 0: counted squares 0, 0 (row 0) and 9 (row 1) -> 9 / 3 = 3
    # (a mean of per-row means would be (0 + 9) / 2 = 4.5)
    hidden = torch.tensor([[[0.0], [0.0]], [[3.0], [100.0]]])
    mask = torch.tensor([[1, 1], [1, 0]])  # row 1's 100 is padding
    assert float(rmu_forget_loss(hidden, torch.zeros(1), mask)) == pytest.approx(3.0)
    assert float(rmu_retain_loss(hidden, torch.zeros_like(hidden), mask)) == pytest.approx(3.0)


def test_rmu_retain_loss_by_hand():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0]]])
    # every element differs by 1: 1
    assert float(rmu_retain_loss(hidden, hidden + 1, torch.tensor([[1, 1]]))) == pytest.approx(1.0)
    # reference (1, 1), (1, 5): diffs (0, 0) and (2, -2) -> (0 + 0 + 4 + 4) / 4 elements = 2
    ref = torch.tensor([[[1.0, 1.0], [1.0, 5.0]]])
    assert float(rmu_retain_loss(hidden, ref, torch.tensor([[1, 1]]))) == pytest.approx(2.0)


def test_rmu_losses_are_zero_at_their_targets_and_ignore_uncounted_positions():
    control = torch.tensor([0.6, 0.8])
    hidden = control.expand(2, 3, 2).clone()
    hidden[1, 2] = torch.tensor([50.0, -50.0])  # not counted
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    assert float(rmu_forget_loss(hidden, control, mask)) == 0.0
    assert float(rmu_retain_loss(hidden, hidden.clone(), mask)) == 0.0


def test_rmu_empty_mask_is_zero_and_rmu_gradient_points_at_the_target():
    h = torch.tensor([[[3.0, 1.0]]], requires_grad=True)
    assert float(rmu_forget_loss(h.detach(), torch.zeros(2), torch.tensor([[0]]))) == 0.0
    rmu_forget_loss(h, torch.tensor([1.0, 1.0]), torch.tensor([[1]])).backward()
    # d/dh mean((h - c)²) over 2 elements = (h - c) = (2, 0): descent moves h toward c
    torch.testing.assert_close(h.grad, torch.tensor([[[2.0, 0.0]]]))


def test_rmu_shape_checks():
    hidden = torch.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="control"):
        rmu_forget_loss(hidden, torch.zeros(2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="mask"):
        rmu_forget_loss(hidden, torch.zeros(3), torch.ones(2, 1))
    with pytest.raises(ValueError, match="ref_hidden"):
        rmu_retain_loss(hidden, torch.zeros(1, 2, 4), torch.ones(1, 2))


def test_rmu_control_vector_norm_sign_and_reproducibility():
    a = rmu_control_vector(16, 6.5, torch.Generator().manual_seed(0))
    b = rmu_control_vector(16, 6.5, torch.Generator().manual_seed(0))
    c = rmu_control_vector(16, 6.5, torch.Generator().manual_seed(1))
    assert a.shape == (16,)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.norm()) == pytest.approx(6.5)
    assert (a >= 0).all()  # uniform [0, 1) entries, normalised (the WMDP recipe)
    # the same draw, by hand: r ~ U[0,1)^16 from the generator, then c · r / ‖r‖
    r = torch.rand(16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, 6.5 * r / r.norm())


def test_rmu_control_vector_by_hand_in_one_dimension():
    # H = 1: u = r / |r| = 1 for any r in (0, 1), so c·u = [c]
    v = rmu_control_vector(1, 20.0, torch.Generator().manual_seed(3))
    torch.testing.assert_close(v, torch.tensor([20.0]))


def test_rmu_control_vector_rejects_bad_arguments():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="hidden_size"):
        rmu_control_vector(0, 1.0, g)
    with pytest.raises(ValueError, match="coeff"):
        rmu_control_vector(4, 0.0, g)
