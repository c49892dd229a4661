"""Golden values of the recommender measures (MI-BF, MI-NG, percentile ranks, the reverse
BPR loss) on hand-built numbers, and the evaluation's sanity laws on the test world: the
oracle ranks the removed interactions like never-trained ones, the target does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearnkit.data.world.interactions import generate_interactions, interaction_preset
from unlearnkit.evaluation.functional.ranking import mi_bf, mi_ng, percentile_ranks, rank_of
from unlearnkit.evaluation.recommender import (
    RecommenderSplits,
    evaluate_recommender,
    random_negatives,
)
from unlearnkit.methods.recommender.losses import embedding_shift, reverse_bpr_loss
from unlearnkit.models.recommender import (
    RecommenderAdapter,
    RecommenderConfig,
    build_recommender,
    train_recommender,
)


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_mi_bf_and_mi_ng_golden() -> None:
    # before: scores 2 and 0 -> σ 0.8808, 0.5; after: 0 and -2 -> 0.5, 0.1192
    want_bf = (_sig(2) + _sig(0)) / (_sig(0) + _sig(-2))
    assert mi_bf([2.0, 0.0], [0.0, -2.0]) == pytest.approx(want_bf)
    assert mi_bf([1.0], [1.0]) == pytest.approx(1.0)
    # negatives at -1 and -3 against removed at 0 and -2
    want_ng = (_sig(-1) + _sig(-3)) / (_sig(0) + _sig(-2))
    assert mi_ng([-1.0, -3.0], [0.0, -2.0]) == pytest.approx(want_ng)
    assert math.isnan(mi_bf([], [1.0])) and math.isnan(mi_ng([1.0], []))


def test_percentile_ranks_match_rank_of() -> None:
    scores = np.array([[0.9, 0.1, 0.5, 0.5, 0.3], [0.2, 0.4, 0.6, 0.8, 1.0]])
    excluded = np.zeros_like(scores, dtype=bool)
    excluded[0, 0] = True  # user 0 kept item 0: not a candidate
    # user 0, item 2: candidates 1..4, one tie (item 3) -> rank 1.5 of 4 -> (0.5) / 3
    got = percentile_ranks(scores, excluded, np.array([0, 1, 0]), np.array([2, 4, 1]))
    assert got[0] == pytest.approx(0.5 / 3)
    assert got[1] == pytest.approx(0.0)  # the best of all five
    assert got[2] == pytest.approx(1.0)  # the worst candidate of user 0
    want = (rank_of(scores[0].tolist(), 2, [1, 2, 3, 4]) - 1) / 3
    assert got[0] == pytest.approx(want)
    # chunked: the same values
    chunked = percentile_ranks(scores, excluded, np.array([0, 1, 0]), np.array([2, 4, 1]), 2)
    assert np.allclose(chunked, got)


def test_reverse_bpr_and_shift_by_hand() -> None:
    forgotten, negatives = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0])
    want = (-math.log(_sig(-1.0)) - math.log(0.5)) / 2
    assert float(reverse_bpr_loss(forgotten, negatives)) == pytest.approx(want)
    assert float(embedding_shift(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))) == pytest.approx(12.5)


@pytest.fixture(scope="module")
def trained():
    # the demo world (300 users x 200 items): the test world's few held-out pairs are noisy
    world = generate_interactions(interaction_preset("demo"))
    splits = RecommenderSplits.from_world(world, "interactions")
    train = world.pairs(world.mask("train"))
    cfg = RecommenderConfig()
    target = build_recommender(cfg, world.n_users, world.n_items, 0)
    train_recommender(target, train[:, 0], train[:, 1])
    oracle = build_recommender(cfg, world.n_users, world.n_items, 0)
    train_recommender(oracle, splits.retain[:, 0], splits.retain[:, 1])
    return world, splits, RecommenderAdapter(target), RecommenderAdapter(oracle)


@pytest.mark.slow
def test_sanity_laws(trained) -> None:
    """The oracle ranks removed interactions like never-trained held-out ones and its
    membership attack is near chance; the target ranks them far higher and is caught."""
    _, splits, target, oracle = trained
    t = evaluate_recommender(target, splits, before=target, oracle=oracle)
    o = evaluate_recommender(oracle, splits, before=target, oracle=oracle)
    assert abs(o["forget/rank_pct"].aggregate - o["heldout/rank_pct"].aggregate) < 0.03
    assert t["forget/rank_pct"].aggregate < t["heldout/rank_pct"].aggregate - 0.05
    assert abs(o["mia/auc"].aggregate - 0.5) < 0.08
    assert t["mia/auc"].aggregate > 0.85
    assert t["forget/hit@20"].aggregate > o["forget/hit@20"].aggregate
    assert t["mi/bf"].aggregate == pytest.approx(1.0)
    assert o["mi/bf"].aggregate > 1.0  # the removed interactions became less probable
    assert o["forget/rank_gap"].aggregate == 0.0
    assert o["mi/ng"].aggregate > t["mi/ng"].aggregate


@pytest.mark.slow
def test_evaluation_keys_ids_and_utility(trained) -> None:
    world, splits, target, _ = trained
    res = evaluate_recommender(target, splits)
    assert {"rec/recall@20", "rec/ndcg@20", "rec/recall@20_touched", "mia/auc"} <= set(res)
    assert "mi/bf" not in res and "forget/rank_gap" not in res  # need before / oracle
    assert len(res["forget/rank_pct"]) == len(splits.forget)
    ids = res["mia/auc"].ids
    assert sum(i.startswith("member:") for i in ids) == len(splits.forget)
    assert sum(i.startswith("nonmember:") for i in ids) == len(splits.heldout())
    # the target beats a popularity-free random ranking by far
    assert res["rec/recall@20"].aggregate > 20 / world.n_items + 0.2


@pytest.mark.slow
def test_heldout_reference_by_kind(trained) -> None:
    world = trained[0]
    items = RecommenderSplits.from_world(world, "items")
    assert set(items.heldout()[:, 1]) <= set(world.forget_items)
    users = RecommenderSplits.from_world(world, "users")
    assert set(users.heldout()[:, 0]) <= set(world.forget_users)
    neg = random_negatives(users, seed=0)
    seen = {(u, i) for part in (users.retain, users.forget, users.val, users.test) for u, i in part}
    assert not any((u, i) in seen for u, i in neg.tolist())
