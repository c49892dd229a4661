"""Conformance suite generated from the registry: every recommender method must pass, on
BPR-MF and on LightGCN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnkit.data.world.interactions import generate_interactions, interaction_preset
from unlearnkit.evaluation.recommender import RecommenderSplits, evaluate_recommender
from unlearnkit.methods import METHODS, UnlearningError
from unlearnkit.methods.api import method_config, methods_of
from unlearnkit.methods.recommender.base import recommender_methods, unlearn_recommender
from unlearnkit.models.recommender import (
    LightGCN,
    RecommenderAdapter,
    RecommenderConfig,
    RecTrainConfig,
    build_recommender,
    train_recommender,
)

#: the family this module covers (tests/conformance/test_coverage.py checks that every
#: registered method of every family is covered)
FAMILY = "recommender"
NAMES = methods_of(FAMILY)
#: short settings so that the suite stays fast (a method not named here runs its defaults)
SHORT = {
    "rec_retrain": {"epochs": 5},
    "rec_finetune": {"epochs": 2},
    "rec_grad_ascent": {"epochs": 2},
    "reverse_bpr": {"epochs": 3},
    "sharded_retrain": {"epochs": 5, "aggregator_epochs": 2, "n_shards": 2},
    "influence_encoder": {"pretrain_steps": 20, "finetune_steps": 3},
}


def test_the_family_and_the_method_class_agree():
    """A method registered as a recommender method is a RecommenderMethod, and back; the
    short settings name only registered methods."""
    assert NAMES and recommender_methods() == NAMES
    for name in NAMES:
        assert METHODS.entry(name).meta["family"] == FAMILY
    assert set(SHORT) <= set(NAMES), sorted(set(SHORT) - set(NAMES))


@pytest.fixture(scope="module", params=["bpr_mf", "lightgcn"])
def setup(request):
    world = generate_interactions(interaction_preset("test"))
    splits = RecommenderSplits.from_world(world, "users")
    train = world.pairs(world.mask("train"))
    model = build_recommender(RecommenderConfig(arch=request.param, n_factors=16), 60, 50, 0)
    train_recommender(model, train[:, 0], train[:, 1], RecTrainConfig(epochs=20))
    return model, splits


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_seeded_input_untouched_and_saved(name, setup, tmp_path):
    model, splits = setup
    before = _state(model)
    short = SHORT.get(name, {})
    out1, rec1 = unlearn_recommender(
        model, splits.forget, splits.retain, name, out_dir=tmp_path / "a", **short
    )
    out2, _ = unlearn_recommender(model, splits.forget, splits.retain, name, **short)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{name} changed the input model's {k}"
    assert torch.equal(out1.scores(), out2.scores()), f"{name} is not deterministic"
    assert rec1.method == name and rec1.config == method_config(name, **short).to_dict()
    assert rec1.steps >= 1 and rec1.parameters_changed > 0 and rec1.wall_time_s >= 0
    out3, _ = unlearn_recommender(model, splits.forget, splits.retain, name, seed=1, **short)
    assert not torch.equal(out1.scores(), out3.scores()), f"{name} ignores its seed"
    again = RecommenderAdapter.from_pretrained(tmp_path / "a" / "model")
    assert torch.allclose(again.scores(), out1.scores(), atol=1e-6)
    assert again.fingerprint() == out1.fingerprint()
    assert (tmp_path / "a" / "record.json").is_file()
    if isinstance(model, LightGCN) and isinstance(out1.model, LightGCN):
        # the served graph has no forgotten edge
        edges = set(zip(*(a.tolist() for a in out1.model.edges()), strict=True))
        assert not edges & {tuple(p) for p in splits.forget.tolist()}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_removed_interactions_fall(name, setup):
    """With the defaults every method ranks the removed interactions lower than the target
    does (their mean percentile rank among the user's candidates grows)."""
    model, splits = setup
    target = RecommenderAdapter(model)
    out, _ = unlearn_recommender(model, splits.forget, splits.retain, name)
    before = evaluate_recommender(target, splits)["forget/rank_pct"].aggregate
    after = evaluate_recommender(out, splits)["forget/rank_pct"].aggregate
    assert after > before, f"{name}: rank percentile {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_fails_clearly(name, setup):
    model, splits = setup
    cls = METHODS.get(name)
    if cls.uses_forget:
        with pytest.raises(UnlearningError, match="forget set is empty"):
            unlearn_recommender(model, np.zeros((0, 2)), splits.retain, name)
    with pytest.raises(UnlearningError, match="outside the model"):
        unlearn_recommender(model, np.array([[999, 0]]), splits.retain, name)
    with pytest.raises(UnlearningError, match=r"\(K, 2\)"):
        unlearn_recommender(model, np.array([1, 2, 3]), splits.retain, name)


def test_a_non_recommender_method_is_refused(setup):
    model, splits = setup
    with pytest.raises(UnlearningError, match="not a recommender method"):
        unlearn_recommender(model, splits.forget, splits.retain, "npo")
