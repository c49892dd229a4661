"""Recommenders on real-like data: the generated MovieLens ``u.data`` file whose
preferences drift over time, the never-trained reference sample of the training period
that the membership attack compares removed interactions with (an exact oracle scores
≈ 0.5 also when timelines drift), and forget batches sized by the request's share of the
training set (the same share takes the same steps at any data size)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from unlearnkit.data.interactions import load_movielens
from unlearnkit.data.world.interactions import (
    generate_interactions,
    interaction_preset,
    reference_sample,
    world_from_interactions,
)
from unlearnkit.data.world.ratings import (
    ML100K_RATING_SHARES,
    RatingsSpec,
    generate_ratings,
    ratings_preset,
    user_counts,
)
from unlearnkit.evaluation.recommender import RecommenderSplits, evaluate_recommender
from unlearnkit.methods import UnlearningError
from unlearnkit.methods.recommender.base import share_batch_count, unlearn_recommender
from unlearnkit.models.recommender import (
    RecommenderAdapter,
    RecommenderConfig,
    RecTrainConfig,
    build_recommender,
    train_recommender,
)
from unlearnkit.runner.build import pinned_threads

# -- the generated ratings file ----------------------------------------------------------


def test_generated_file_has_the_movielens_u_data_layout(tmp_path) -> None:
    spec = ratings_preset("test")
    path = generate_ratings(spec).write(tmp_path / "u.data")
    lines = path.read_text().splitlines()
    assert len(lines) == spec.n_ratings
    rows = np.array([[int(x) for x in line.split("\t")] for line in lines])
    assert rows.shape == (spec.n_ratings, 4)
    users, items, stars, stamps = rows.T
    assert users.min() == 1 and users.max() == spec.n_users  # 1-based ids, every user
    assert items.min() >= 1 and items.max() <= spec.n_items
    assert set(stars.tolist()) == {1, 2, 3, 4, 5}
    assert (stamps >= spec.start).all() and (stamps <= spec.end).all()
    assert len({(u, i) for u, i in zip(users, items, strict=True)}) == len(rows)  # no pair twice
    assert np.bincount(users)[1:].min() >= spec.min_per_user
    shares = np.bincount(stars, minlength=6)[1:] / len(stars)
    assert np.allclose(shares, ML100K_RATING_SHARES, atol=0.01)
    # the loader reads it as it reads MovieLens-100K: ratings >= 4 are the interactions
    data = load_movielens(path)
    assert data.n_users == spec.n_users
    assert len(data.user) == int((stars >= 4).sum())
    # same spec, same bytes; another seed, another file
    assert generate_ratings(spec).write(tmp_path / "again.data").read_bytes() == path.read_bytes()
    other = generate_ratings(spec.replace(seed=1)).write(tmp_path / "other.data")
    assert other.read_bytes() != path.read_bytes()


def test_user_counts_are_heavy_tailed_and_exact() -> None:
    spec = RatingsSpec(n_users=50, n_items=400, n_ratings=2000, min_per_user=20)
    counts = user_counts(spec, np.random.default_rng(0))
    assert counts.sum() == 2000 and counts.min() >= 20 and counts.max() <= 200
    assert counts.max() > 2 * np.median(counts)
    with pytest.raises(Exception, match="n_users × min_per_user"):
        RatingsSpec(n_users=100, n_ratings=1000, min_per_user=20)


def _early_late_popularity(ratings) -> float:
    """Mean over users of (popularity of their first fifth of items − of their last fifth),
    popularity = the item's number of ratings (log)."""
    pop = np.log1p(np.bincount(ratings.item, minlength=ratings.spec.n_items))
    diffs = []
    for u in range(ratings.spec.n_users):
        mine = np.flatnonzero(ratings.user == u)
        items = ratings.item[mine][np.argsort(ratings.timestamp[mine], kind="stable")]
        fifth = max(1, len(items) // 5)
        diffs.append(pop[items[:fifth]].mean() - pop[items[-fifth:]].mean())
    return float(np.mean(diffs))


def test_preferences_drift_over_time_unless_told_not_to() -> None:
    drifting = generate_ratings(ratings_preset("test"))
    steady = generate_ratings(ratings_preset("test").replace(drift=0.0))
    # early ratings lean to popular items (on-boarding), later ones to the user's niche
    assert _early_late_popularity(drifting) > 0.15
    assert abs(_early_late_popularity(steady)) < 0.1


# -- the membership reference ------------------------------------------------------------


def test_reference_sample_keeps_a_training_interaction_per_user() -> None:
    user = np.array([0] * 10 + [1] + [2, 2])
    period = np.ones(13, dtype=bool)
    period[11:] = False  # user 2 has nothing in the training period
    for seed in range(20):
        out = reference_sample(user, period, 0.5, np.random.default_rng(seed))
        assert not (out & ~period).any()
        assert not out[10]  # user 1's only interaction stays for training
        assert 5 <= out[:10].sum() <= 6 and not out[11:].any()
    assert not reference_sample(user, period, 0.0, np.random.default_rng(0)).any()


@pytest.fixture(scope="module")
def drifting_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ratings") / "u.data"
    generate_ratings(ratings_preset("test")).write(path)
    return load_movielens(path)


def test_real_data_holds_out_a_time_matched_reference(drifting_data) -> None:
    spec = interaction_preset("test")
    world = world_from_interactions(drifting_data, spec)
    ref, train = world.mask("reference"), world.mask("train")
    assert world.has_reference
    assert ref.sum() == pytest.approx(0.1 * (ref | train).sum(), abs=2)
    for u in range(world.n_users):  # from each user's training period, never after it
        mine = world.user == u
        later = world.mask("val") | world.mask("test")
        if (mine & ref).any():
            assert world.timestamp[mine & ref].max() <= world.timestamp[mine & later].min()
        assert (mine & train).any()
    for kind in ("interactions", "users", "items"):
        assert not (world.request(kind) & ~train).any()  # requests never touch the reference
    splits = RecommenderSplits.from_world(world, "users")
    assert splits.reference is not None and len(splits.reference) == ref.sum()
    # without a reference share the world is the one it always was
    plain = world_from_interactions(drifting_data, spec, reference_fraction=0.0)
    assert not plain.has_reference
    assert RecommenderSplits.from_world(plain, "users").reference is None
    assert np.array_equal(plain.split == "train", train | ref)
    with pytest.raises(ValueError, match="reference_fraction"):
        world_from_interactions(drifting_data, spec, reference_fraction=0.6)


def test_the_generated_world_keeps_its_test_reference() -> None:
    world = generate_interactions(interaction_preset("test"))
    assert not world.has_reference
    splits = RecommenderSplits.from_world(world, "interactions")
    assert splits.reference is None
    test = world.pairs(world.mask("test"))
    want = test[np.isin(test[:, 0], np.unique(splits.forget[:, 0]))]
    assert np.array_equal(splits.heldout(), want)


def test_heldout_pairs_are_drawn_like_the_request() -> None:
    pairs = lambda *p: np.array(p, dtype=np.int64).reshape(-1, 2)  # noqa: E731
    base = RecommenderSplits(
        n_users=4,
        n_items=5,
        retain=pairs((0, 0), (1, 1), (2, 2)),
        forget=pairs((0, 1), (1, 2)),
        val=pairs((3, 3)),
        test=pairs((0, 4), (2, 4), (3, 0)),
        kind="interactions",
        reference=pairs((0, 3), (2, 1), (3, 2)),
    )
    assert base.heldout().tolist() == [[0, 3], [2, 1], [3, 2]]  # every reference pair
    assert replace(base, kind="users").heldout().tolist() == [[0, 3]]  # of users 0 and 1
    assert replace(base, kind="items").heldout().tolist() == [[2, 1], [3, 2]]  # items 1, 2
    assert replace(base, reference=None).heldout().tolist() == [[0, 4]]  # test of users 0, 1
    # the reference items are known interactions: left out of the rankings like val
    excluded = base.excluded()
    assert excluded[0, 3] and excluded[2, 1] and excluded[3, 3] and not excluded[0, 1]
    assert not replace(base, reference=None).excluded()[0, 3]


@pytest.fixture(scope="module")
def larger(tmp_path_factory):
    """A drifting ratings file of 300 users × 400 items (24,000 ratings, ~13,000
    interactions), its world, and BPR-MF target and oracle (interactions request)."""
    spec = RatingsSpec(n_users=300, n_items=400, n_ratings=24_000, seed=3)
    path = tmp_path_factory.mktemp("larger") / "u.data"
    generate_ratings(spec).write(path)
    world = world_from_interactions(load_movielens(path), interaction_preset("demo"))
    splits = RecommenderSplits.from_world(world, "interactions")
    recipe = RecTrainConfig(epochs=20, batch_size=512)
    models = []
    with torch.random.fork_rng(devices=[]), pinned_threads(1):
        for pairs in (world.pairs(world.mask("train")), splits.retain):
            model = build_recommender(RecommenderConfig(), world.n_users, world.n_items, 0)
            train_recommender(model, pairs[:, 0], pairs[:, 1], recipe)
            models.append(RecommenderAdapter(model))
    return world, splits, models[0], models[1]


def test_oracle_membership_auc_is_chance_on_drifting_data(larger) -> None:
    """The sanity law on drifting data: an exact oracle cannot tell removed interactions
    from never-trained ones of the same period (AUC ≈ 0.5); against each user's latest
    interactions (the test split) it could, because they drifted."""
    _, splits, _, oracle = larger
    matched = evaluate_recommender(oracle, splits)["mia/auc"].aggregate
    latest = evaluate_recommender(oracle, replace(splits, reference=None))["mia/auc"].aggregate
    assert abs(matched - 0.5) < 0.06, matched
    assert latest > 0.58, latest


# -- step sizes that follow the data -------------------------------------------------------


def test_share_batch_count_golden() -> None:
    assert share_batch_count(266, 5330, 0.025) == 2  # the demo's 5% request: 2 steps an epoch
    assert share_batch_count(1939, 38772, 0.025) == 2  # MovieLens-100K's 5%: 2 as well
    assert share_batch_count(53, 5330, 0.025) == 1  # a 1% request
    assert share_batch_count(1066, 5330, 0.025) == 8  # a 20% request: 8
    assert share_batch_count(200, 5330, 0.025) == 2  # 1.5 batches: halves up
    assert share_batch_count(190, 5330, 0.025) == 1
    assert share_batch_count(3, 3, 0.025) == 3  # never more batches than interactions
    assert share_batch_count(0, 100, 0.025) == 0
    with pytest.raises(UnlearningError, match="smaller than the request"):
        share_batch_count(10, 5, 0.025)


def _random_pairs(n_users: int, n_items: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flat = rng.choice(n_users * n_items, size=n, replace=False)
    return np.stack([flat // n_items, flat % n_items], axis=1)


@pytest.mark.parametrize(("method", "per_epoch"), [("rec_grad_ascent", 5), ("reverse_bpr", 10)])
def test_steps_follow_the_request_share_not_its_size(method, per_epoch) -> None:
    """A 5% request takes the same steps on 2,000 and on 8,000 training interactions
    (two batches an epoch); with fixed batches of 256 it took 1 and 2."""
    model = build_recommender(RecommenderConfig(n_factors=8), 200, 100, 0)
    steps, fixed = [], []
    for n in (2000, 8000):
        pairs = _random_pairs(200, 100, n, n)
        forget, retain = pairs[: n // 20], pairs[n // 20 :]
        steps.append(unlearn_recommender(model, forget, retain, method)[1].steps)
        fixed.append(unlearn_recommender(model, forget, retain, method, batch_share=None)[1].steps)
    assert steps == [2 * per_epoch, 2 * per_epoch]
    assert fixed == [per_epoch, 2 * per_epoch]
    with pytest.raises(UnlearningError, match="retain set"):
        unlearn_recommender(model, pairs[:10], np.zeros((0, 2)), "rec_grad_ascent")


def test_scaled_defaults_keep_the_targets_accuracy(larger) -> None:
    """On the larger drifting file gradient ascent and reverse BPR with their defaults keep
    at least 0.9 of the target's NDCG@20 and move the removed interactions down."""
    _, splits, target, _ = larger
    before = evaluate_recommender(target, splits)
    for method in ("rec_grad_ascent", "reverse_bpr"):
        with torch.random.fork_rng(devices=[]), pinned_threads(1):
            out, _ = unlearn_recommender(target, splits.forget, splits.retain, method)
        after = evaluate_recommender(out, splits)
        ratio = after["rec/ndcg@20"].aggregate / before["rec/ndcg@20"].aggregate
        assert ratio >= 0.9, (method, ratio)
        assert after["forget/rank_pct"].aggregate > before["forget/rank_pct"].aggregate
