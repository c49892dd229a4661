"""The interaction world (determinism, per-user time splits, the three forget requests),
the MovieLens loader (implicit conversion and every validation error) and the ranking
metrics on hand-built rankings (golden values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearnkit.core.errors import ConfigError, DataValidationError
from unlearnkit.data.interactions import load_movielens, map_ids
from unlearnkit.data.world.interactions import (
    InteractionSpec,
    generate_interactions,
    interaction_preset,
)
from unlearnkit.evaluation.functional.ranking import ndcg_at_k, rank_of, recall_at_k


@pytest.fixture(scope="module")
def world():
    return generate_interactions(interaction_preset("test"))


def test_deterministic_and_seeded(world) -> None:
    again = generate_interactions(interaction_preset("test"))
    assert np.array_equal(again.user, world.user) and np.array_equal(again.item, world.item)
    other = generate_interactions(interaction_preset("test").replace(seed=1))
    assert not np.array_equal(other.item, world.item)


def test_per_user_time_splits(world) -> None:
    for u in range(world.n_users):
        mine = world.user == u
        items = world.item[mine]
        assert len(set(items.tolist())) == len(items)  # no pair twice
        order = np.argsort(world.timestamp[mine])
        splits = world.split[mine][order].tolist()
        # train first, then validation, then test: leave-last-out by time
        assert splits == sorted(splits, key=["train", "val", "test"].index)
        assert "train" in splits and "test" in splits


def test_forget_requests(world) -> None:
    train = world.mask("train")
    for kind in ("interactions", "users", "items"):
        m = world.request(kind)
        assert m.any() and not (m & ~train).any()  # only train interactions are forgotten
    assert set(world.user[world.request("users")].tolist()) == set(world.forget_users)
    users_mask = train & np.isin(world.user, world.forget_users)
    assert np.array_equal(world.request("users"), users_mask)
    assert set(world.item[world.request("items")].tolist()) <= set(world.forget_items)
    k = world.request("interactions").sum()
    assert k == max(1, round(world.spec.forget_fraction * train.sum()))
    with pytest.raises(Exception, match="forget request kind"):
        world.request("friends")
    with pytest.raises(ConfigError, match="forget_users"):
        InteractionSpec(n_users=10, forget_users=10)


def test_popular_items_are_interacted_more(world) -> None:
    counts = np.bincount(world.item, minlength=world.n_items)
    top = np.argsort(-world.popularity)[:10]
    bottom = np.argsort(world.popularity)[:10]
    assert counts[top].mean() > counts[bottom].mean()


def _write(tmp_path, text, name="ratings.dat"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_movielens_formats_and_implicit_conversion(tmp_path) -> None:
    dat = _write(tmp_path, "1::10::5::100\n1::11::2::101\n2::10::4::102\n")
    data = load_movielens(dat)
    assert data.user_ids == ["1", "2"] and data.item_ids == ["10"]
    assert data.user.tolist() == [0, 1] and data.timestamp.tolist() == [100, 102]
    csv = _write(tmp_path, "userId,movieId,rating,timestamp\n1,10,5.0,100\n2,11,4.5,101\n", "r.csv")
    data = load_movielens(csv, threshold=0)
    assert data.n_users == 2 and data.n_items == 2
    assert map_ids(["11", "10"], data.item_ids, "item").tolist() == [1, 0]
    with pytest.raises(DataValidationError, match="unknown item id"):
        map_ids(["99"], data.item_ids, "item")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1::10::5::100\n1::10::3::101\n", "duplicate rows"),
        ("1::10\n", "expected user, item, rating"),
        ("1::10::five::100\n", "must be numbers"),
        ("1::10::5::100\n2::11::1::101\n", "no rating >= 4"),
        ("", "no ratings"),
    ],
)
def test_movielens_errors_name_the_line(tmp_path, text, message) -> None:
    with pytest.raises(DataValidationError, match=message):
        load_movielens(_write(tmp_path, text))


def test_empty_users_can_be_dropped(tmp_path) -> None:
    data = load_movielens(_write(tmp_path, "1::10::5::100\n2::11::1::101\n"), drop_empty_users=True)
    assert data.user_ids == ["1"]
    with pytest.raises(DataValidationError, match="no such ratings file"):
        load_movielens(tmp_path / "missing.dat")


def test_recall_and_ndcg_golden() -> None:
    ranked = [5, 3, 9, 1, 7]
    relevant = [3, 7, 8]
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)
    # DCG@5 = 1/log2(3) + 1/log2(6); IDCG@5 = 1 + 1/log2(3) + 1/log2(4)
    want = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(want)
    assert ndcg_at_k([3, 7, 8], relevant, 3) == pytest.approx(1.0)
    assert math.isnan(recall_at_k(ranked, [], 5)) and math.isnan(ndcg_at_k(ranked, [], 5))


def test_rank_of_with_ties() -> None:
    scores = [0.1, 0.9, 0.5, 0.5]
    assert rank_of(scores, 1) == 1
    assert rank_of(scores, 2) == 2.5  # tied with item 3 for ranks 2 and 3
    assert rank_of(scores, 0, candidates=[0, 2]) == 2


def test_real_interactions_become_a_world(tmp_path) -> None:
    from unlearnkit.data.world.interactions import world_from_interactions

    rows = [f"{u}::{i}::5::{10 * u + i}" for u in range(12) for i in range(u % 4, u % 4 + 8)]
    data = load_movielens(_write(tmp_path, "\n".join(rows) + "\n"))
    world = world_from_interactions(data, interaction_preset("test"))
    assert world.n_users == 12 and world.n_items == data.n_items
    for u in range(12):  # per user: train first, test last, by timestamp
        mine = world.user == u
        stamps = world.timestamp[mine]
        assert (
            stamps[world.split[mine] == "test"].min() > stamps[world.split[mine] == "train"].max()
        )
    assert set(world.forget_users) <= set(range(12))
    assert not (world.request("users") & ~world.mask("train")).any()
    small = load_movielens(_write(tmp_path, "1::1::5::1\n2::2::5::2\n"))
    with pytest.raises(ValueError, match="at least 10"):
        world_from_interactions(small)


def test_every_request_removes_something_and_users_keep_training(tmp_path) -> None:
    from unlearnkit.data.world.interactions import world_from_interactions

    for seed in range(6):  # forget items are drawn among items with training interactions
        world = generate_interactions(interaction_preset("test").replace(seed=seed))
        train = world.mask("train")
        assert all((train & (world.item == i)).any() for i in world.forget_items)
        assert all((train & (world.user == u)).any() for u in world.forget_users)
    rows = [f"{u}::{(u + i) % 12}::5::{i}" for u in range(12) for i in range(2 + u % 3)]
    data = load_movielens(_write(tmp_path, "\n".join(rows) + "\n"))
    spec = interaction_preset("test").replace(
        test_fraction=0.75, val_fraction=0.0, forget_users=2, forget_items=1
    )
    world = world_from_interactions(data, spec)
    for u in range(12):  # even at 75% test, every user keeps a training interaction
        assert ((world.user == u) & world.mask("train")).any()
