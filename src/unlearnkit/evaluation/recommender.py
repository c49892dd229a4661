"""Evaluation of a recommender after a forget request of interactions, users or items.

``evaluate_recommender(model, splits, before=target, oracle=oracle)`` returns
``{key: Result}`` (per-example values where the quantity has them):

* ``rec/recall@K``, ``rec/ndcg@K``: utility on the held-out test interactions of every user
  (per user), the user's kept training, validation (and reference) items left out of the
  ranking;
  ``rec/recall@K_touched``, ``rec/ndcg@K_touched``: the same for the users the request
  touched (who had a removed interaction);
* ``forget/rank_pct``: percentile rank of each removed interaction among its user's
  candidates (0 = top; the oracle's is the goal), ``forget/hit@K`` (the item is in the
  user's top K), ``forget/rank_gap`` (|rank pct − the oracle's|, per interaction);
* ``heldout/rank_pct``: the same for the never-trained reference pairs (see
  :meth:`RecommenderSplits.heldout`: a never-trained sample of the training period on real
  data, held-out test interactions on the generated world): a model that never saw the
  removed interactions ranks them like these (the sanity law);
* ``mi/bf`` and ``mi/ng`` (UnlearnRec's membership ratios, see
  :mod:`unlearnkit.evaluation.functional.ranking`; MI-BF needs the model before
  unlearning);
* ``mia/auc``: a membership attack on interactions, the model's score separating removed
  interactions (members before the request) from the never-trained reference pairs;
  0.5 = indistinguishable, and the oracle's value is the goal (values: the scores, ids
  ``member:`` / ``nonmember:``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearnkit.core.config import Config, param
from unlearnkit.core.results import Result
from unlearnkit.evaluation.functional.classifier import auc
from unlearnkit.evaluation.functional.ranking import (
    mi_bf,
    mi_ng,
    ndcg_at_k,
    percentile_ranks,
    recall_at_k,
)
from unlearnkit.models.recommender import RecommenderAdapter


@dataclass(frozen=True)
class RecommenderSplits:
    """(K, 2) (user, item) arrays of one request: retain (training interactions kept),
    forget (removed), val, test; kind: ``interactions`` / ``users`` / ``items``;
    reference: the world's never-trained sample of the training period (real data), or
    None (the generated world: the test interactions are the reference)."""

    n_users: int
    n_items: int
    retain: np.ndarray
    forget: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str = "interactions"
    reference: np.ndarray | None = None

    @classmethod
    def from_world(cls, world, kind: str, forget_mask: np.ndarray | None = None):
        """The splits of an :class:`~unlearnkit.data.world.interactions.InteractionWorld`
        request (``forget_mask``: a subset of it, e.g. one of sequential requests)."""
        mask = world.request(kind) if forget_mask is None else forget_mask
        train = world.mask("train")
        has_reference = getattr(world, "has_reference", False)
        return cls(
            n_users=world.n_users,
            n_items=world.n_items,
            retain=world.pairs(train & ~mask),
            forget=world.pairs(mask),
            val=world.pairs(world.mask("val")),
            test=world.pairs(world.mask("test")),
            kind=kind,
            reference=world.pairs(world.mask("reference")) if has_reference else None,
        )

    @property
    def touched_users(self) -> np.ndarray:
        return np.unique(self.forget[:, 0])

    def heldout(self) -> np.ndarray:
        """The never-trained pairs the removed ones are compared with (the membership
        attack's non-members, ``heldout/rank_pct``).

        With a ``reference`` sample (real data: a uniform random sample of the training
        period that no model saw), the pairs drawn the way the request was: every reference
        pair for an interactions request (both are uniform samples of the training period),
        the reference pairs of the request's users (users request) or items (items
        request). Removed and reference pairs are then exchangeable, also when preferences
        drift over time, and an exact oracle's membership AUC is 0.5 in expectation.

        Without one (the generated world, whose timelines are random orders of the chosen
        items, so that test interactions are exchangeable with training ones): the test
        interactions of the request's items (item requests) or of its users (the others)."""
        items = np.unique(self.forget[:, 1])
        if self.reference is not None:
            ref = self.reference
            if self.kind == "users":
                return ref[np.isin(ref[:, 0], self.touched_users)]
            if self.kind == "items":
                return ref[np.isin(ref[:, 1], items)]
            return ref
        if self.kind == "items":
            return self.test[np.isin(self.test[:, 1], items)]
        return self.test[np.isin(self.test[:, 0], self.touched_users)]

    def known(self) -> tuple[np.ndarray, ...]:
        """The (K, 2) pair arrays of interactions the system still holds besides the test
        ones: kept training, validation and the reference sample."""
        parts = [self.retain, self.val]
        if self.reference is not None:
            parts.append(self.reference)
        return tuple(parts)

    def excluded(self) -> np.ndarray:
        """(U, I) bool: each user's kept training, validation and reference items (left out
        of rankings)."""
        out = np.zeros((self.n_users, self.n_items), dtype=bool)
        for pairs in self.known():
            out[pairs[:, 0], pairs[:, 1]] = True
        return out


