"""Classifier unlearning metrics as pure functions of per-example outputs (numpy / torch in,
floats out; every random choice seeded).

| function | paper |
|---|---|
| entropy, modified_entropy, true_confidence | Song & Mittal 2021 (arXiv:2003.10595) |
| best_threshold_accuracy, threshold_rates | threshold MIAs (Yeom et al. 2018; Song & Mittal) |
| auc | ROC AUC, members positive (:func:`unlearnkit.evaluation.functional.mia.auc`) |
| logistic_attack_accuracy | MUFAC's MIA: logistic regression on losses (arXiv:2311.02240) |
| nomus | MUFAC's NoMUS (arXiv:2311.02240) |
| svc_mia_efficacy | SalUn's MIA-efficacy (arXiv:2310.12508, arXiv:2304.04934) |
| lira_scores | LiRA (Carlini et al. 2022, arXiv:2112.03570), offline and online |
| example_epsilon, forgetting_quality_f, challenge_epsilon_scores | NeurIPS 2023 challenge |

The challenge's scoring is described in Triantafillou et al. 2024 (arXiv:2406.09073).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

# the one AUC (NaN scores dropped), re-exported for the classifier and recommender MIAs
from unlearnkit.evaluation.functional.mia import auc as auc

_EPS = 1e-12


def _multilabel(labels: torch.Tensor) -> bool:
    return labels.ndim == 2 and labels.is_floating_point()


def _attribute_confidence(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, A) probability each attribute's true value gets (multi-label sigmoid outputs)."""
    p, y = probs.double(), labels.double()
    return y * p + (1 - y) * (1 - p)


def true_confidence(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N,) probability of each example's true label (multi-label: the mean over the
    attributes of the probability of each one's true value)."""
    if _multilabel(labels):
        return _attribute_confidence(probs, labels).mean(1)
    return probs.gather(1, labels.view(-1, 1)).squeeze(1)


def entropy(probs: torch.Tensor, multilabel: bool = False) -> torch.Tensor:
    """(N,) prediction entropy −Σ p log p (multi-label: the mean binary entropy of the
    attributes)."""
    p = probs.double().clamp(_EPS, 1 - _EPS)
    if multilabel:
        return (-(p * p.log()) - (1 - p) * (1 - p).log()).mean(1)
    return -(p * p.log()).sum(1)


def modified_entropy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N,) Song & Mittal's modified entropy: −(1 − p_y) log p_y − Σ_{i≠y} p_i log(1 − p_i).
    Low for confidently right predictions (members), high when confidently wrong.
    Multi-label: each attribute is a two-class prediction (−2(1 − q) log q with q the
    probability of its true value), averaged over the attributes."""
    if _multilabel(labels):
        q = _attribute_confidence(probs, labels).clamp(_EPS, 1 - _EPS)
        return (-2 * (1 - q) * q.log()).mean(1)
    p = probs.double().clamp(_EPS, 1 - _EPS)
    py = p.gather(1, labels.view(-1, 1)).squeeze(1)
    other = -(p * (1 - p).log())
    other = other.sum(1) - other.gather(1, labels.view(-1, 1)).squeeze(1)
    return -(1 - py) * py.log() + other


def best_threshold_accuracy(members: Sequence[float], nonmembers: Sequence[float]) -> float:
    """The best balanced accuracy of a single threshold on a score where *higher* means
    member (over every threshold, both classes weighted equally)."""
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    if len(m) == 0 or len(n) == 0:
        return float("nan")
    best = 0.5
    for t in np.unique(np.concatenate([m, n])):
        tpr, tnr = float((m >= t).mean()), float((n < t).mean())
        best = max(best, 0.5 * (tpr + tnr))
    return best


def _balanced(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets cut to the smaller one's size (seeded choice), as MUFAC's attack does."""
    rng = np.random.default_rng(seed)
    k = min(len(a), len(b))
    return rng.permutation(a)[:k], rng.permutation(b)[:k]


