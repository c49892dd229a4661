"""Golden tests for ``unlearnkit.evaluation.functional.tofu``: every expected value is
computed by hand in the comment next to it. The definitions are open-unlearning's (commit
d3d7cf9), ``+ 1e-10`` guards included; tests below show where those guards matter."""

from __future__ import annotations

import math

import pytest

from unlearnkit.evaluation.functional.tofu import (
    forget_quality,
    harmonic_mean,
    knowledge_ratio,
    normalised_probability,
    probability,
    truth_ratio,
    truth_ratio_forget,
    truth_ratio_retain,
)

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)

# ---------------------------------------------------------------- probability


def test_probability_is_exp_of_minus_avg_nll() -> None:
    # avg_nll = ln 4 -> exp(-ln 4) = 1/4
    assert probability(LN4) == pytest.approx(0.25)
    # avg_nll = 0 -> p = 1 (every answer token predicted with probability 1)
    assert probability(0.0) == 1.0


def test_probability_nan_in_nan_out() -> None:
    assert math.isnan(probability(math.nan))


def test_probability_infinite_nll_is_zero() -> None:
    assert probability(math.inf) == 0.0


# ---------------------------------------------------------------- normalised probability


def test_normalised_probability_golden() -> None:
    # p_true = exp(-ln 2) = 1/2; wrong: exp(-ln 4) = 1/4, exp(-ln 4) = 1/4
    # 1/2 / (1/2 + 1/4 + 1/4 + 1e-10) = 0.5 / 1.0000000001
    assert normalised_probability(LN2, [LN4, LN4]) == 0.5 / (1.0 + 1e-10)
    # p_true = 1/2, one wrong p = 1/3 -> (1/2) / (5/6 + 1e-10) ≈ 3/5
    assert normalised_probability(LN2, [LN3]) == pytest.approx(0.6, rel=1e-9)


def test_normalised_probability_underflow_gives_zero_as_the_publisher() -> None:
    # exp(-1000) underflows to 0.0 for every answer: open-unlearning's
    # correct / (correct + wrong + 1e-10) is then 0 / 1e-10 = 0 (a softmax would say 3/4)
    assert normalised_probability(1000.0, [1000.0 + LN3]) == 0.0
    # p = e^-30 = 9.3576e-14 for all four answers: 9.3576e-14 / (4 · 9.3576e-14 + 1e-10)
    # = 1 / (4 + 1e-10 / 9.3576e-14) = 1 / (4 + 1068.65) = 9.32e-4, not 1/4
    p = math.exp(-30.0)
    assert normalised_probability(30.0, [30.0, 30.0, 30.0]) == pytest.approx(p / (4 * p + 1e-10))
    assert normalised_probability(30.0, [30.0, 30.0, 30.0]) == pytest.approx(9.3226e-4, rel=1e-4)


def test_normalised_probability_no_wrong_options() -> None:
    # p / (p + 1e-10) with p = e^-1.7 = 0.18268: 1 - 5.5e-10
    assert normalised_probability(1.7, []) == pytest.approx(1.0, abs=1e-9)


def test_normalised_probability_edge_cases() -> None:
    # true answer impossible, a wrong one possible -> 0 / (0 + 1/2 + 1e-10) = 0
    assert normalised_probability(math.inf, [LN2]) == 0.0
    # every probability 0 -> 0 / 1e-10 = 0 (the publisher's guard)
    assert normalised_probability(math.inf, [math.inf]) == 0.0
    assert math.isnan(normalised_probability(math.nan, [LN2]))
    assert math.isnan(normalised_probability(LN2, [math.nan]))


# ---------------------------------------------------------------- truth ratio


def test_truth_ratio_golden() -> None:
    # para avg_nll = 1, perturbed avg_nlls [2, 4] -> mean 3
    # R = e^-3 / (e^-1 + 1e-10) = e^-2 · (1 - 2.7e-10)
    assert truth_ratio(1.0, [2.0, 4.0]) == math.exp(-3.0) / (math.exp(-1.0) + 1e-10)
    assert truth_ratio(1.0, [2.0, 4.0]) == pytest.approx(math.exp(-2.0), rel=1e-9)
    # equal nlls -> R = p / (p + 1e-10) ≈ 1
    assert truth_ratio(2.5, [2.5]) == pytest.approx(1.0, rel=1e-8)


