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

Reference implementation: open-unlearning at commit d3d7cf9, ``src/evals/metrics/mia/``
(one class per attack) and ``privacy.py`` (``privleak``). Each score here is the negation
of that code's score (it is "higher = less member-like" there, and its AUC labels the
holdout set positive), so every AUC is the same number; PrivLeak is rewritten in our
orientation to give the same value (:func:`privleak`). Which tokens each attack reads is
the callers' business: LOSS, ZLib and Reference use every scored answer token (the EOS
included), Min-K%, Min-K%++ and GradNorm every one but the last, as open-unlearning does.

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
    "MIN_VARIANCE",
    "auc",
    "gradnorm_score",
    "loss_score",
    "mean_tensor_norm",
    "min_k_pp_score",
    "min_k_score",
    "next_token_moments",
    "privleak",
    "reference_score",
    "zlib_score",
]

#: open-unlearning's floor on the next-token variance in Min-K%++ (``torch.clamp(sigma,
#: min=1e-6)``): a one-hot distribution gives z = (log p - mu) / 1e-3, not 0/0.
MIN_VARIANCE = 1e-6


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
    """Mean of the lowest ``max(1, int(T·k))`` values; NaN if empty or any value is NaN.

    ``int(T·k)`` in floating point, exactly as open-unlearning's ``num_k``: 100 tokens at
    k = 0.29 keep 28 (0.29·100 = 28.999999999999996)."""
    t = values.shape[0]
    if t == 0 or np.isnan(values).any():
        return math.nan
    n = max(1, int(t * k))
    # Sorting makes the result independent of the order of tied values.
    return float(np.mean(np.sort(values)[:n]))


def loss_score(avg_nll: float) -> float:
    """LOSS attack (Yeom et al. 2018): ``-avg_nll``.

    ``avg_nll`` is the mean per-token negative log-likelihood of the scored text; members,
    fitted in training, have lower loss, hence the negation (higher = more member-like).
    """
    return -float(avg_nll)


def zlib_score(avg_nll: float, text: str) -> float:
    """ZLib attack (Carlini et al. 2021): ``-avg_nll / len(zlib.compress(text.encode("utf-8")))``.

    ``avg_nll`` is the *per-token mean* negative log-likelihood of the scored continuation
    (Carlini et al. divide the log-perplexity; open-unlearning's ``ZLIBAttack`` divides
    ``avg_loss``) and ``text`` is that scored continuation's text as open-unlearning takes
    it: the scored tokens decoded with special tokens skipped (not the prompt). The
    compressed length (zlib default level, in bytes) is a reference-free estimate of how
    predictable the text is intrinsically, so the ratio calibrates away plain repetitiveness.
    Higher = more member-like. The compressed length is never 0 (8 bytes for ``""``).
    """
    return -float(avg_nll) / len(zlib.compress(text.encode("utf-8")))


