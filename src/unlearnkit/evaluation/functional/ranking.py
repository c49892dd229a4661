"""Ranking metrics of recommenders as pure functions (golden-tested).

Recall@K = |top-K ∩ relevant| / |relevant|; NDCG@K = DCG@K / IDCG@K with binary gains,
DCG = Σ_{r ≤ K, item at rank r relevant} 1 / log2(r + 1) and IDCG the DCG of a ranking with
every relevant item first (min(|relevant|, K) of them). Both are NaN for a user without a
relevant item (left out of means).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["ndcg_at_k", "rank_of", "recall_at_k"]


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
