"""Golden tests for ``unlearnkit.evaluation.functional.mia``: every value computed by hand
(the arithmetic is in the comments), plus the score convention (higher = more member-like,
members positive in the AUC, the same AUC as open-unlearning's labelling) and the edge cases
(NaN, empty, ties, σ = 0)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from unlearnkit.evaluation.functional.mia import (
    auc,
    gradnorm_score,
    loss_score,
    mean_tensor_norm,
    min_k_pp_score,
    min_k_score,
    next_token_moments,
    privleak,
    reference_score,
    zlib_score,
)

LN2 = math.log(2)


# --- simple scores -------------------------------------------------------------------------


def test_loss_score_is_negated_avg_nll() -> None:
    # -avg_nll = -2.5
    assert loss_score(2.5) == -2.5


def test_reference_score() -> None:
    # -(avg_nll - reference_avg_nll) = -(1.0 - 3.0) = 2.0: the model finds the text far
    # easier than the reference does -> member-like (positive)
    assert reference_score(1.0, 3.0) == 2.0
    # -(3.0 - 1.0) = -2.0
    assert reference_score(3.0, 1.0) == -2.0


def test_gradnorm_score() -> None:
    # -grad_norm = -0.75
    assert gradnorm_score(0.75) == -0.75
    assert gradnorm_score(0.0) == 0.0
    with pytest.raises(ValueError, match="grad_norm"):
        gradnorm_score(-1.0)


def test_zlib_score_one_ascii_char() -> None:
    # zlib.compress(b"a") = 2-byte header (78 9C) + 3-byte fixed-Huffman block
    # (3 header bits + 8-bit literal 'a' (97 < 144) + 7-bit end-of-block = 18 bits -> 3 bytes)
    # + 4-byte Adler-32 = 9 bytes. Score = -avg_nll / 9 = -18 / 9 = -2.0
    assert zlib_score(18.0, "a") == -2.0


def test_zlib_score_divides_the_per_token_mean() -> None:
    # the same text scored with 3 tokens of nll 2.7 each: the avg_nll 2.7 is divided,
    # not the sum 8.1: -2.7 / 9 = -0.3
    assert zlib_score(2.7, "a") == pytest.approx(-0.3)


def test_zlib_score_empty_text() -> None:
    # zlib.compress(b"") = 2 header + 2-byte empty final block (03 00) + 4 Adler-32 = 8 bytes.
    # -4 / 8 = -0.5 (never a division by zero)
    assert zlib_score(4.0, "") == -0.5


def test_zlib_score_encodes_utf8() -> None:
    # "é" in UTF-8 is C3 A9: two literals >= 144, 9 bits each: 3 + 9 + 9 + 7 = 28 bits -> 4
    # bytes; + 2 header + 4 Adler-32 = 10 bytes (latin-1 would give 1 literal -> 9 bytes).
    # -5 / 10 = -0.5
    assert zlib_score(5.0, "é") == -0.5


# --- Min-K% --------------------------------------------------------------------------------


def test_min_k_golden() -> None:
    lp = [-1.0, -2.0, -3.0, -4.0, -5.0]  # T = 5
    # k=0.4: ⌊0.4·5⌋ = 2 lowest: (-5 + -4) / 2 = -4.5
    assert min_k_score(lp) == -4.5
    assert min_k_score(lp, k=0.4) == -4.5
    # k=0.2: ⌊1.0⌋ = 1 -> -5 ; k=0.1: ⌊0.5⌋ = 0 -> at least one token -> -5
    assert min_k_score(lp, k=0.2) == -5.0
    assert min_k_score(lp, k=0.1) == -5.0
    # k=1: mean of all = -15 / 5 = -3
    assert min_k_score(lp, k=1.0) == -3.0


def test_min_k_accepts_tensor_and_order_does_not_matter() -> None:
    # same values as above, shuffled, as a float32 tensor: still (-5 + -4) / 2 = -4.5
    assert min_k_score(torch.tensor([-3.0, -5.0, -1.0, -4.0, -2.0])) == -4.5


def test_min_k_ties_same_value_for_every_order() -> None:
    # T=4, k=0.5 -> 2 lowest; the tie -2, -2 sits exactly at the boundary: (-2 + -2)/2 = -2
    values = [-1.0, -2.0, -2.0, -0.5]
    results = {min_k_score(list(p), k=0.5) for p in itertools.permutations(values)}
    assert results == {-2.0}


def test_min_k_counts_tokens_as_the_publisher() -> None:
    # open-unlearning's num_k = max(1, int(len(lp) * k)): 100 * 0.29 = 28.999999999999996 in
    # floating point, so int() keeps 28 tokens. With log-probs -1, ..., -100 the lowest 28
    # are -100 .. -73: mean = -(100 + 73) / 2 = -86.5
    lp = [-float(i) for i in range(1, 101)]
    assert min_k_score(lp, k=0.29) == -86.5


def test_min_k_empty_nan_and_bad_k() -> None:
    assert math.isnan(min_k_score([]))
    assert math.isnan(min_k_score([-1.0, math.nan]))
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"k=.* must be in \(0, 1\]"):
            min_k_score([-1.0], k=bad)


# --- Min-K%++ ------------------------------------------------------------------------------


def hand_distribution() -> torch.Tensor:
    """(T=2, V=3) log-softmax: row 0 p = (1/2, 1/4, 1/4), row 1 one-hot p = (1, 0, 0)."""
    return torch.log(torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]], dtype=torch.float64))


def test_next_token_moments_golden() -> None:
    mu, sigma2 = next_token_moments(hand_distribution())
    assert mu.shape == (2,) and sigma2.shape == (2,)
    # row 0: log p = (-ln2, -2ln2, -2ln2)
    #   mu = 1/2·(-ln2) + 2·1/4·(-2ln2) = -0.5ln2 - ln2 = -1.5 ln2
    #   E[(log p)²] = 1/2·ln²2 + 2·1/4·4ln²2 = 0.5ln²2 + 2ln²2 = 2.5 ln²2
    #   sigma2 = 2.5 ln²2 - 2.25 ln²2 = 0.25 ln²2
    # row 1: one-hot -> mu = 1·log 1 = 0 (the p=0 terms count 0, not 0·(-inf) = NaN),
    #   sigma2 = 0
    assert mu.tolist() == pytest.approx([-1.5 * LN2, 0.0], abs=1e-12)
    assert sigma2.tolist() == pytest.approx([0.25 * LN2**2, 0.0], abs=1e-12)


def test_min_k_pp_golden() -> None:
    lp = [-1.0, -3.0, -2.0, 0.0]
    mu = [-2.0, -2.0, -2.0, 0.0]
    sigma2 = [1.0, 4.0, 0.25, 0.0]
    # z = ((-1+2)/1, (-3+2)/2, (-2+2)/0.5, σ=0 -> 0) = (1, -0.5, 0, 0)
    # k=0.5: ⌊2⌋ = 2 lowest (-0.5, 0) -> -0.25
    assert min_k_pp_score(lp, mu, sigma2, k=0.5) == -0.25
    # k=0.4 (default): ⌊1.6⌋ = 1 -> -0.5
    assert min_k_pp_score(lp, mu, sigma2) == -0.5
    # k=1: (1 - 0.5 + 0 + 0) / 4 = 0.125
    assert min_k_pp_score(lp, mu, sigma2, k=1.0) == 0.125


def test_min_k_pp_with_next_token_moments() -> None:
    logp = hand_distribution()
    mu, sigma2 = next_token_moments(logp)
    targets = torch.tensor([0, 0])
    lp = logp.gather(1, targets[:, None]).squeeze(1)  # (-ln2, 0)
    # row 0: z = (-ln2 + 1.5ln2) / (0.5ln2) = 1 ; row 1: σ = 0 -> z = 0
    # k=1: (1 + 0)/2 = 0.5 ; k=0.4: ⌊0.8⌋ = 0 -> one token, the lowest: 0
    assert min_k_pp_score(lp, mu, sigma2, k=1.0) == pytest.approx(0.5, abs=1e-12)
    assert min_k_pp_score(lp, mu, sigma2) == 0.0


def test_min_k_pp_variance_floor_and_rounding() -> None:
    # open-unlearning floors σ² at 1e-6: z = (-3 - 0) / sqrt(1e-6) = -3 / 1e-3 = -3000
    assert min_k_pp_score([-3.0], [0.0], [0.0], k=1.0) == pytest.approx(-3000.0)
    # σ² = 4e-7 is below the floor too: -3000
    assert min_k_pp_score([-3.0], [0.0], [4e-7], k=1.0) == pytest.approx(-3000.0)
    # σ² = -1e-12 is rounding error: floored the same way -> -3000
    assert min_k_pp_score([-3.0], [0.0], [-1e-12], k=1.0) == pytest.approx(-3000.0)
    # a one-hot distribution predicting its own label: (0 - 0) / 1e-3 = 0
    assert min_k_pp_score([0.0], [0.0], [0.0], k=1.0) == 0.0
    with pytest.raises(ValueError, match="negative"):
        min_k_pp_score([-3.0], [0.0], [-0.5], k=1.0)


def test_min_k_pp_ties_and_edge_cases() -> None:
    # z = (-1, -1, 2) in every order; k=0.5: ⌊1.5⌋ = 1 -> -1 ; k=0.7: ⌊2.1⌋ = 2 -> -1
    rows = [(-3.0, -2.0, 1.0), (-3.0, -2.0, 1.0), (0.0, -2.0, 1.0)]  # (lp, mu, sigma2)
    for perm in itertools.permutations(rows):
        lp, mu, s2 = (list(c) for c in zip(*perm, strict=True))
        assert min_k_pp_score(lp, mu, s2, k=0.5) == -1.0
        assert min_k_pp_score(lp, mu, s2, k=0.7) == -1.0
    assert math.isnan(min_k_pp_score([], [], []))
    assert math.isnan(min_k_pp_score([math.nan], [0.0], [1.0]))
    with pytest.raises(ValueError, match="same length"):
        min_k_pp_score([-1.0, -2.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="must be in"):
        min_k_pp_score([-1.0], [0.0], [1.0], k=0.0)


# --- AUC and PrivLeak ----------------------------------------------------------------------


def test_auc_golden_ties_count_half() -> None:
    # members [3, 2], non-members [2, 1]: pairs (3>2)=1, (3>1)=1, (2=2)=0.5, (2>1)=1
    # -> 3.5 / 4 = 0.875
    assert auc([3.0, 2.0], [2.0, 1.0]) == 0.875
    # swapped: (2<3)=0, (2=2)=0.5, (1<3)=0, (1<2)=0 -> 0.5 / 4 = 0.125
    assert auc([2.0, 1.0], [3.0, 2.0]) == 0.125
    # all tied -> every pair 0.5 -> 0.5
    assert auc([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5


def test_auc_members_are_positive_class_with_scores() -> None:
    # Members were trained on: lower nll and smaller gradients. After the score functions'
    # negation, members score higher, so a perfect attack has AUC 1.0 (not 0.0).
    member_nll, nonmember_nll = [0.5, 1.0], [2.0, 3.0]
    assert auc([loss_score(v) for v in member_nll], [loss_score(v) for v in nonmember_nll]) == 1.0
    member_g, nonmember_g = [0.1, 0.2], [0.9, 1.5]
    assert (
        auc([gradnorm_score(v) for v in member_g], [gradnorm_score(v) for v in nonmember_g]) == 1.0
    )


def test_auc_drops_nan_and_handles_inf() -> None:
    # NaNs dropped -> the golden case above: 0.875
    assert auc([3.0, math.nan, 2.0], [2.0, math.nan, 1.0]) == 0.875
    # ±inf allowed: (inf>2)=1, (inf>-inf)=1, (2=2)=0.5, (2>-inf)=1 -> 3.5 / 4 = 0.875
    assert auc([math.inf, 2.0], [2.0, -math.inf]) == 0.875
    # tensors accepted
    assert auc(torch.tensor([3.0, 2.0]), torch.tensor([2.0, 1.0])) == 0.875
    # an empty side (before or after dropping NaN) -> NaN
    assert math.isnan(auc([math.nan], [1.0]))
    assert math.isnan(auc([1.0], []))


def test_privleak_golden() -> None:
    # MUSE's form in our orientation: (a_oracle - a_model) / (1 - a_oracle + 1e-10) × 100
    # (0.5 - 0.75) / 0.5 × 100 = -50 (still leaks: negative, as in MUSE's tables)
    assert privleak(0.75, 0.5) == pytest.approx(-50.0, rel=1e-9)
    # (0.5 - 0.5) / 0.5 × 100 = 0 (ideal)
    assert privleak(0.5, 0.5) == 0.0
    # (0.5 - 0.4) / 0.5 × 100 = +20 (over-unlearned)
    assert privleak(0.4, 0.5) == pytest.approx(20.0, rel=1e-9)
    # a fully memorised target (AUC 1) against a chance oracle: (0.5 - 1) / 0.5 = -100
    assert privleak(1.0, 0.5) == pytest.approx(-100.0, rel=1e-9)
    # an oracle at AUC 0.6: (0.6 - 0.9) / 0.4 × 100 = -75
    assert privleak(0.9, 0.6) == pytest.approx(-75.0, rel=1e-9)
    assert math.isnan(privleak(math.nan, 0.5))


def test_privleak_equals_open_unlearnings_formula() -> None:
    # open-unlearning (privacy.py): score = 1 - auc, ref = 1 - ref_auc,
    # (score - ref) / (ref + 1e-10) * 100, on AUCs that equal ours
    for a_model, a_oracle in [(0.75, 0.5), (0.3, 0.45), (0.99, 0.51), (0.5, 1.0), (0.2, 0.0)]:
        score, ref = 1 - a_model, 1 - a_oracle
        assert privleak(a_model, a_oracle) == (score - ref) / (ref + 1e-10) * 100
    # an oracle at AUC 1: the guard keeps it finite, (1 - 0.5) / (0 + 1e-10) × 100 = 5e11
    assert privleak(0.5, 1.0) == pytest.approx(0.5 / 1e-10 * 100)


def test_mean_tensor_norm_golden() -> None:
    # two tensors: ‖(3, 4)‖₂ = 5 and ‖((0, 0), (0, 1))‖₂ = 1 -> mean 3 (a global norm would
    # be sqrt(25 + 1) = 5.099)
    grads = [torch.tensor([3.0, 4.0]), torch.tensor([[0.0, 0.0], [0.0, 1.0]])]
    assert mean_tensor_norm(grads) == pytest.approx(3.0)
    # p = 1: (3 + 4 = 7, 1) -> 4 ; p = inf: (4, 1) -> 2.5
    assert mean_tensor_norm(grads, p=1) == pytest.approx(4.0)
    assert mean_tensor_norm(grads, p=math.inf) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="p="):
        mean_tensor_norm(grads, p=3)
    with pytest.raises(ValueError, match="no gradient"):
        mean_tensor_norm([])


def test_auc_equals_open_unlearnings_labelling():
    """open-unlearning (mia/utils.py) scores "higher = less member-like" (our score negated)
    and labels forget 0, holdout 1: roc_auc_score of that is our AUC, ties included."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    for _ in range(20):
        m = rng.integers(0, 6, size=int(rng.integers(1, 30))).astype(float)
        n = rng.integers(0, 6, size=int(rng.integers(1, 30))).astype(float)
        labels = np.r_[np.zeros(m.size), np.ones(n.size)]
        theirs = roc_auc_score(labels, np.r_[-m, -n])
        assert auc(m, n) == pytest.approx(theirs, abs=1e-12)


def test_auc_equals_sklearn_roc_auc_on_random_scores_with_ties():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from unlearnkit.evaluation.functional.mia import auc

    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.integers(0, 6, size=int(rng.integers(1, 30))).astype(float)  # many ties
        n = rng.integers(0, 6, size=int(rng.integers(1, 30))).astype(float)
        labels = np.r_[np.ones(m.size), np.zeros(n.size)]
        assert auc(m, n) == pytest.approx(roc_auc_score(labels, np.r_[m, n]), abs=1e-12)
