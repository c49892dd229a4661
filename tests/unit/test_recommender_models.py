"""BPR-MF and LightGCN on the test interaction world: the BPR loss by hand, negatives are
never seen items, both models beat popularity, top-K leaves seen items out, and the
LightGCN graph is the training graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearnkit.data.world.interactions import generate_interactions, interaction_preset
from unlearnkit.evaluation.functional.ranking import recall_at_k
from unlearnkit.models.recommender import (
    LightGCN,
    RecommenderAdapter,
    RecommenderConfig,
    RecTrainConfig,
    bpr_loss,
    build_recommender,
    sample_negatives,
    seen_items,
    train_recommender,
)


@pytest.fixture(scope="module")
def world():
    return generate_interactions(interaction_preset("test"))


def test_bpr_loss_by_hand() -> None:
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    want = (-math.log(1 / (1 + math.exp(-2))) - math.log(0.5)) / 2
    assert float(bpr_loss(pos, neg)) == pytest.approx(want)


def test_negatives_are_never_seen(world) -> None:
    tr = world.mask("train")
    seen = seen_items(world.user[tr], world.item[tr], world.n_users)
    users = np.repeat(np.arange(world.n_users), 20)
    neg = sample_negatives(users, seen, world.n_items, np.random.default_rng(0))
    assert not any(int(j) in seen[u] for u, j in zip(users.tolist(), neg.tolist(), strict=True))


def _recall(adapter, world, seen, k=10) -> float:
    te = world.mask("test")
    rel = [set() for _ in range(world.n_users)]
    for u, i in zip(world.user[te].tolist(), world.item[te].tolist(), strict=True):
        rel[u].add(i)
    users = np.arange(world.n_users)
    top = adapter.top_k(users, k, seen)
    return float(np.nanmean([recall_at_k(top[u].tolist(), list(rel[u]), k) for u in users]))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["bpr_mf", "lightgcn"])
def test_models_learn_and_top_k_leaves_seen_items_out(arch, world) -> None:
    tr = world.mask("train")
    seen = seen_items(world.user[tr], world.item[tr], world.n_users)
    model = build_recommender(RecommenderConfig(arch=arch), world.n_users, world.n_items, seed=0)
    untrained = _recall(RecommenderAdapter(model), world, seen)
    info = train_recommender(model, world.user[tr], world.item[tr], RecTrainConfig(epochs=30))
    adapter = RecommenderAdapter(model)
    top = adapter.top_k(np.arange(world.n_users), 10, seen)
    assert not any(int(i) in seen[u] for u in range(world.n_users) for i in top[u])
    assert info["steps"] > 0
    assert _recall(adapter, world, seen) > untrained + 0.1
    if arch == "lightgcn":
        assert isinstance(model, LightGCN)
        assert model.graph._nnz() == 2 * int(tr.sum())
    again = build_recommender(RecommenderConfig(arch=arch), world.n_users, world.n_items, seed=0)
    train_recommender(again, world.user[tr], world.item[tr], RecTrainConfig(epochs=30))
    assert torch.equal(adapter.scores(), RecommenderAdapter(again).scores())  # seeded


def test_a_user_who_saw_every_item_has_no_negative() -> None:
    seen = [set(range(5)), {0}]
    with pytest.raises(ValueError, match="user 0 has interacted with all 5 items"):
        sample_negatives(np.array([1, 0]), seen, 5, np.random.default_rng(0))
