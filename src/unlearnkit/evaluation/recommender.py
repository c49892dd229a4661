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

Each measure is a registered metric of the recommender family (a
:class:`RecommenderMetric`, in ``METRICS`` with ``family="recommender"``); the evaluation
runs every one in registration order, sharing the model's scores and top-K lists between
them. The metrics with per-example values take a ``bootstrap`` (off by default).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

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
from unlearnkit.evaluation.metrics.base import (
    IntervalConfig,
    MetricBase,
    MetricError,
    family_metric_classes,
    register_metric,
    with_interval,
)
from unlearnkit.models.recommender import RecommenderAdapter

T = TypeVar("T")


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


def _utility(top: np.ndarray, test: np.ndarray, users: np.ndarray, k: int):
    """(users with a test interaction among ``users``, their Recall@k, their NDCG@k)."""
    relevant: dict[int, list[int]] = {}
    for u, i in test.tolist():
        relevant.setdefault(u, []).append(i)
    chosen = [int(u) for u in users if int(u) in relevant]
    recall = [recall_at_k(top[u].tolist(), relevant[u], k) for u in chosen]
    ndcg = [ndcg_at_k(top[u].tolist(), relevant[u], k) for u in chosen]
    return chosen, recall, ndcg


class RecommenderOutputs:
    """One recommender's scores, computed once and shared by every metric of an evaluation
    (the recommender's counterpart of the language models' ``EvalContext``): the (U, I)
    score matrix, and per request the excluded pairs, the top-K lists and the removed
    interactions' percentile ranks."""

    def __init__(self, model: RecommenderAdapter) -> None:
        self.model = model
        # key -> (the objects whose ids are in the key, kept alive; the value)
        self._memo: dict[Hashable, tuple[tuple[object, ...], Any]] = {}

    @classmethod
    def of(cls, model: RecommenderAdapter | RecommenderOutputs) -> RecommenderOutputs:
        """``model``'s outputs: a new, empty cache for an adapter, the same for outputs."""
        return model if isinstance(model, RecommenderOutputs) else cls(model)

    def memo(self, key: Hashable, make: Callable[[], T], *keep: object) -> T:
        """``make()`` the first time ``key`` is asked for, the same value after; ``keep``:
        the objects whose ``id`` the key holds."""
        if key not in self._memo:
            self._memo[key] = (keep, make())
        return self._memo[key][1]

    def scores(self) -> np.ndarray:
        """(U, I) scores of every user-item pair."""
        return self.memo("scores", lambda: self.model.scores().numpy())

    def excluded(self, splits: RecommenderSplits) -> np.ndarray:
        """(U, I) bool: the pairs left out of ``splits``' rankings."""
        return self.memo(("excluded", id(splits)), splits.excluded, splits)

    def top(self, splits: RecommenderSplits, k: int) -> np.ndarray:
        """(U, k) each user's k best items among their candidates (stable order)."""

        def make() -> np.ndarray:
            masked = np.where(self.excluded(splits), -np.inf, self.scores())
            return np.argsort(-masked, axis=1, kind="stable")[:, :k]

        return self.memo(("top", id(splits), k), make, splits)

    def forget_ranks(self, splits: RecommenderSplits) -> np.ndarray:
        """Percentile rank of each removed interaction among its user's candidates."""
        forget = splits.forget
        return self.memo(
            ("forget_ranks", id(splits)),
            lambda: percentile_ranks(
                self.scores(), self.excluded(splits), forget[:, 0], forget[:, 1]
            ),
            splits,
        )

    def forget_scores(self, splits: RecommenderSplits) -> np.ndarray:
        """The model's score of each removed interaction."""
        return self.scores()[splits.forget[:, 0], splits.forget[:, 1]]


@dataclass(frozen=True)
class RecommenderInputs:
    """What a recommender metric reads: the model's (shared) outputs, the request's splits,
    and the model before unlearning and the retrain oracle when the caller has them."""

    model: RecommenderOutputs
    splits: RecommenderSplits
    before: RecommenderAdapter | None = None
    oracle: RecommenderAdapter | None = None