def test_truth_ratio_guard_matters_for_unlikely_answers() -> None:
    # every answer at avg_nll 30: p = e^-30 = 9.3576e-14 on both sides, so without the guard
    # R = 1; open-unlearning's R = p / (p + 1e-10) = 1 / (1 + 1068.65) = 9.349e-4
    p = math.exp(-30.0)
    assert truth_ratio(30.0, [30.0, 30.0]) == p / (p + 1e-10)
    assert truth_ratio(30.0, [30.0, 30.0]) == pytest.approx(9.3488e-4, rel=1e-4)


def test_truth_ratio_is_ratio_of_geometric_mean_probabilities() -> None:
    # p_para = exp(-ln 2) = 1/2; wrong p = exp(-ln 2) = 1/2 and exp(-ln 8) = 1/8,
    # geometric mean sqrt(1/2 * 1/8) = 1/4 -> R = (1/4) / (1/2) = 1/2
    assert truth_ratio(LN2, [LN2, math.log(8)]) == pytest.approx(0.5)


def test_truth_ratio_empty_perturbed_raises() -> None:
    with pytest.raises(ValueError, match="perturbed"):
        truth_ratio(1.0, [])


def test_truth_ratio_nan_and_extremes() -> None:
    assert math.isnan(truth_ratio(math.nan, [1.0]))
    assert math.isnan(truth_ratio(1.0, [1.0, math.nan]))
    # correct answer impossible (e^-1000 = 0): e^0 / (0 + 1e-10) = 1e10, not inf
    assert truth_ratio(1000.0, [0.0]) == pytest.approx(1e10)
    # wrong answers with avg_nll -1000 (not a real nll, but defined): exp(1000) -> inf
    assert truth_ratio(0.0, [-1000.0]) == math.inf


def test_knowledge_ratio_golden() -> None:
    # p_correct = 1/2; wrong avg_nlls ln 2, ln 8 -> mean ln 4 -> p_wrong = 1/4
    # 1/2 / (1/2 + 1/4 + 1e-10) = 2/3
    assert knowledge_ratio(LN2, [LN2, math.log(8)]) == pytest.approx(2 / 3, rel=1e-9)
    with pytest.raises(ValueError, match="wrong_avg_nlls"):
        knowledge_ratio(1.0, [])


def test_truth_ratio_forget_golden() -> None:
    # min(R, 1/(R + 1e-10)): R = 1/4 -> min(1/4, ≈4) = 1/4;  R = 4 -> min(4, 1/(4 + 1e-10))
    # = 0.25 · (1 - 2.5e-11);  R = 1 -> 1/(1 + 1e-10)
    assert truth_ratio_forget(0.25) == 0.25
    assert truth_ratio_forget(4.0) == 1.0 / (4.0 + 1e-10)
    assert truth_ratio_forget(1.0) == 1.0 / (1.0 + 1e-10)
    # limits: R = 0 and R = inf both -> 0
    assert truth_ratio_forget(0.0) == 0.0
    assert truth_ratio_forget(math.inf) == 0.0
    assert math.isnan(truth_ratio_forget(math.nan))


def test_truth_ratio_retain_golden() -> None:
    # R = 1/4 -> 1 - 1/4 = 3/4;  R = 1 -> 0;  R = 3 -> max(0, -2) = 0;  R = 0 -> 1
    assert truth_ratio_retain(0.25) == pytest.approx(0.75)
    assert truth_ratio_retain(1.0) == 0.0
    assert truth_ratio_retain(3.0) == 0.0
    assert truth_ratio_retain(0.0) == 1.0
    assert truth_ratio_retain(math.inf) == 0.0
    assert math.isnan(truth_ratio_retain(math.nan))


@pytest.mark.parametrize("fn", [truth_ratio_forget, truth_ratio_retain])
def test_truth_ratio_scores_lie_in_unit_interval(fn) -> None:
    for r in [0.0, 1e-300, 0.1, 0.5, 1.0, 2.0, 1e300, math.inf]:
        assert 0.0 <= fn(r) <= 1.0


@pytest.mark.parametrize("fn", [truth_ratio_forget, truth_ratio_retain])
def test_truth_ratio_scores_reject_negative(fn) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        fn(-0.5)


# ---------------------------------------------------------------- forget quality


def test_forget_quality_identical_inputs_is_one() -> None:
    # identical samples -> KS statistic D = 0 -> p = 1
    ratios = [0.2, 0.5, 0.9, 1.3]
    assert forget_quality(ratios, ratios) == pytest.approx(1.0)