def min_k_score(logprobs: Sequence[float] | torch.Tensor, k: float = 0.4) -> float:
    """Min-K% Prob (Shi et al. 2023, arXiv:2310.16789): mean of the lowest k% token log-probs.

    ``logprobs`` are the per-token ``log p(y_t | y_<t)`` of the scored text, length T. The
    mean is over the ``max(1, ⌊k·T⌋)`` smallest values (at least one token). Members have
    fewer very unlikely tokens, so a higher score is more member-like (open-unlearning's
    ``MinKProbAttack`` returns the negation). Tied values give the same result whatever
    their order. Empty ``logprobs`` (or any NaN in them) gives NaN.

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

    Per position, ``z_t = (log p(y_t) - mu_t) / sqrt(max(sigma2_t, 1e-6))``, where ``mu_t``
    and ``sigma2_t`` are the mean and variance of ``log p`` under the model's next-token
    distribution at position t (see :func:`next_token_moments`). The score is the mean of
    the ``max(1, int(T·k))`` smallest ``z_t``; higher = more member-like (training points
    sit near local maxima of the likelihood).

    The variance floor :data:`MIN_VARIANCE` is open-unlearning's (``MinKPlusPlusAttack``
    clamps it at 1e-6 "for numerical stability"), so a one-hot next-token distribution
    gives ``(log p - mu) / 1e-3`` as there. Empty input or any NaN gives NaN.

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
    with np.errstate(invalid="ignore"):
        z = (lp - m) / np.sqrt(np.maximum(s2, MIN_VARIANCE))
    z[np.isnan(lp) | np.isnan(m) | np.isnan(s2)] = np.nan  # NaN in gives NaN out
    return _mean_lowest(z, k)


def reference_score(avg_nll: float, reference_avg_nll: float) -> float:
    """Reference-model attack (Carlini et al. 2021): ``-(avg_nll - reference_avg_nll)``.

    The reference model (not trained on the candidate members) calibrates away how easy the
    text is in general: a target loss much lower than the reference loss is member-like.
    """
    return -(float(avg_nll) - float(reference_avg_nll))


def mean_tensor_norm(grads: Sequence[torch.Tensor], p: float = 2.0) -> float:
    """``mean_θ ‖g_θ‖_p``: the p-norm of each gradient tensor, averaged over the tensors.

    GradNorm's statistic as MIMIR (Duan et al. 2024) and open-unlearning's
    ``GradNormAttack`` compute it: one norm per parameter tensor (each tensor once, so tied
    weights count once), then their plain mean — not one global norm over all parameters.
    ``p`` is 1, 2 or ``inf``.

    Raises:
        ValueError: if ``grads`` is empty or ``p`` is not 1, 2 or inf.
    """
    p = float(p)
    if p not in (1.0, 2.0, math.inf):
        raise ValueError(f"mean_tensor_norm: p={p!r} must be 1, 2 or inf (open-unlearning's)")
    if not grads:
        raise ValueError("mean_tensor_norm: no gradient tensors; give at least one")
    norms = [torch.linalg.vector_norm(g.detach().double(), ord=p) for g in grads]
    return float(torch.stack(norms).mean())


def gradnorm_score(grad_norm: float) -> float:
    """GradNorm attack: ``-grad_norm``.

    ``grad_norm`` is :func:`mean_tensor_norm` of the gradient of the example's mean token
    loss. Members sit near a minimum of the loss and have smaller gradients, so the negated
    norm is higher for members (open-unlearning's score is the norm itself).

    Raises:
        ValueError: if ``grad_norm`` is negative (a norm cannot be).
    """
    g = float(grad_norm)
    if g < 0:
        raise ValueError(f"gradnorm_score: grad_norm={g!r} is negative; pass a norm (>= 0)")
    return -g


def auc(
    member_scores: Sequence[float] | torch.Tensor,
    nonmember_scores: Sequence[float] | torch.Tensor,
) -> float:
    """ROC AUC of an attack, members (the forget set) as the positive class: the one AUC of
    every family (LM attacks, the classifier and recommender membership measures).

    Equals the probability that a random member outscores a random non-member, ties
    counting one half (the value of ``sklearn.metrics.roc_auc_score``). 0.5 = cannot tell,
    1.0 = members always score higher, < 0.5 = members look less familiar than non-members.

    Computed from average ranks, as the Mann–Whitney U statistic over n_m·n_n:
    (Σ rank(members) - n_m(n_m + 1)/2) / (n_m·n_n); fast enough for a bootstrap. U is exact
    (a sum of halves), so the result is U / (n_m·n_n) rounded once.

    NaN handling: a NaN score is no score (an example the attack could not score, e.g. a
    model that diverged); NaN scores are dropped on each side first, so they neither win
    nor lose a comparison, and if a side is then empty the result is NaN. ``±inf`` scores
    are allowed (e.g. a token with probability 0): only ranks matter.
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
    """PrivLeak (MUSE, arXiv:2407.06460): ``(auc_oracle - auc_model) / (1 - auc_oracle + 1e-10)
    × 100`` with our AUCs (members positive).

    Both AUCs are of the same attack (MUSE: Min-K%, k=0.4) on forget vs holdout, for the
    evaluated model and for the oracle retrained without the forget set. MUSE writes
    ``(AUC_model - AUC_oracle) / AUC_oracle`` with AUCs oriented the other way
    (``1 - ours``); open-unlearning's ``privleak`` flips ours accordingly and adds 1e-10 to
    the denominator. This is that number, sign and size as in the published tables:
    ≈0 is ideal; strongly negative (a fine-tuned target scores about -100) = the model
    still leaks membership of the forget set; strongly positive = over-unlearned
    (forgotten data now looks *less* familiar than never-seen data, itself a signal an
    attacker can use). NaN in gives NaN out.
    """
    # MUSE's orientation first, then its relative difference, in open-unlearning's order of
    # operations (so the floats agree too)
    score, ref = 1.0 - float(auc_model), 1.0 - float(auc_oracle)
    return (score - ref) / (ref + 1e-10) * 100.0
