"""Ranking metrics of recommenders as pure functions (golden-tested).

Recall@K = |top-K ∩ relevant| / |relevant|; NDCG@K = DCG@K / IDCG@K with binary gains,
DCG = Σ_{r ≤ K, item at rank r relevant} 1 / log2(r + 1) and IDCG the DCG of a ranking with
every relevant item first (min(|relevant|, K) of them). Both are NaN for a user without a
relevant item (left out of means).

Unlearning measures on interactions (UnlearnRec, arXiv:2505.22649, after GNNDelete's
membership ratios), with p(u, i) = σ(s(u, i)) the model's interaction probability:

* MI-BF = mean p_before(removed) / mean p_after(removed): how far the removed interactions'
  probability fell (1 = not at all);
* MI-NG = mean p(random negatives) / mean p(removed), both after unlearning: how close the
  removed interactions came to pairs that never happened (1 = as unlikely as a negative).

Both grow as the removed interactions are forgotten; the oracle's values are the goal.
:func:`percentile_ranks` places pairs among each user's candidates (0 = top, 1 = bottom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["mi_bf", "mi_ng", "ndcg_at_k", "percentile_ranks", "rank_of", "recall_at_k"]


def recall_at_k(ranked: Sequence[int], relevant: Sequence[int], k: int) -> float:
    """Share of the relevant items in the first ``k`` of ``ranked``."""
    rel = set(relevant)
    if not rel:
        return math.nan
    return len(rel.intersection(ranked[:k])) / len(rel)


def ndcg_at_k(ranked: Sequence[int], relevant: Sequence[int], k: int) -> float:
    """Normalised discounted cumulative gain of the first ``k`` of ``ranked`` (binary)."""
    rel = set(relevant)
    if not rel:
        return math.nan
    dcg = sum(1.0 / math.log2(r + 2) for r, item in enumerate(ranked[:k]) if item in rel)
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), k)))
    return dcg / ideal


def rank_of(scores: Sequence[float], item: int, candidates: Sequence[int] | None = None) -> float:
    """1-based rank of ``item`` among ``candidates`` (default: every item) by descending
    score; ties share their mean rank."""
    pool = list(range(len(scores))) if candidates is None else list(candidates)
    s = scores[item]
    higher = sum(1 for c in pool if c != item and scores[c] > s)
    ties = sum(1 for c in pool if c != item and scores[c] == s)
    return 1 + higher + ties / 2


def _sigmoid(x: Sequence[float]) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def mi_bf(scores_before: Sequence[float], scores_after: Sequence[float]) -> float:
    """mean σ(before) / mean σ(after) over the removed interactions' scores."""
    if len(scores_before) == 0 or len(scores_after) == 0:
        return math.nan
    return float(_sigmoid(scores_before).mean() / _sigmoid(scores_after).mean())


def mi_ng(scores_negative: Sequence[float], scores_removed: Sequence[float]) -> float:
    """mean σ(random negatives) / mean σ(removed interactions), after unlearning."""
    if len(scores_negative) == 0 or len(scores_removed) == 0:
        return math.nan
    return float(_sigmoid(scores_negative).mean() / _sigmoid(scores_removed).mean())


def percentile_ranks(
    scores: np.ndarray,
    excluded: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    chunk: int = 2048,
) -> np.ndarray:
    """Percentile rank of each (user, item) pair among the user's candidates (the items not
    ``excluded[user]``, the pair's own item always counted): (rank − 1) / (candidates − 1)
    with :func:`rank_of`'s ranks (ties share their mean rank). 0 = ranked first. Pairs are
    ranked in chunks of ``chunk`` (memory stays at chunk × items)."""
    scores, excluded = np.asarray(scores), np.asarray(excluded)
    users, items = np.asarray(users), np.asarray(items)
    out = np.empty(len(users), dtype=np.float64)
    for start in range(0, len(users), chunk):
        u, i = users[start : start + chunk], items[start : start + chunk]
        rows = np.arange(len(u))
        s = scores[u]  # (P, I)
        own = s[rows, i][:, None]
        valid = ~excluded[u]
        valid[rows, i] = True
        higher = ((s > own) & valid).sum(1)
        ties = ((s == own) & valid).sum(1) - 1
        n = valid.sum(1)
        out[start : start + chunk] = (higher + ties / 2) / np.maximum(n - 1, 1)
    return out
