"""TOFU metrics as pure functions of average negative log-likelihoods.

TOFU: Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", arXiv:2401.06121.
Reference implementation (what "the field's numbers" are): open-unlearning at commit
d3d7cf9, ``src/evals/metrics/memorization.py`` (probability, probability_w_options,
truth_ratio), ``privacy.py`` (ks_test) and ``utility.py`` (hm_aggregate). Every function
here computes, per item, what that code computes, including its ``+ 1e-10`` guards.

Every input here is an ``avg_nll = nll / T`` over the T scored answer tokens (prompt and
padding masked; the answer ends with the EOS token TOFU appends, and that token is scored),
so ``exp(-avg_nll)`` is the length-normalised probability of an answer: the geometric mean
of its per-token probabilities (see METRICS.md). Per-item functions return one float;
aggregation over items (means, KS test, harmonic mean) is done by the caller on the kept
per-item values, except for :func:`forget_quality` and :func:`harmonic_mean`, which are
aggregations by definition.

NaN conventions: a NaN input gives a NaN output (never a silent 0), except in
:func:`forget_quality`, which drops NaN items before testing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "EPS",
    "forget_quality",
    "harmonic_mean",
    "knowledge_ratio",
    "normalised_probability",
    "probability",
    "truth_ratio",
    "truth_ratio_forget",
    "truth_ratio_retain",
]

#: The guard open-unlearning adds to every denominator of these ratios (``+ 1e-10``).
EPS = 1e-10


def _exp(x: float) -> float:
    """``math.exp`` that returns ``inf`` instead of raising on overflow."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def probability(avg_nll: float) -> float:
    """Length-normalised probability of an answer: ``exp(-avg_nll)``.

    TOFU's "Probability" on the retain/forget sets is the mean of this over items
    (arXiv:2401.06121, §2.5; open-unlearning ``evaluate_probability``). NaN in gives NaN out.
    """
    return _exp(-float(avg_nll))


def normalised_probability(true_avg_nll: float, wrong_avg_nlls: Sequence[float]) -> float:
    """``p_true / (p_true + Σ_j p_wrong_j + 1e-10)`` with ``p = exp(-avg_nll)``.

    TOFU's "Probability" on the real-authors / world-facts sets, where each question comes
    with wrong options (arXiv:2401.06121, §2.5), exactly as open-unlearning's
    ``probability_w_options`` computes it, ``+ 1e-10`` included: when every probability
    underflows to 0 the value is 0, not undefined. No wrong options gives
    ``p / (p + 1e-10)``. NaN anywhere gives NaN.
    """
    true = probability(true_avg_nll)
    wrong = [probability(w) for w in wrong_avg_nlls]
    if math.isnan(true) or any(math.isnan(w) for w in wrong):
        return math.nan
    return true / (true + math.fsum(wrong) + EPS)


def _mean_wrong(perturbed_avg_nlls: Sequence[float], fn: str, arg: str) -> float:
    perturbed = [float(v) for v in perturbed_avg_nlls]
    if not perturbed:
        raise ValueError(
            f"{fn}: {arg} is empty; give the avg_nll of at least one perturbed (wrong) "
            "answer for this item"
        )
    return math.fsum(perturbed) / len(perturbed)


def truth_ratio(paraphrased_avg_nll: float, perturbed_avg_nlls: Sequence[float]) -> float:
    """Per-item truth ratio ``R = exp(-mean_j avg_nll_j) / (exp(-avg_nll_para) + 1e-10)``.

    The (geometric-mean) probability of the perturbed wrong answers over that of the
    correct (paraphrased) answer (arXiv:2401.06121, §2.5): R < 1 means the model prefers
    the correct answer; R ≈ 1 means it cannot tell them apart. The wrong answers are
    combined by the *mean of their avg_nll*, and the denominator carries ``+ 1e-10``, as in
    open-unlearning's ``truth_ratio`` (``wrong_prob / (correct_prob + 1e-10)``). NaN in
    gives NaN out; an overflowing exponent gives ``inf``.

    Raises:
        ValueError: if ``perturbed_avg_nlls`` is empty.
    """
    mean_perturbed = _mean_wrong(perturbed_avg_nlls, "truth_ratio", "perturbed_avg_nlls")
    return probability(mean_perturbed) / (probability(paraphrased_avg_nll) + EPS)


def knowledge_ratio(correct_avg_nll: float, wrong_avg_nlls: Sequence[float]) -> float:
    """``p_correct / (p_correct + p_wrong + 1e-10)`` with ``p_wrong = exp(-mean_j avg_nll_j)``.

    The truth ratio's "extent of knowledge" form, open-unlearning's ``prob_mean`` aggregator
    (added in its commit d3d7cf9 for the OpenUnlearning paper's meta-evaluation): in [0, 1],
    higher = the model prefers the correct answer. Not TOFU's definition; a named option.

    Raises:
        ValueError: if ``wrong_avg_nlls`` is empty.
    """
    correct = probability(correct_avg_nll)
    wrong = probability(_mean_wrong(wrong_avg_nlls, "knowledge_ratio", "wrong_avg_nlls"))
    return correct / (correct + wrong + EPS)