class RecommenderMetric(MetricBase, ABC):
    """A measure of a recommender after a forget request. Subclasses set ``config_class``,
    ``higher_is_better`` (and ``needs_oracle`` / ``needs_before``) and :meth:`measure`."""

    family: ClassVar[str] = "recommender"
    #: whether it needs the model before unlearning
    needs_before: ClassVar[bool] = False

    def compute(
        self,
        model: RecommenderAdapter | RecommenderOutputs,
        splits: RecommenderSplits,
        *,
        before: RecommenderAdapter | None = None,
        oracle: RecommenderAdapter | None = None,
    ) -> dict[str, Result]:
        """``{key: Result}`` of ``model`` on the request ``splits``."""
        if self.needs_oracle and oracle is None:
            raise MetricError(f"{self.name} compares with the retrain oracle: pass oracle=")
        if self.needs_before and before is None:
            raise MetricError(
                f"{self.name} compares with the model before unlearning: pass before=target"
            )
        return self.measure(RecommenderInputs(RecommenderOutputs.of(model), splits, before, oracle))

    @abstractmethod
    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        """The results, the inputs checked."""


@dataclass(frozen=True)
class TopKConfig(IntervalConfig):
    """k: the cut-off of the top-K list."""

    k: int = param(20, ge=1)


@register_metric("ranking_utility", paper="arXiv:2002.02126")
class RankingUtility(RecommenderMetric):
    """Recall@K and NDCG@K on the held-out test interactions, per user, for every user
    (``rec/recall@K``, ``rec/ndcg@K``) and for the users the request touched (``_touched``);
    each user's kept training, validation (and reference) items are left out of the
    ranking."""

    config_class = TopKConfig
    higher_is_better = True

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        k, splits = self.config.k, x.splits
        top = x.model.top(splits, k)
        out: dict[str, Result] = {}
        every = np.arange(splits.n_users)
        for suffix, users in (("", every), ("_touched", splits.touched_users)):
            chosen, recall, ndcg = _utility(top, splits.test, users, k)
            ids = [f"user:{u}" for u in chosen]
            for name, values in (("recall", recall), ("ndcg", ndcg)):
                res = Result.from_values(
                    f"{name}@{k}{suffix}", values, higher_is_better=True, ids=ids, config={"k": k}
                )
                out[f"rec/{name}@{k}{suffix}"] = with_interval(res, self.config)
        return out


@register_metric("forget_rank", paper="arXiv:2505.22649")
class ForgetRank(RecommenderMetric):
    """Percentile rank of each removed interaction among its user's candidates
    (``forget/rank_pct``; 0 = top; the oracle's is the goal)."""

    config_class = IntervalConfig
    higher_is_better = True

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        res = Result.from_values(
            "forget rank percentile",
            x.model.forget_ranks(x.splits),
            higher_is_better=True,
            ids=_ids(x.splits.forget),
        )
        return {"forget/rank_pct": with_interval(res, self.config)}


@register_metric("forget_hit", paper="arXiv:2505.22649")
class ForgetHit(RecommenderMetric):
    """Whether each removed interaction's item is back in its user's top K
    (``forget/hit@K``)."""

    config_class = TopKConfig
    higher_is_better = False

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        k = self.config.k
        top = x.model.top(x.splits, k)
        hits = [float(i in top[u]) for u, i in x.splits.forget.tolist()]
        res = Result.from_values(
            f"forget hit@{k}",
            hits,
            higher_is_better=False,
            ids=_ids(x.splits.forget),
            config={"k": k},
        )
        return {f"forget/hit@{k}": with_interval(res, self.config)}


@register_metric("heldout_rank", paper="arXiv:2505.22649")
class HeldoutRank(RecommenderMetric):
    """Percentile rank of each never-trained reference pair (``heldout/rank_pct``): a model
    that never saw the removed interactions ranks them like these (the sanity law)."""

    config_class = IntervalConfig
    higher_is_better = True

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        splits = x.splits
        heldout = splits.heldout()
        pct = percentile_ranks(
            x.model.scores(), x.model.excluded(splits), heldout[:, 0], heldout[:, 1]
        )
        res = Result.from_values(
            "held-out rank percentile", pct, higher_is_better=True, ids=_ids(heldout)
        )
        return {"heldout/rank_pct": with_interval(res, self.config)}


@register_metric("forget_rank_gap", paper="arXiv:2505.22649")
class ForgetRankGap(RecommenderMetric):
    """|percentile rank − the oracle's| of each removed interaction (``forget/rank_gap``;
    0 = ranked as the oracle ranks it)."""

    config_class = IntervalConfig
    higher_is_better = False
    needs_oracle = True

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        assert x.oracle is not None  # compute checked it
        splits, forget = x.splits, x.splits.forget
        o_pct = percentile_ranks(
            x.oracle.scores().numpy(), x.model.excluded(splits), forget[:, 0], forget[:, 1]
        )
        res = Result.from_values(
            "forget rank gap to the oracle",
            np.abs(x.model.forget_ranks(splits) - o_pct),
            higher_is_better=False,
            ids=_ids(forget),
        )
        return {"forget/rank_gap": with_interval(res, self.config)}


