"""Measures that need many models: the NeurIPS 2023 unlearning challenge's ε-score (N
unlearned and N retrained models) and a LiRA-style membership attack with shadow models
trained like the target (TDDBench's reference-model family).

Both take models already made, so the caller decides how to make them (and caches them);
:func:`retrained_models` and :func:`shadow_models` train them with the same recipe as the
target, seed by seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from unlearnkit.core.results import Result
from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.functional import classifier as C
from unlearnkit.models.adapters.classifier import ClassifierAdapter

#: a recipe: (training data, seed) -> trained adapter
Trainer = Callable[[ClassificationData, int], ClassifierAdapter]


def forget_statistic(
    model: ClassifierAdapter, forget: ClassificationData, statistic: str
) -> np.ndarray:
    """(S,) per-example output the challenge compares: ``loss`` (cross-entropy of the true
    label) or ``logit_confidence`` (LiRA's log(p/(1-p)) of the true label)."""
    if statistic == "loss":
        return model.losses(forget.images, forget.labels).numpy()
    if statistic == "logit_confidence":
        probs = model.probabilities(forget.images)
        p = C.true_confidence(probs, forget.labels).double().numpy()
        return C.logit_confidence(p)
    raise ValueError(f"statistic must be 'loss' or 'logit_confidence'; got {statistic!r}")


@dataclass(frozen=True)
class ChallengeScore:
    """The challenge's result: per-example ε (a Result), F, the accuracy ratios and the
    final score F × RA_ratio × TA_ratio."""

    epsilons: Result
    forgetting_quality: float
    retain_ratio: float
    test_ratio: float
    score: float
    n_models: int

    def to_dict(self) -> dict:
        return {
            "forgetting_quality": self.forgetting_quality,
            "retain_ratio": self.retain_ratio,
            "test_ratio": self.test_ratio,
            "score": self.score,
            "n_models": self.n_models,
            "epsilons": self.epsilons.to_dict(),
        }


def challenge_score(
    unlearned: Sequence[ClassifierAdapter],
    retrained: Sequence[ClassifierAdapter],
    forget: ClassificationData,
    retain: ClassificationData,
    test: ClassificationData,
    *,
    statistic: str = "loss",
    delta: float = 0.01,
    seed: int = 0,
) -> ChallengeScore:
    """The ε-score of N unlearned against N retrained models (the same N)."""
    if len(unlearned) != len(retrained) or not unlearned:
        raise ValueError(
            f"need as many unlearned as retrained models (N >= 1); got {len(unlearned)} and "
            f"{len(retrained)}"
        )
    u = np.stack([forget_statistic(m, forget, statistic) for m in unlearned])
    r = np.stack([forget_statistic(m, forget, statistic) for m in retrained])
    eps = C.challenge_epsilon_scores(u, r, delta=delta, seed=seed)
    f = C.forgetting_quality_f(eps)

    def mean_acc(models, data):
        return float(np.mean([m.accuracy(data.images, data.labels) for m in models]))

    ra = mean_acc(unlearned, retain) / mean_acc(retrained, retain)
    ta = mean_acc(unlearned, test) / mean_acc(retrained, test)
    result = Result.from_values(
        "challenge/epsilon",
        [float(min(e, 1e9)) for e in eps],
        higher_is_better=False,
        ids=[f"forget:{i}" for i in range(len(forget))],
        aggregate=f,
        extra={"aggregate": "forgetting quality F", "statistic": statistic, "delta": delta},
    )
    return ChallengeScore(result, f, ra, ta, f * ra * ta, len(unlearned))


def retrained_models(
    train: Trainer, retain: ClassificationData, n: int, *, first_seed: int = 0
) -> tuple[list[ClassifierAdapter], float]:
    """N models trained on the retain set with seeds first_seed.. (and the seconds it took)."""
    t0 = time.perf_counter()
    models = [train(retain, first_seed + i) for i in range(n)]
    return models, time.perf_counter() - t0


@dataclass(frozen=True)
class Shadows:
    """K shadow models and, per pool example, which ones trained on it (K, P) bool."""

    models: list[ClassifierAdapter]
    pool: ClassificationData
    membership: np.ndarray
    seconds: float


def shadow_models(train: Trainer, pool: ClassificationData, k: int, *, seed: int = 0) -> Shadows:
    """K models each trained like the target on a seeded part of ``pool`` in which every
    example sits in exactly ⌊K/2⌋ of them (LiRA's online setting, balanced per example so
    that small K still leaves each example both in and out of some shadows)."""
    if k < 2:
        raise ValueError("LiRA needs at least two shadow models")
    rng = np.random.default_rng(seed)
    membership = np.zeros((k, len(pool)), bool)
    for j in range(len(pool)):
        membership[rng.permutation(k)[: k // 2], j] = True
    models = []
    t0 = time.perf_counter()
    for i in range(k):
        idx = torch.as_tensor(np.flatnonzero(membership[i]))
        half = ClassificationData(
            pool.images[idx], pool.labels[idx], pool.identity[idx], name=pool.name
        )
        models.append(train(half, seed + 1000 + i))
    return Shadows(models, pool, membership, time.perf_counter() - t0)


def lira_attack(
    model: ClassifierAdapter,
    shadows: Shadows,
    members: np.ndarray,
    nonmembers: np.ndarray,
    *,
    online: bool = True,
    fixed_variance: bool = True,
) -> Result:
    """LiRA's AUC of ``members`` against ``nonmembers`` (index arrays into the shadows'
    pool) for ``model``; per-example values are the LiRA scores (higher = member).
    fixed_variance: one in- and one out-standard deviation pooled over the pool's examples
    (LiRA's variant for few shadow models) instead of each example's own."""
    pool = shadows.pool
    stats = np.stack(
        [
            C.logit_confidence(
                C.true_confidence(s.probabilities(pool.images), pool.labels).double().numpy()
            )
            for s in shadows.models
        ]
    )  # (K, P)
    target = C.logit_confidence(
        C.true_confidence(model.probabilities(pool.images), pool.labels).double().numpy()
    )
    sd_in = sd_out = None
    if fixed_variance:
        m = shadows.membership

        def pooled(mask: np.ndarray) -> float:
            counts = mask.sum(0)
            means = np.where(counts > 0, (stats * mask).sum(0) / np.maximum(counts, 1), 0.0)
            dev = (stats - means) * mask
            return float(np.sqrt((dev**2).sum() / max(mask.sum() - 1, 1)))

        sd_in, sd_out = pooled(m), pooled(~m)
    scores = np.empty(len(pool))
    for j in range(len(pool)):
        ins = stats[shadows.membership[:, j], j]
        outs = stats[~shadows.membership[:, j], j]
        if len(outs) == 0:
            scores[j] = np.nan
            continue
        s_in = ins.reshape(-1, 1) if (online and len(ins) > 0) else None
        scores[j] = C.lira_scores(
            target[j : j + 1], s_in, outs.reshape(-1, 1), sd_in=sd_in, sd_out=sd_out
        )[0]
    m, n = scores[members], scores[nonmembers]
    m, n = m[~np.isnan(m)], n[~np.isnan(n)]
    return Result.from_values(
        "mia/lira",
        [*m, *n],
        higher_is_better=False,
        ids=[f"member:{i}" for i in range(len(m))] + [f"nonmember:{i}" for i in range(len(n))],
        aggregate=C.auc(m, n),
        extra={"shadows": len(shadows.models), "online": online, "fixed_variance": fixed_variance},
    )