def logistic_attack_accuracy(
    member_losses: Sequence[float],
    nonmember_losses: Sequence[float],
    *,
    n_splits: int = 5,
    seed: int = 0,
) -> float:
    """MUFAC's membership attack: logistic regression on the per-example loss, members
    (label 1) against as many non-members (label 0), mean accuracy of a stratified
    ``n_splits``-fold cross-validation. 0.5 = cannot tell them apart."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    m, n = _balanced(np.asarray(member_losses, float), np.asarray(nonmember_losses, float), seed)
    if len(m) < n_splits:
        raise ValueError(f"need at least {n_splits} examples per side, got {len(m)}")
    x = np.concatenate([m, n]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(m)), np.zeros(len(n))])
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(), x, y, cv=cv, scoring="accuracy").mean())


def nomus(test_accuracy: float, mia_accuracy: float, weight: float = 0.5) -> float:
    """MUFAC's NoMUS: ``λ·test_acc + (1 − λ)·(1 − 2·|MIA_acc − 0.5|)``, λ = 0.5."""
    return weight * test_accuracy + (1 - weight) * (1 - 2 * abs(mia_accuracy - 0.5))


def svc_mia_efficacy(
    shadow_members: np.ndarray,
    shadow_nonmembers: np.ndarray,
    targets: np.ndarray,
    *,
    seed: int = 0,
) -> float:
    """SalUn's MIA-efficacy: an RBF SVC (C = 3) learns members (the retain set's features)
    from non-members (the test set's), balanced by a seeded cut; the score is the share
    of ``targets`` (the forget set) it calls non-members. 1 = the forget set looks unseen.
    Features: (N, d) arrays (e.g. the true-label confidence as one column)."""
    from sklearn.svm import SVC

    a = np.asarray(shadow_members, float).reshape(len(shadow_members), -1)
    b = np.asarray(shadow_nonmembers, float).reshape(len(shadow_nonmembers), -1)
    rng = np.random.default_rng(seed)
    k = min(len(a), len(b))
    a, b = a[rng.permutation(len(a))[:k]], b[rng.permutation(len(b))[:k]]
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(np.concatenate([a, b]), np.concatenate([np.ones(k), np.zeros(k)]))
    t = np.asarray(targets, float).reshape(len(targets), -1)
    return float(1 - clf.predict(t).mean())