@dataclass(frozen=True)
class RecEvalConfig(Config):
    """k: the cut-off of Recall / NDCG / hits. seed: the random negatives of MI-NG."""

    k: int = param(20, ge=1)
    seed: int = 0


def _ids(pairs: np.ndarray) -> list[str]:
    return [f"u{u}:i{i}" for u, i in pairs.tolist()]


def random_negatives(splits: RecommenderSplits, seed: int) -> np.ndarray:
    """One item per removed interaction that its user never interacted with (any split)."""
    rng = np.random.default_rng(seed)
    seen = np.zeros((splits.n_users, splits.n_items), dtype=bool)
    for pairs in (*splits.known(), splits.forget, splits.test):
        seen[pairs[:, 0], pairs[:, 1]] = True
    out = np.empty(len(splits.forget), dtype=np.int64)
    for j, u in enumerate(splits.forget[:, 0].tolist()):
        free = np.flatnonzero(~seen[u])
        out[j] = rng.choice(free) if len(free) else rng.integers(splits.n_items)
    return np.stack([splits.forget[:, 0], out], axis=1)


def _utility(scores: np.ndarray, excluded: np.ndarray, test: np.ndarray, users, k: int):
    masked = np.where(excluded, -np.inf, scores)
    top = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    relevant: dict[int, list[int]] = {}
    for u, i in test.tolist():
        relevant.setdefault(u, []).append(i)
    chosen = [int(u) for u in users if int(u) in relevant]
    recall = [recall_at_k(top[u].tolist(), relevant[u], k) for u in chosen]
    ndcg = [ndcg_at_k(top[u].tolist(), relevant[u], k) for u in chosen]
    return chosen, recall, ndcg, top


def evaluate_recommender(
    model: RecommenderAdapter,
    splits: RecommenderSplits,
    *,
    before: RecommenderAdapter | None = None,
    oracle: RecommenderAdapter | None = None,
    config: RecEvalConfig | None = None,
) -> dict[str, Result]:
    """Every recommender measure of ``model`` on ``splits`` (see the module doc)."""
    cfg = config or RecEvalConfig()
    k = cfg.k
    scores = model.scores().numpy()
    excluded = splits.excluded()
    out: dict[str, Result] = {}
    every = np.arange(splits.n_users)
    for suffix, users in (("", every), ("_touched", splits.touched_users)):
        chosen, recall, ndcg, top = _utility(scores, excluded, splits.test, users, k)
        ids = [f"user:{u}" for u in chosen]
        out[f"rec/recall@{k}{suffix}"] = Result.from_values(
            f"recall@{k}{suffix}", recall, higher_is_better=True, ids=ids, config={"k": k}
        )
        out[f"rec/ndcg@{k}{suffix}"] = Result.from_values(
            f"ndcg@{k}{suffix}", ndcg, higher_is_better=True, ids=ids, config={"k": k}
        )
    forget, heldout = splits.forget, splits.heldout()
    f_ids = _ids(forget)
    pct = percentile_ranks(scores, excluded, forget[:, 0], forget[:, 1])
    out["forget/rank_pct"] = Result.from_values(
        "forget rank percentile", pct, higher_is_better=True, ids=f_ids
    )
    hits = [float(i in top[u]) for u, i in forget.tolist()]
    out[f"forget/hit@{k}"] = Result.from_values(
        f"forget hit@{k}", hits, higher_is_better=False, ids=f_ids, config={"k": k}
    )
    h_pct = percentile_ranks(scores, excluded, heldout[:, 0], heldout[:, 1])
    out["heldout/rank_pct"] = Result.from_values(
        "held-out rank percentile", h_pct, higher_is_better=True, ids=_ids(heldout)
    )
    if oracle is not None:
        o_scores = oracle.scores().numpy()
        o_pct = percentile_ranks(o_scores, excluded, forget[:, 0], forget[:, 1])
        out["forget/rank_gap"] = Result.from_values(
            "forget rank gap to the oracle", np.abs(pct - o_pct), higher_is_better=False, ids=f_ids
        )
    after = scores[forget[:, 0], forget[:, 1]]
    if before is not None:
        b = before.scores().numpy()[forget[:, 0], forget[:, 1]]
        out["mi/bf"] = Result.from_values(
            "MI-BF", after, higher_is_better=True, ids=f_ids, aggregate=mi_bf(b, after)
        )
    negatives = random_negatives(splits, cfg.seed)
    neg = scores[negatives[:, 0], negatives[:, 1]]
    out["mi/ng"] = Result.from_values(
        "MI-NG", after, higher_is_better=True, ids=f_ids, aggregate=mi_ng(neg, after)
    )
    ref = scores[heldout[:, 0], heldout[:, 1]]
    out["mia/auc"] = Result.from_values(
        "membership AUC (removed vs never-trained)",
        np.concatenate([after, ref]),
        higher_is_better=False,
        ids=[f"member:{x}" for x in f_ids] + [f"nonmember:{x}" for x in _ids(heldout)],
        aggregate=auc(after, ref),
    )
    return out


__all__ = [
    "RecEvalConfig",
    "RecommenderSplits",
    "evaluate_recommender",
    "random_negatives",
]