def _check_ratio(r: float, name: str) -> float:
    r = float(r)
    if r < 0:
        raise ValueError(
            f"{name}: r={r!r} is negative; a truth ratio is a ratio of "
            "probabilities and must be >= 0"
        )
    return r


def truth_ratio_forget(r: float) -> float:
    """Forget-set score of one truth ratio: ``min(R, 1/(R + 1e-10))``, in [0, 1].

    1 means the model finds the correct and the wrong answers equally likely (the ideal
    after forgetting); it drops towards 0 when either is strongly preferred. ``R = 0`` and
    ``R = inf`` both give 0. TOFU reports the mean of this over the forget set
    (arXiv:2401.06121, §2.5; open-unlearning's ``closer_to_1_better`` aggregator,
    ``np.minimum(arr, 1 / (arr + 1e-10))``). NaN gives NaN; a negative R raises ValueError.
    """
    r = _check_ratio(r, "truth_ratio_forget")
    if math.isnan(r):
        return math.nan
    if math.isinf(r):
        return 0.0
    return min(r, 1.0 / (r + EPS))


def truth_ratio_retain(r: float) -> float:
    """Score of one truth ratio on retain / general sets: ``max(0, 1 - R)``, in [0, 1].

    Higher is better: the model prefers the correct answer. TOFU reports the mean of this
    on every set other than the forget set (arXiv:2401.06121, §2.5; open-unlearning's
    ``true_better`` aggregator, ``np.maximum(0, 1 - arr)``). NaN gives NaN; a negative R
    raises ValueError.
    """
    r = _check_ratio(r, "truth_ratio_retain")
    if math.isnan(r):
        return math.nan
    return max(0.0, 1.0 - r)


def forget_quality(
    model_truth_ratios: Sequence[float], oracle_truth_ratios: Sequence[float]
) -> float:
    """TOFU forget quality: KS-test p-value between model and oracle truth ratios.

    The p-value of the two-sample, two-sided Kolmogorov–Smirnov test
    (``scipy.stats.ks_2samp``, default exact/asymptotic choice) between the per-item raw
    truth ratios R (:func:`truth_ratio`, with its ``+ 1e-10``) of the evaluated model and
    of the oracle (retain-only) model on the forget set (arXiv:2401.06121, §2.5), as
    open-unlearning's ``ks_test`` computes it on the two models' ``forget_truth_ratio``
    values. 1.0 means indistinguishable from never having trained on the forget set; small
    values mean the distributions differ.

    TOFU's original code tests ``exp(perturbed_loss - paraphrased_loss)``, i.e. ``1/R``. The
    KS statistic depends only on the ranks of the pooled sample, which a strictly monotone
    transform preserves (a decreasing one mirrors them), so raw R gives the identical
    p-value; a test pins this.

    NaN values are dropped on each side first; if either side is then empty the result is
    NaN. Where scipy's exact computation does not converge it falls back to the asymptotic
    distribution, as the TOFU code does; its warning about that is silenced.
    """
    import warnings

    from scipy.stats import ks_2samp  # lazy: scipy is slow to import

    model = [float(v) for v in model_truth_ratios if not math.isnan(float(v))]
    oracle = [float(v) for v in oracle_truth_ratios if not math.isnan(float(v))]
    if not model or not oracle:
        return math.nan
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
        return float(ks_2samp(model, oracle).pvalue)


def harmonic_mean(values: Sequence[float]) -> float:
    """Harmonic mean ``n / Σ 1/v``: TOFU's model-utility aggregation.

    Model utility is the harmonic mean of the retain-set and general-knowledge
    probabilities, ROUGE-L recalls and truth-ratio scores (arXiv:2401.06121, §2.5),
    computed with ``scipy.stats.hmean`` as open-unlearning's ``hm_aggregate`` does. Any
    value equal to 0 makes the result 0.0 — intended: a model that has lost one capability
    entirely has no utility, however good the others are.

    NaN anywhere gives NaN.

    Raises:
        ValueError: if ``values`` is empty or holds a negative value.
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("harmonic_mean: values is empty; give at least one value >= 0")
    negative = [v for v in vals if v < 0]
    if negative:
        raise ValueError(f"harmonic_mean: values must be >= 0 (metric scores), got {negative[0]!r}")
    if any(math.isnan(v) for v in vals):
        return math.nan
    if any(v == 0.0 for v in vals):
        return 0.0
    if all(math.isinf(v) for v in vals):
        return math.inf
    from scipy.stats import hmean  # lazy: scipy is slow to import

    return float(hmean(vals))