def logit_confidence(probs_true: np.ndarray) -> np.ndarray:
    """LiRA's statistic: log(p / (1 − p)) of the true label's probability."""
    p = np.clip(np.asarray(probs_true, float), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def lira_scores(
    target: np.ndarray,
    shadow_in: np.ndarray | None,
    shadow_out: np.ndarray,
    *,
    sd_in: float | None = None,
    sd_out: float | None = None,
) -> np.ndarray:
    """Per-example LiRA membership scores (higher = member) from the target's statistic
    (N,) and the shadow models' (K_in, N) / (K_out, N) statistics with each example in /
    out of their training. With ``shadow_in`` the online likelihood ratio of two Gaussians
    (log N(x; μ_in, σ_in) − log N(x; μ_out, σ_out)); without it the offline one-sided
    test, the log-probability under the out-Gaussian that a statistic is at most x
    (higher x than non-members ⇒ member). ``sd_in`` / ``sd_out``: fixed standard
    deviations (LiRA's "fixed variance" variant, better with few shadows) instead of each
    example's own; σ has a floor of 1e-3."""
    from scipy.stats import norm

    x = np.asarray(target, float)
    mu_out = shadow_out.mean(0)
    s_out = np.maximum(sd_out if sd_out is not None else shadow_out.std(0), 1e-3)
    if shadow_in is None:
        return norm.logcdf(x, mu_out, s_out)
    mu_in = shadow_in.mean(0)
    s_in = np.maximum(sd_in if sd_in is not None else shadow_in.std(0), 1e-3)
    return norm.logpdf(x, mu_in, s_in) - norm.logpdf(x, mu_out, s_out)


# -- the NeurIPS 2023 unlearning challenge's forgetting quality -------------------------------
def threshold_rates(
    unlearned: np.ndarray, retrained: np.ndarray
) -> tuple[list[float], list[float]]:
    """(FPRs, FNRs) of every single-threshold attack that calls "unlearned" (positive) the
    outputs above the threshold, over every observed value as threshold."""
    u, r = np.asarray(unlearned, float), np.asarray(retrained, float)
    fprs, fnrs = [], []
    for t in np.sort(np.concatenate([r, u])):
        fprs.append(float((r > t).mean()))
        fnrs.append(float((u <= t).mean()))
    return fprs, fnrs


def logistic_rates(
    unlearned: np.ndarray, retrained: np.ndarray, *, n_splits: int = 3, seed: int = 0
) -> tuple[float, float]:
    """(FPR, FNR) of a logistic regression telling unlearned (1) from retrained (0) outputs,
    averaged over ``n_splits`` stratified shuffle splits (10% held out each)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedShuffleSplit

    u, r = np.asarray(unlearned, float), np.asarray(retrained, float)
    x = np.concatenate([r, u]).reshape(-1, 1)
    y = np.concatenate([np.zeros(len(r)), np.ones(len(u))])
    fprs, fnrs = [], []
    for train, test in StratifiedShuffleSplit(n_splits=n_splits, random_state=seed).split(x, y):
        pred = LogisticRegression().fit(x[train], y[train]).predict(x[test])
        yt = y[test]
        fprs.append(float(((pred == 1) & (yt == 0)).sum() / max((yt == 0).sum(), 1)))
        fnrs.append(float(((pred == 0) & (yt == 1)).sum() / max((yt == 1).sum(), 1)))
    return float(np.mean(fprs)), float(np.mean(fnrs))


def example_epsilon(fprs: Sequence[float], fnrs: Sequence[float], delta: float = 0.01) -> float:
    """The privacy degree ε of one forget example from its attacks' (FPR, FNR):
    max over attacks of max(log(1 − δ − FPR) − log FNR, log(1 − δ − FNR) − log FPR); an
    attack with FPR = FNR = 0 separates perfectly (ε = ∞); one with a single zero rate is
    left out; 0 when no attack counts."""
    per_attack = [0.0]
    for fpr, fnr in zip(fprs, fnrs, strict=True):
        if fpr == 0 and fnr == 0:
            per_attack.append(math.inf)
        elif fpr == 0 or fnr == 0:
            continue
        else:
            e1 = math.log(1 - delta - fpr) - math.log(fnr) if 1 - delta - fpr > 0 else math.nan
            e2 = math.log(1 - delta - fnr) - math.log(fpr) if 1 - delta - fnr > 0 else math.nan
            vals = [e for e in (e1, e2) if not math.isnan(e)]
            per_attack.append(max(vals) if vals else math.inf)
    return max(per_attack)


def forgetting_quality_f(
    epsilons: Sequence[float], bin_width: float = 0.5, n_bins: int = 13
) -> float:
    """The challenge's forgetting quality F: each ε falls in bin n = digitize(ε, [0, w, 2w,
    …]) and scores 2 / 2ⁿ (1 for ε = 0, halving every ``bin_width``); F is their mean."""
    bins = np.arange(n_bins) * bin_width
    n = np.digitize(np.asarray(epsilons, float), bins)
    return float(np.mean(2.0 / 2.0**n))


def challenge_epsilon_scores(
    unlearned: np.ndarray, retrained: np.ndarray, *, delta: float = 0.01, seed: int = 0
) -> np.ndarray:
    """Per-example ε from (N_models, S) outputs of N unlearned and N retrained models on the
    S forget examples: the threshold attacks and the logistic attack of each example's two
    N-sample distributions (:func:`example_epsilon`)."""
    u, r = np.asarray(unlearned, float), np.asarray(retrained, float)
    if u.shape != r.shape:
        raise ValueError(f"unlearned {u.shape} and retrained {r.shape} outputs differ in shape")
    out = []
    for s in range(u.shape[1]):
        fprs, fnrs = threshold_rates(u[:, s], r[:, s])
        if u.shape[0] >= 5:
            fpr, fnr = logistic_rates(u[:, s], r[:, s], seed=seed)
            fprs.append(fpr)
            fnrs.append(fnr)
        out.append(example_epsilon(fprs, fnrs, delta))
    return np.asarray(out)