def test_forget_quality_separated_samples_exact_p() -> None:
    # n = m = 3, every model value below every oracle value -> D = 1.
    # Exact two-sided p = P(D >= 1) under H0: of the C(6,3) = 20 equally likely
    # interleavings only 2 (all-below, all-above) reach D = 1 -> 2/20 = 0.1
    assert forget_quality([0.1, 0.2, 0.3], [1.1, 1.2, 1.3]) == pytest.approx(0.1)
    # n = m = 4 -> 2 / C(8,4) = 2/70
    assert forget_quality([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)


def test_forget_quality_drops_nan() -> None:
    # NaNs dropped -> same as the n = m = 3 case above -> 0.1
    assert forget_quality([0.1, math.nan, 0.2, 0.3], [1.1, 1.2, math.nan, 1.3]) == (
        pytest.approx(0.1)
    )


def test_forget_quality_empty_side_is_nan() -> None:
    assert math.isnan(forget_quality([], [0.5, 0.6]))
    assert math.isnan(forget_quality([math.nan], [0.5]))
    assert math.isnan(forget_quality([0.5], []))


def test_forget_quality_single_items() -> None:
    # n = m = 1: 2 interleavings, both give D = 1 -> p = 2/2 = 1
    assert forget_quality([0.3], [0.9]) == pytest.approx(1.0)


def test_forget_quality_raw_r_equals_tofu_inverse_r() -> None:
    """TOFU tests exp(perturbed - paraphrased) = 1/R; we test R. Same p-value."""
    # (paraphrased avg_nll, perturbed avg_nlls) per item
    model_items = [(1.0, [1.5, 2.0]), (0.3, [0.4, 0.2]), (2.0, [1.0, 1.2]), (0.8, [2.4, 2.2])]
    oracle_items = [(1.2, [1.1, 1.0]), (0.5, [2.5, 2.7]), (0.9, [3.0, 3.1]), (1.1, [0.2, 0.1])]
    ours_model = [truth_ratio(p, w) for p, w in model_items]
    ours_oracle = [truth_ratio(p, w) for p, w in oracle_items]
    # TOFU (aggregate_eval_stat.py): np.exp(mean(perturbed) - paraphrased)
    tofu_model = [math.exp(sum(w) / len(w) - p) for p, w in model_items]
    tofu_oracle = [math.exp(sum(w) / len(w) - p) for p, w in oracle_items]
    for ours, tofu in zip(ours_model + ours_oracle, tofu_model + tofu_oracle, strict=True):
        assert ours == pytest.approx(1.0 / tofu)
    # log R (para - mean perturbed): model -0.75, 0, 0.9, -1.5; oracle 0.15, -2.1, -2.15, 0.95
    # pooled order:   o(-2.15) o(-2.1) m(-1.5) m(-0.75) m(0) o(0.15) m(0.9) o(0.95)
    # F_m - F_o after: -1/4    -2/4    -1/4    0        1/4  0       1/4    0  -> D = 1/2
    # Exact p, n = m = 4: D < 1/2 means the walk (+1 per m, -1 per o) stays in [-1, 1],
    # i.e. each step pair is (m,o) or (o,m): 2^4 = 16 of C(8,4) = 70 paths -> p = 54/70
    expected = forget_quality(tofu_model, tofu_oracle)
    assert forget_quality(ours_model, ours_oracle) == pytest.approx(expected)
    assert expected == pytest.approx(54 / 70)


# ---------------------------------------------------------------- harmonic mean


def test_harmonic_mean_golden() -> None:
    # 3 / (1/1 + 1/2 + 1/4) = 3 / 1.75 = 12/7
    assert harmonic_mean([1.0, 2.0, 4.0]) == pytest.approx(12 / 7)
    # 2 / (1/0.5 + 1/0.25) = 2 / 6 = 1/3
    assert harmonic_mean([0.5, 0.25]) == pytest.approx(1 / 3)
    assert harmonic_mean([0.7]) == pytest.approx(0.7)


def test_harmonic_mean_any_zero_is_zero() -> None:
    # intended: a model that lost one capability entirely has no utility
    assert harmonic_mean([0.9, 0.0, 0.8]) == 0.0


def test_harmonic_mean_nan_is_nan() -> None:
    assert math.isnan(harmonic_mean([0.9, math.nan]))


def test_harmonic_mean_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        harmonic_mean([])
    with pytest.raises(ValueError, match=">= 0"):
        harmonic_mean([0.5, -0.1])
