"""The recommender audit: halves of the request per user / item, quantized embeddings, and
relearning that brings the removed interactions back for a model that only pushed them
down but teaches the oracle less."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnkit.audit.quantization import quantized_copy
from unlearnkit.audit.recommender import (
    RecommenderAudit,
    RecommenderAuditConfig,
    audit_recommender,
    halves,
    summary,
)
from unlearnkit.data.world.interactions import generate_interactions, interaction_preset
from unlearnkit.evaluation.recommender import RecommenderSplits
from unlearnkit.models.recommender import (
    RecommenderAdapter,
    RecommenderConfig,
    RecTrainConfig,
    build_recommender,
    train_recommender,
)


@pytest.fixture(scope="module")
def world():
    return generate_interactions(interaction_preset("test"))


@pytest.mark.parametrize("kind", ["interactions", "users", "items"])
def test_halves_split_each_unit(world, kind) -> None:
    splits = RecommenderSplits.from_world(world, kind)
    taught, measured = halves(splits, seed=0)
    assert (taught ^ measured).all() and abs(int(taught.sum()) - int(measured.sum())) <= (
        len(world.forget_users) if kind == "users" else len(world.forget_items)
    )
    if kind != "interactions":
        column = splits.forget[:, 0 if kind == "users" else 1]
        for unit in np.unique(column):
            mine = column == unit
            assert abs(int(taught[mine].sum()) - int(measured[mine].sum())) <= 1
    again, _ = halves(splits, seed=0)
    assert (again == taught).all()


def test_embedding_quantization_is_opt_in() -> None:
    model = build_recommender(RecommenderConfig(n_factors=8), 20, 20, 0)
    same = quantized_copy(model, 4)
    assert torch.equal(same.user_emb.weight, model.user_emb.weight)
    four = quantized_copy(model, 4, embeddings=True)
    assert not torch.equal(four.user_emb.weight, model.user_emb.weight)
    assert four.user_emb.weight[0].unique().numel() <= 15  # 2^4 - 1 levels per row


def test_audit_of_target_and_oracle(world) -> None:
    splits = RecommenderSplits.from_world(world, "users")
    cfg = RecommenderConfig(n_factors=16)
    train = world.pairs(world.mask("train"))
    target = build_recommender(cfg, 60, 50, 0)
    train_recommender(target, train[:, 0], train[:, 1], RecTrainConfig(epochs=20))
    oracle = build_recommender(cfg, 60, 50, 0)
    train_recommender(oracle, splits.retain[:, 0], splits.retain[:, 1], RecTrainConfig(epochs=20))
    audit_cfg = RecommenderAuditConfig(relearn_steps=(8, 32), bits=(8,), noise=(0.01,))
    typed = audit_recommender(RecommenderAdapter(target), splits, audit_cfg, k=10)
    t = summary(typed)
    o = summary(audit_recommender(RecommenderAdapter(oracle), splits, audit_cfg, k=10))
    assert list(t) == ["forget", "int8", "noise 0.01", "relearn@0", "relearn@8", "relearn@32"]
    assert t["forget"] > o["forget"] and t["relearn@0"] > o["relearn@0"]
    assert o["relearn@32"] >= o["relearn@0"]  # teaching half a user's items teaches taste
    assert all(0.0 <= v <= 1.0 for v in (*t.values(), *o.values()))

    # per removed interaction: hit or not; the relearning rows on the measured half only
    _, measured = halves(splits, audit_cfg.seed)
    ids = [f"u{u}:i{i}" for u, i in splits.forget.tolist()]
    assert typed["forget"].ids == tuple(ids) and typed["int8"].ids == tuple(ids)
    kept = tuple(i for i, m in zip(ids, measured, strict=True) if m)
    for key in ("relearn@0", "relearn@8", "relearn@32"):
        assert typed[key].ids == kept
        assert typed[key].aggregate == sum(typed[key].values) / len(kept)
        assert typed[key].higher_is_better is False and typed[key].name == f"audit/{key}"
    # the registered audit metric is the same audit
    metric = RecommenderAudit(audit_cfg.to_dict(), k=10)
    assert metric.compute(RecommenderAdapter(target), splits) == typed
