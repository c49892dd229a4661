"""Membership-inference (MIA) scores, AUC and PrivLeak as pure functions.

Score convention, for every attack here: **higher score = more member-like**. Each score
function negates the raw quantity where needed (a lower loss, a smaller gradient means
"seen in training"), so no caller ever has to flip a sign. :func:`auc` uses the members
(the forget set) as the *positive* class: 1.0 means every member outscores every
non-member, 0.5 means the attacker cannot tell them apart, and values below 0.5 mean the
members now look *less* familiar than non-members. (One public framework labels the other
way round and flips later; we do not.) See METRICS.md, "Membership inference".

Per-item scores take plain Python floats or sequences (lists, 1-D numpy arrays or 1-D
torch tensors on any device); they return a Python ``float``. NaN in gives NaN out, except
in :func:`auc`, which drops NaN scores.

References:
    LOSS: Yeom et al., "Privacy Risk in Machine Learning", CSF 2018.
    ZLib, Reference: Carlini et al., "Extracting Training Data from Large Language Models",
    USENIX Security 2021.
    Min-K%: Shi et al., "Detecting Pretraining Data from Large Language Models",
    arXiv:2310.16789.
    Min-K%++: Zhang et al., "Min-K%++: Improved Baseline for Detecting Pre-Training Data
    from Large Language Models", arXiv:2404.02936.
    PrivLeak: Shi et al., "MUSE: Machine Unlearning Six-Way Evaluation for Language
    Models", arXiv:2407.06460.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "auc",
    "gradnorm_score",
    "loss_score",
    "min_k_pp_score",
    "min_k_score",
    "next_token_moments",
    "privleak",
    "reference_score",
    "zlib_score",
]

# Tolerance on k·T before flooring, so that e.g. k=0.29, T=100 (0.29*100 = 28.999999999999996
# in floating point) keeps ⌊k·T⌋ = 29 tokens as the formula says.
_FLOOR_EPS = 1e-9


def _as_1d(values: Sequence[float] | np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """A float64 numpy copy of a 1-D sequence / array / tensor (any device)."""
    if isinstance(values, torch.Tensor):
        arr = values.detach().to(device="cpu", dtype=torch.float64).numpy()
    else:
        arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of floats, got shape {arr.shape}")
    return arr


def _check_k(k: float, fn: str) -> float:
    k = float(k)
    if not 0.0 < k <= 1.0:  # NaN fails too
        raise ValueError(f"{fn}: k={k!r} must be in (0, 1], the fraction of tokens kept (e.g. 0.4)")
    return k


def _mean_lowest(values: np.ndarray, k: float) -> float:
    """Mean of the lowest ``max(1, ⌊k·T⌋)`` values; NaN if empty or any value is NaN."""
    t = values.shape[0]
    if t == 0 or np.isnan(values).any():
        return math.nan
    n = max(1, math.floor(k * t + _FLOOR_EPS))
    # Sorting makes the result independent of the order of tied values.
    return float(np.mean(np.sort(values)[:n]))


def loss_score(avg_nll: float) -> float:
    """LOSS attack (Yeom et al. 2018): ``-avg_nll``.

    ``avg_nll`` is the mean per-token negative log-likelihood of the scored text; members,
    fitted in training, have lower loss, hence the negation (higher = more member-like).
    """
    return -float(avg_nll)


def zlib_score(nll: float, text: str) -> float:
    """ZLib attack (Carlini et al. 2021): ``-nll / len(zlib.compress(text.encode("utf-8")))``.

    ``nll`` is the *summed* negative log-likelihood of the scored continuation and ``text``
    is that same scored continuation text (not the prompt, not prompt + continuation). The
    compressed length (zlib default level, in bytes) is a reference-free estimate of how
    predictable the text is intrinsically, so the ratio calibrates away plain repetitiveness.
    Higher = more member-like. The compressed length is never 0 (8 bytes for ``""``).
    """
    return -float(nll) / len(zlib.compress(text.encode("utf-8")))


def min_k_score(logprobs: Sequence[float] | torch.Tensor, k: float = 0.4) -> float:
    """Min-K% Prob (Shi et al. 2023, arXiv:2310.16789): mean of the lowest k% token log-probs.

    ``logprobs`` are the per-token ``log p(y_t | y_<t)`` of the scored text, length T. The
    mean is over the ``max(1, ⌊k·T⌋)`` smallest values (at least one token). Members have
    fewer very unlikely tokens, so a higher score is more member-like. Tied values give the
    same result whatever their order. Empty ``logprobs`` (or any NaN in them) gives NaN.

    Raises:
        ValueError: if ``k`` is not in (0, 1].
    """
    k = _check_k(k, "min_k_score")
    return _mean_lowest(_as_1d(logprobs, "min_k_score: logprobs"), k)


def next_token_moments(logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``log p`` under the model's own next-token distribution.

    ``logp`` is a log-softmax over the vocabulary, shape ``(T, V)`` (any leading shape
    ``(..., V)`` works). Returns ``(mu, sigma2)``, each of shape ``(T,)``, in float64:

        mu_t     = Σ_v p_v log p_v                  (the negated entropy)
        sigma2_t = Σ_v p_v (log p_v)² - mu_t² = Σ_v p_v (log p_v - mu_t)²

    computed in the centred form (non-negative by construction) and clamped at 0. Tokens
    with ``p_v = 0`` (``log p_v = -inf``) contribute 0, not NaN. These are the inputs
    :func:`min_k_pp_score` needs (Zhang et al. 2024, arXiv:2404.02936).
    """
    if logp.dim() < 1:
        raise ValueError("next_token_moments: logp must have shape (T, V), got a scalar")
    logp = logp.detach().to(torch.float64)
    p = logp.exp()  # (T, V)
    support = p > 0  # (T, V); p = 0 terms are 0 · (-inf) = NaN unless masked
    zero = torch.zeros((), dtype=torch.float64, device=logp.device)
    mu = torch.where(support, p * logp, zero).sum(dim=-1)  # (T,)
    centred = torch.where(support, logp - mu.unsqueeze(-1), zero)  # (T, V)
    sigma2 = (p * centred.square()).sum(dim=-1).clamp_min(0.0)  # (T,)
    return mu, sigma2


