"""What each recommender method promises beyond the conformance suite: RecEraser's shards
(balanced partition, only touched shards retrained, kept for the next request), UnlearnRec's
encoder (no update before training, pre-trained once per instance), retraining = the
oracle's recipe, and the saved models (LightGCN graph, sharded ensemble) round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnkit.data.world.interactions import generate_interactions, interaction_preset
from unlearnkit.evaluation.recommender import RecommenderSplits
from unlearnkit.methods.recommender.base import unlearn_recommender
from unlearnkit.methods.recommender.influence_encoder import (
    InfluenceEncoder,
    InfluenceEncoderConfig,
    InfluenceEncoderNet,
    removed_share,
)
from unlearnkit.methods.recommender.sharded_retrain import (
    ShardedRetrain,
    ShardedRetrainConfig,
    balanced_kmeans,
)
from unlearnkit.models.recommender import (
    RecommenderAdapter,
    RecommenderConfig,
    RecTrainConfig,
    ShardedRecommender,
    build_recommender,
    load_recommender,
    save_recommender,
    train_recommender,
)


@pytest.fixture(scope="module")
def world():
    return generate_interactions(interaction_preset("test"))


@pytest.fixture(scope="module")
def target(world):
    train = world.pairs(world.mask("train"))
    model = build_recommender(RecommenderConfig(n_factors=16), 60, 50, 0)
    train_recommender(model, train[:, 0], train[:, 1], RecTrainConfig(epochs=20))
    return model


def test_balanced_kmeans_caps_and_separates() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-5, 0.1, (10, 2)), rng.normal(5, 0.1, (10, 2))])
    assign = balanced_kmeans(x, 2, rng, 5)
    assert np.bincount(assign).tolist() == [10, 10]
    assert len(set(assign[:10])) == 1 and len(set(assign[10:])) == 1
    uneven = balanced_kmeans(rng.normal(size=(7, 2)), 3, rng, 3)
    assert np.bincount(uneven).max() <= 3


def test_one_users_request_retrains_one_shard_and_the_shards_are_kept(world, target) -> None:
    method = ShardedRetrain(ShardedRetrainConfig(epochs=5, aggregator_epochs=1, n_shards=3))
    train = world.mask("train")
    first_user = world.forget_users[0]
    part = train & (world.user == first_user)
    splits = RecommenderSplits.from_world(world, "users", part)
    model, rec = unlearn_recommender(target, splits.forget, splits.retain, method)
    sharded = model.model
    assert isinstance(sharded, ShardedRecommender) and sharded.n_shards == 3
    assert len(rec.details["shards_retrained"]) == 1 and rec.details["setup_time_s"] > 0
    # user-based partition: every interaction of a user sits in one shard
    users, shard_of = sharded.edge_users.numpy(), sharded.shard_of.numpy()
    assert all(len(set(shard_of[users == u])) == 1 for u in np.unique(users))
    assert not ((users == first_user).any())  # the request left the shard lists
    # a second request given to the same (now sharded) model: no setup, one shard again
    second = train & (world.user == world.forget_users[1])
    both = RecommenderSplits.from_world(world, "users", part | second)
    again, rec2 = unlearn_recommender(model, world.pairs(second), both.retain, method)
    assert rec2.details["setup_time_s"] == 0.0 and len(rec2.details["shards_retrained"]) == 1
    untouched = set(range(3)) - set(rec2.details["shards_retrained"])
    k = next(iter(untouched))
    for a, b in zip(
        again.model.submodels[k].parameters(), sharded.submodels[k].parameters(), strict=True
    ):
        assert torch.equal(a, b)
    weights = again.model.shard_weights()
    assert weights.shape == (3, 60) and torch.allclose(weights.sum(0), torch.ones(60))


def test_sharded_retraining_is_exact_given_the_partition(world, target) -> None:
    """A request on a deployment built on every interaction gives the same model as the
    deployment built on the kept interactions only (same partition, same seeds)."""
    cfg = ShardedRetrainConfig(epochs=3, aggregator_epochs=2, n_shards=2)
    splits = RecommenderSplits.from_world(world, "interactions")
    after, _ = unlearn_recommender(target, splits.forget, splits.retain, ShardedRetrain(cfg))
    kept_only, _ = ShardedRetrain(cfg).shard(target, splits.retain)
    assert torch.equal(after.scores(), RecommenderAdapter(kept_only).scores())


def test_sharded_and_lightgcn_save_and_load(world, target, tmp_path) -> None:
    method = ShardedRetrain(ShardedRetrainConfig(epochs=2, aggregator_epochs=1, n_shards=2))
    splits = RecommenderSplits.from_world(world, "users")
    sharded, _ = unlearn_recommender(target, splits.forget, splits.retain, method)
    save_recommender(sharded.model, tmp_path / "s")
    torch.manual_seed(5)
    back = load_recommender(tmp_path / "s")
    assert torch.equal(torch.rand(3), torch.manual_seed(5) and torch.rand(3))  # RNG untouched
    assert torch.allclose(RecommenderAdapter(back).scores(), sharded.scores())
    gcn = build_recommender(RecommenderConfig(arch="lightgcn", n_factors=8), 60, 50, 0)
    train_recommender(gcn, splits.retain[:, 0], splits.retain[:, 1], RecTrainConfig(epochs=2))
    save_recommender(gcn, tmp_path / "g")
    back = load_recommender(tmp_path / "g")
    assert torch.allclose(RecommenderAdapter(back).scores(), RecommenderAdapter(gcn).scores())
    assert [a.tolist() for a in back.edges()] == [a.tolist() for a in gcn.edges()]
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_recommender(tmp_path / "nothing")


def test_influence_encoder_starts_at_zero_and_pretrains_once(world, target) -> None:
    net = InfluenceEncoderNet(16, 8, 2)
    pairs = world.pairs(world.mask("train"))
    gone = np.zeros(len(pairs), dtype=bool)
    gone[:5] = True
    share = removed_share(pairs, gone, 60, 50)
    assert float(share.max()) <= 1.0 and float(share.sum()) > 0
    adj = torch.eye(110).to_sparse()
    with torch.no_grad():
        assert float(net(torch.randn(110, 16), share, adj).abs().max()) == 0.0
    method = InfluenceEncoder(InfluenceEncoderConfig(pretrain_steps=10, finetune_steps=2))
    splits = RecommenderSplits.from_world(world, "items")
    model, rec = unlearn_recommender(target, splits.forget, splits.retain, method)
    assert rec.details["setup_time_s"] > 0 and rec.details["update_norm"] > 0
    _, rec2 = unlearn_recommender(model, splits.forget[:2], splits.retain, method)
    assert rec2.details["setup_time_s"] == 0.0


def test_retrain_is_the_oracle_recipe(world, target) -> None:
    splits = RecommenderSplits.from_world(world, "interactions")
    out, _ = unlearn_recommender(target, splits.forget, splits.retain, "rec_retrain", epochs=3)
    oracle = build_recommender(target.config, 60, 50, seed=0)
    train_recommender(oracle, splits.retain[:, 0], splits.retain[:, 1], RecTrainConfig(epochs=3))
    assert torch.equal(out.scores(), RecommenderAdapter(oracle).scores())


def test_an_instance_refuses_a_config(world, target) -> None:
    from unlearnkit.methods import UnlearningError

    splits = RecommenderSplits.from_world(world, "users")
    with pytest.raises(UnlearningError, match="not with an instance"):
        unlearn_recommender(target, splits.forget, splits.retain, ShardedRetrain(), epochs=2)