@register_metric("mi_bf", paper="arXiv:2505.22649")
class MIBF(RecommenderMetric):
    """UnlearnRec's MI-BF (``mi/bf``): mean σ(score) of the removed interactions before
    unlearning over after (1 = unchanged; values: the scores after)."""

    config_class = IntervalConfig
    higher_is_better = True
    needs_before = True

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        assert x.before is not None  # compute checked it
        forget = x.splits.forget
        after = x.model.forget_scores(x.splits)
        b = x.before.scores().numpy()[forget[:, 0], forget[:, 1]]
        res = Result.from_values(
            "MI-BF", after, higher_is_better=True, ids=_ids(forget), aggregate=mi_bf(b, after)
        )
        return {"mi/bf": with_interval(res, self.config, b, after, statistic=mi_bf, paired=True)}


@register_metric("mi_ng", paper="arXiv:2505.22649")
class MING(RecommenderMetric):
    """UnlearnRec's MI-NG (``mi/ng``): mean σ(score) of one random never-interacted item per
    removed interaction over that of the removed ones (1 = as unlikely as a negative;
    values: the removed interactions' scores). seed: the negatives (and the interval)."""

    config_class = IntervalConfig
    higher_is_better = True

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        after = x.model.forget_scores(x.splits)
        negatives = random_negatives(x.splits, self.config.seed)
        neg = x.model.scores()[negatives[:, 0], negatives[:, 1]]
        res = Result.from_values(
            "MI-NG",
            after,
            higher_is_better=True,
            ids=_ids(x.splits.forget),
            aggregate=mi_ng(neg, after),
        )
        return {"mi/ng": with_interval(res, self.config, neg, after, statistic=mi_ng, paired=True)}


@register_metric("interaction_mia", paper="arXiv:2505.22649")
class InteractionMIA(RecommenderMetric):
    """Membership attack on interactions (``mia/auc``): the AUC of the model's score
    separating the removed interactions from the never-trained reference pairs (0.5 =
    indistinguishable; the oracle's value is the goal)."""

    config_class = IntervalConfig
    higher_is_better = False

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        splits = x.splits
        heldout = splits.heldout()
        after = x.model.forget_scores(splits)
        ref = x.model.scores()[heldout[:, 0], heldout[:, 1]]
        res = Result.from_values(
            "membership AUC (removed vs never-trained)",
            np.concatenate([after, ref]),
            higher_is_better=False,
            ids=[f"member:{i}" for i in _ids(splits.forget)]
            + [f"nonmember:{i}" for i in _ids(heldout)],
            aggregate=auc(after, ref),
        )
        return {"mia/auc": with_interval(res, self.config, after, ref, statistic=auc)}


def recommender_metrics() -> list[type[RecommenderMetric]]:
    """The recommender family's registered metrics (audits excluded), in report order."""
    return family_metric_classes("recommender", RecommenderMetric)


def evaluate_recommender(
    model: RecommenderAdapter,
    splits: RecommenderSplits,
    *,
    before: RecommenderAdapter | None = None,
    oracle: RecommenderAdapter | None = None,
    config: RecEvalConfig | None = None,
) -> dict[str, Result]:
    """Every recommender measure of ``model`` on ``splits`` (see the module doc): each
    registered recommender metric, configured from ``config``, except those that need the
    oracle or the model before unlearning when they are not given."""
    cfg = config or RecEvalConfig()
    outputs = RecommenderOutputs(model)
    out: dict[str, Result] = {}
    for cls in recommender_metrics():
        if (cls.needs_oracle and oracle is None) or (cls.needs_before and before is None):
            continue
        out.update(cls.sharing(cfg).compute(outputs, splits, before=before, oracle=oracle))
    return out


__all__ = [
    "MIBF",
    "MING",
    "ForgetHit",
    "ForgetRank",
    "ForgetRankGap",
    "HeldoutRank",
    "InteractionMIA",
    "RankingUtility",
    "RecEvalConfig",
    "RecommenderInputs",
    "RecommenderMetric",
    "RecommenderOutputs",
    "RecommenderSplits",
    "TopKConfig",
    "evaluate_recommender",
    "random_negatives",
    "recommender_metrics",
]
