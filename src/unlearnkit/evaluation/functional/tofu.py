"""TOFU metrics as pure functions of average negative log-likelihoods.

TOFU: Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", arXiv:2401.06121.

Every input here is an ``avg_nll = nll / T`` over the T answer tokens (prompt and padding
masked), so ``exp(-avg_nll)`` is the length-normalised probability of an answer: the
geometric mean of its per-token probabilities (see METRICS.md). Per-item functions return
one float; aggregation over items (means, KS test, harmonic mean) is done by the caller on
the kept per-item values, except for :func:`forget_quality` and :func:`harmonic_mean`,
which are aggregations by definition.

NaN conventions: a NaN input gives a NaN output (never a silent 0), except in
:func:`forget_quality`, which drops NaN items before testing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "forget_quality",
    "harmonic_mean",
    "normalised_probability",
    "probability",
    "truth_ratio",
    "truth_ratio_forget",
    "truth_ratio_retain",
]


def _exp(x: float) -> float:
    """``math.exp`` that returns ``inf`` instead of raising on overflow."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def probability(avg_nll: float) -> float:
    """Length-normalised probability of an answer: ``exp(-avg_nll)``.

    TOFU's "Probability" on the retain/forget sets is the mean of this over items
    (arXiv:2401.06121, §2.5). NaN in gives NaN out.
    """
    return _exp(-float(avg_nll))


def normalised_probability(true_avg_nll: float, wrong_avg_nlls: Sequence[float]) -> float:
    """``p_true / (p_true + Σ_j p_wrong_j)`` with ``p = exp(-avg_nll)``.

    TOFU's "Probability" on the real-authors / world-facts sets, where each question comes
    with wrong options (arXiv:2401.06121, §2.5). Computed as a softmax over the negated
    avg_nlls, so very large nlls (e.g. 1000, where every ``p`` underflows to 0) still give
    the right ratio instead of 0/0. No wrong options gives 1.0. NaN anywhere gives NaN, and
    so does an undefined 0/0 (every avg_nll infinite).
    """
    logits = [-float(true_avg_nll), *(-float(w) for w in wrong_avg_nlls)]
    if any(math.isnan(v) for v in logits):
        return math.nan
    top = max(logits)
    if top == -math.inf:  # every probability is exactly 0: the ratio is undefined
        return math.nan
    log_total = top + math.log(math.fsum(math.exp(v - top) for v in logits))
    return math.exp(logits[0] - log_total)


def truth_ratio(paraphrased_avg_nll: float, perturbed_avg_nlls: Sequence[float]) -> float:
    """Per-item truth ratio ``R = exp(avg_nll_para - mean_j avg_nll_j)``.

    Equivalently ``R = exp(-mean_j avg_nll(wrong_j)) / exp(-avg_nll(paraphrased))``: the
    (geometric-mean) probability of the perturbed wrong answers over that of the paraphrased
    correct answer (arXiv:2401.06121, §2.5). R < 1 means the model prefers the correct
    answer; R ≈ 1 means it cannot tell them apart. The wrong answers are combined by the
    *mean of their avg_nll*, as in the TOFU code. NaN in gives NaN out; an overflowing
    exponent gives ``inf``.

    Raises:
        ValueError: if ``perturbed_avg_nlls`` is empty.
    """
    perturbed = [float(v) for v in perturbed_avg_nlls]
    if not perturbed:
        raise ValueError(
            "truth_ratio: perturbed_avg_nlls is empty; give the avg_nll of at least one "
            "perturbed (wrong) answer for this item"
        )
    mean_perturbed = math.fsum(perturbed) / len(perturbed)
    return _exp(float(paraphrased_avg_nll) - mean_perturbed)


def _check_ratio(r: float, name: str) -> float:
    r = float(r)
    if r < 0:
        raise ValueError(
            f"{name}: r={r!r} is negative; a truth ratio is a ratio of "
            "probabilities and must be >= 0"
        )
    return r


def truth_ratio_forget(r: float) -> float:
    """Forget-set score of one truth ratio: ``min(R, 1/R)``, in [0, 1].

    1 means the model finds the correct and the wrong answers equally likely (the ideal
    after forgetting); it drops towards 0 when either is strongly preferred. ``R = 0`` and
    ``R = inf`` both give 0. TOFU reports the mean of this over the forget set
    (arXiv:2401.06121, §2.5; ``np.minimum(x, 1/x)`` in its ``aggregate_eval_stat.py``).
    NaN gives NaN; a negative R raises ValueError.
    """
    r = _check_ratio(r, "truth_ratio_forget")
    if math.isnan(r):
        return math.nan
    if r == 0.0 or math.isinf(r):
        return 0.0
    return min(r, 1.0 / r)


def truth_ratio_retain(r: float) -> float:
    """Score of one truth ratio on retain / general sets: ``max(0, 1 - R)``, in [0, 1].

    Higher is better: the model prefers the correct answer. TOFU reports the mean of this
    on every set other than the forget set (arXiv:2401.06121, §2.5; its code writes it as
    ``max(0, 1 - 1/x)`` with ``x = 1/R``). NaN gives NaN; a negative R raises ValueError.
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
    truth ratios R of the evaluated model and of the oracle (retain-only) model on the
    forget set (arXiv:2401.06121, §2.5). 1.0 means indistinguishable from never having
    trained on the forget set; small values mean the distributions differ.

    The TOFU code tests ``exp(perturbed_loss - paraphrased_loss)``, i.e. ``1/R``. The KS
    statistic depends only on the ranks of the pooled sample, which a strictly monotone
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
    probabilities, ROUGE-L recalls and truth-ratio scores (arXiv:2401.06121, §2.5). Any
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
    inverse_sum = math.fsum(1.0 / v for v in vals)
    return math.inf if inverse_sum == 0.0 else len(vals) / inverse_sum  # all inf -> inf