def min_k_pp_score(
    logprobs: Sequence[float] | torch.Tensor,
    mu: Sequence[float] | torch.Tensor,
    sigma2: Sequence[float] | torch.Tensor,
    k: float = 0.4,
) -> float:
    """Min-K%++ (Zhang et al. 2024, arXiv:2404.02936): mean of the lowest k% z-scores.

    Per position, ``z_t = (log p(y_t) - mu_t) / sigma_t``, where ``mu_t`` and ``sigma2_t``
    are the mean and variance of ``log p`` under the model's next-token distribution at
    position t (see :func:`next_token_moments`). The score is the mean of the
    ``max(1, ⌊k·T⌋)`` smallest ``z_t``; higher = more member-like (training points sit near
    local maxima of the likelihood).

    Conventions: where ``sigma_t = 0`` (a one-hot next-token distribution, the z-score is
    0/0) we set ``z_t = 0``. A slightly negative ``sigma2_t`` from floating-point rounding is
    clamped to 0. Empty input or any NaN gives NaN.

    Raises:
        ValueError: if ``k`` is not in (0, 1], the three sequences differ in length, or a
            ``sigma2_t`` is clearly negative (not rounding error).
    """
    k = _check_k(k, "min_k_pp_score")
    lp = _as_1d(logprobs, "min_k_pp_score: logprobs")
    m = _as_1d(mu, "min_k_pp_score: mu")
    s2 = _as_1d(sigma2, "min_k_pp_score: sigma2")
    if not lp.shape == m.shape == s2.shape:
        raise ValueError(
            f"min_k_pp_score: logprobs, mu and sigma2 must have the same length (one per "
            f"token), got {lp.shape[0]}, {m.shape[0]} and {s2.shape[0]}"
        )
    # Rounding in Σ p l² - μ² can leave σ² a little below 0; anything beyond is a bug upstream.
    tol = 1e-6 * (1.0 + np.square(m))
    bad = s2 < -tol
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"min_k_pp_score: sigma2[{i}]={s2[i]!r} is negative; a variance must be >= 0 "
            "(compute it with next_token_moments)"
        )
    sigma = np.sqrt(np.clip(s2, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, (lp - m) / sigma, 0.0)
    z[np.isnan(lp) | np.isnan(m) | np.isnan(s2)] = np.nan  # NaN in gives NaN out
    return _mean_lowest(z, k)


def reference_score(avg_nll: float, reference_avg_nll: float) -> float:
    """Reference-model attack (Carlini et al. 2021): ``-(avg_nll - reference_avg_nll)``.

    The reference model (not trained on the candidate members) calibrates away how easy the
    text is in general: a target loss much lower than the reference loss is member-like.
    """
    return -(float(avg_nll) - float(reference_avg_nll))


def gradnorm_score(grad_norm: float) -> float:
    """GradNorm attack: ``-grad_norm``.

    ``grad_norm`` is the global L2 norm over all parameters: ``sqrt(Σ_θ ‖∂avg_nll/∂θ‖²)``
    taken over every trainable parameter of the model at once (one norm per example, not
    per layer). Members sit near a minimum of the loss and have smaller gradients, so the
    negated norm is higher for members.

    Raises:
        ValueError: if ``grad_norm`` is negative (a norm cannot be).
    """
    g = float(grad_norm)
    if g < 0:
        raise ValueError(f"gradnorm_score: grad_norm={g!r} is negative; pass an L2 norm (>= 0)")
    return -g


def auc(
    member_scores: Sequence[float] | torch.Tensor,
    nonmember_scores: Sequence[float] | torch.Tensor,
) -> float:
    """ROC AUC of an attack, members (the forget set) as the positive class.

    Equals the probability that a random member outscores a random non-member, ties
    counting one half (the value of ``sklearn.metrics.roc_auc_score``). 0.5 = cannot tell,
    1.0 = members always score higher, < 0.5 = members look less familiar than non-members.

    Computed from average ranks, as the Mann–Whitney U statistic over n_m·n_n:
    (Σ rank(members) - n_m(n_m + 1)/2) / (n_m·n_n); fast enough for a bootstrap.

    NaN scores are dropped on each side first; if a side is then empty the result is NaN.
    ``±inf`` scores are allowed (e.g. a token with probability 0): only ranks matter.
    """
    from scipy.stats import rankdata  # lazy: scipy is slow to import

    members = _as_1d(member_scores, "auc: member_scores")
    nonmembers = _as_1d(nonmember_scores, "auc: nonmember_scores")
    members = members[~np.isnan(members)]
    nonmembers = nonmembers[~np.isnan(nonmembers)]
    if members.size == 0 or nonmembers.size == 0:
        return math.nan
    ranks = rankdata(np.concatenate([members, nonmembers]), method="average")
    n_m, n_n = members.size, nonmembers.size
    u = float(ranks[:n_m].sum()) - n_m * (n_m + 1) / 2
    return u / (n_m * n_n)


def privleak(auc_model: float, auc_oracle: float) -> float:
    """PrivLeak (MUSE, arXiv:2407.06460): ``(auc_model - auc_oracle) / auc_oracle × 100``.

    Both AUCs are of the same attack (MUSE: Min-K%, k=0.4) on forget vs holdout, for the
    evaluated model and for the oracle retrained without the forget set. ≈0 is ideal;
    strongly positive = the model still leaks membership of the forget set; strongly
    negative = over-unlearned (forgotten data now looks *less* familiar than never-seen
    data, itself a signal an attacker can use). NaN in gives NaN out.

    Raises:
        ValueError: if ``auc_oracle`` is 0.
    """
    a_model, a_oracle = float(auc_model), float(auc_oracle)
    if a_oracle == 0.0:
        raise ValueError(
            "privleak: auc_oracle is 0, so the relative difference is undefined; pass the "
            "oracle's AUC from auc() (0.5 when it cannot tell forget from holdout)"
        )
    return (a_model - a_oracle) / a_oracle * 100.0
