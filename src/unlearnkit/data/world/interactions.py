"""The interaction world (BENCHMARK_WORLD.md §6): users × items with latent preferences and
popularity, implicit feedback, per-user train / validation / test splits, and forget
requests of three kinds (UnlearnRec, MMRecUn).

Each user and item has a latent factor vector; each item a popularity bias (Zipf-like
ranks). A user interacts with ``n_u`` distinct items (Poisson around
``interactions_per_user``, at least ``min_interactions``) drawn without replacement with
probability ∝ exp(u·v / temperature + popularity). Interactions get increasing timestamps
per user in a random order of the chosen items (held-out and training interactions are
exchangeable); each user's last ``test_fraction`` go to test, the ``val_fraction`` before them to
validation, the rest to train (leave-last-out, as recommenders are evaluated). Real data
(:func:`world_from_interactions`) also holds a random share of each training period out as
the ``reference`` split: real timelines drift, so the membership attack compares removed
interactions with never-trained ones of the same period rather than with the latest ones.

Forget requests (all over train interactions): ``interactions`` (a seeded share of them),
``users`` (every train interaction of chosen users), ``items`` (every train interaction
with chosen items). The same spec (seed included) gives the same arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError
from unlearnkit.core.seeding import derive_seed

REQUEST_KINDS: tuple[str, ...] = ("interactions", "users", "items")
SPLITS: tuple[str, ...] = ("train", "val", "test", "reference")
#: the share of the training period that real data holds out as the membership reference
REFERENCE_FRACTION = 0.1


@dataclass(frozen=True)
class InteractionSpec(Config):
    """What the interaction world holds. Same spec ⇒ identical arrays.

    n_users / n_items / n_factors: the latent model. interactions_per_user: mean of each
    user's Poisson count (min_interactions at least). temperature: of the preference
    logits. popularity: weight of the items' Zipf-like popularity bias. val_fraction /
    test_fraction: per-user held-out shares (by time). forget_fraction: share of train
    interactions in the ``interactions`` request; forget_users / forget_items: how many
    users / items the other two requests remove.
    """

    seed: int = 0
    n_users: int = param(300, ge=10)
    n_items: int = param(200, ge=10)
    n_factors: int = param(8, ge=1)
    interactions_per_user: float = param(25.0, gt=0)
    min_interactions: int = param(5, ge=3)
    temperature: float = param(0.5, gt=0)
    popularity: float = param(1.0, ge=0)
    val_fraction: float = param(0.1, ge=0, lt=1)
    test_fraction: float = param(0.2, gt=0, lt=1)
    forget_fraction: float = param(0.05, gt=0, lt=1)
    forget_users: int = param(10, ge=1)
    forget_items: int = param(5, ge=1)

    def validate(self) -> None:
        if self.val_fraction + self.test_fraction >= 0.8:
            self.fail(
                "test_fraction",
                self.test_fraction,
                "val_fraction + test_fraction below 0.8 (train needs most interactions)",
            )
        if self.forget_users >= self.n_users:
            self.fail("forget_users", self.forget_users, f"fewer than n_users ({self.n_users})")
        if self.forget_items >= self.n_items:
            self.fail("forget_items", self.forget_items, f"fewer than n_items ({self.n_items})")
        if self.interactions_per_user >= self.n_items:
            self.fail("interactions_per_user", self.interactions_per_user, "below n_items")


INTERACTION_PRESETS: dict[str, Callable[[], InteractionSpec]] = {
    "test": lambda: InteractionSpec(
        n_users=60, n_items=50, interactions_per_user=12.0, forget_users=4, forget_items=3
    ),
    "demo": lambda: InteractionSpec(),
}


def interaction_preset(name: str) -> InteractionSpec:
    """The :class:`InteractionSpec` of a named preset (``test``, ``demo``)."""
    if name not in INTERACTION_PRESETS:
        raise UnknownNameError("interaction world preset", name, INTERACTION_PRESETS)
    return INTERACTION_PRESETS[name]()


@dataclass(frozen=True)
class InteractionWorld:
    """A generated interaction world.

    user / item / timestamp: (M,) arrays of every interaction. split: (M,) ``train``,
    ``val``, ``test`` or ``reference`` (real data only: a never-trained sample of the
    training period, the membership attack's non-members). forget: request kind -> (M,)
    bool mask (always within train). forget_users / forget_items: the users / items of
    those requests. user_factors / item_factors / popularity: the latent truth (for
    analysis, never for training).
    """

    spec: InteractionSpec
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    split: np.ndarray
    forget: dict[str, np.ndarray]
    forget_users: list[int]
    forget_items: list[int]
    user_factors: np.ndarray = field(repr=False)
    item_factors: np.ndarray = field(repr=False)
    popularity: np.ndarray = field(repr=False)

    @property
    def n_users(self) -> int:
        return self.spec.n_users

    @property
    def n_items(self) -> int:
        return self.spec.n_items

    def mask(self, split: str) -> np.ndarray:
        """(M,) bool mask of ``train`` / ``val`` / ``test`` / ``reference``."""
        if split not in SPLITS:
            raise UnknownNameError("interaction split", split, SPLITS)
        return self.split == split

    @property
    def has_reference(self) -> bool:
        """Whether a never-trained reference sample of the training period was held out
        (real data; see :func:`world_from_interactions`)."""
        return bool(self.mask("reference").any())

    def request(self, kind: str) -> np.ndarray:
        """(M,) bool mask of the forget request of ``kind``."""
        if kind not in self.forget:
            raise UnknownNameError("forget request kind", kind, self.forget)
        return self.forget[kind]

    def pairs(self, mask: np.ndarray) -> np.ndarray:
        """(K, 2) (user, item) pairs of the interactions in ``mask``."""
        return np.stack([self.user[mask], self.item[mask]], axis=1)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for a in (self.user, self.item, self.timestamp):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update("|".join(self.split.tolist()).encode())
        return h.hexdigest()[:16]


def _rng(spec: InteractionSpec, *keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(spec.seed, "interactions", *keys))


def generate_interactions(spec: InteractionSpec) -> InteractionWorld:
    """Draw the interaction world of ``spec`` (deterministic)."""
    g = _rng(spec, "factors")
    scale = 1.0 / np.sqrt(spec.n_factors)
    users = g.normal(0.0, 1.0, (spec.n_users, spec.n_factors)) * np.sqrt(scale) * 2
    items = g.normal(0.0, 1.0, (spec.n_items, spec.n_factors)) * np.sqrt(scale) * 2
    ranks = g.permutation(spec.n_items) + 1
    popularity = -spec.popularity * np.log(ranks)
    popularity -= popularity.mean()

    g = _rng(spec, "interactions")
    rows_u, rows_i, rows_t = [], [], []
    clock = 0
    for u in range(spec.n_users):
        n = int(max(spec.min_interactions, g.poisson(spec.interactions_per_user)))
        n = min(n, spec.n_items - 1)
        logits = users[u] @ items.T / spec.temperature + popularity
        p = np.exp(logits - logits.max())
        chosen = g.choice(spec.n_items, size=n, replace=False, p=p / p.sum())
        # the order of a draw without replacement favours the likeliest items first; the
        # user's timeline is a random order of the chosen items, so that held-out and
        # training interactions are exchangeable (a forgotten interaction looks, to a
        # model that never saw it, like a held-out one)
        for item in g.permutation(chosen):
            rows_u.append(u)
            rows_i.append(int(item))
            rows_t.append(clock)
            clock += 1
    return _split_and_request(
        spec,
        np.asarray(rows_u, dtype=np.int64),
        np.asarray(rows_i, dtype=np.int64),
        np.asarray(rows_t, dtype=np.int64),
        factors=(users, items, popularity),
    )


def reference_sample(
    user: np.ndarray, period: np.ndarray, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """(M,) bool: a uniform random ``fraction`` of the interactions in ``period`` (a bool
    mask: the training period), every user keeping at least one of theirs out of it (one
    pick of a user who would have none left is given back)."""
    idx = np.flatnonzero(period)
    k = round(fraction * len(idx))
    out = np.zeros(len(user), dtype=bool)
    if k == 0:
        return out
    out[rng.choice(idx, size=k, replace=False)] = True
    n_users = int(user.max()) + 1
    have = np.bincount(user[period], minlength=n_users)
    taken = np.bincount(user[out], minlength=n_users)
    for u in np.flatnonzero((have > 0) & (taken == have)):
        out[np.flatnonzero(out & (user == u))[0]] = False
    return out


def _split_and_request(
    spec: InteractionSpec,
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray,
    factors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    reference_fraction: float = 0.0,
) -> InteractionWorld:
    """Per-user leave-last-out splits (by timestamp), the never-trained ``reference``
    sample of the training period (``reference_fraction`` of it; none by default) and the
    three forget requests."""
    split = np.empty(len(user), dtype=object)
    order = np.lexsort((np.arange(len(user)), timestamp, user))
    bounds = np.flatnonzero(np.diff(user[order])) + 1
    for rows in np.split(order, bounds):
        n = len(rows)
        # a user with two or more interactions keeps at least one for training
        n_test = min(max(1, round(spec.test_fraction * n)), n - 1)
        n_val = min(round(spec.val_fraction * n), max(n - n_test - 1, 0))
        split[rows] = ["train"] * (n - n_test - n_val) + ["val"] * n_val + ["test"] * n_test
    if reference_fraction > 0:
        period = split == "train"
        picked = reference_sample(user, period, reference_fraction, _rng(spec, "reference"))
        split[picked] = "reference"
    split = split.astype(str)
    train = split == "train"

    g = _rng(spec, "forget")
    forget_interactions = np.zeros(len(user), bool)
    train_idx = np.flatnonzero(train)
    k = max(1, round(spec.forget_fraction * len(train_idx)))
    forget_interactions[g.choice(train_idx, size=k, replace=False)] = True
    # users and items are drawn among those with training interactions (a request must
    # remove something)
    users_with = np.unique(user[train])
    items_with = np.unique(item[train])
    if len(users_with) <= spec.forget_users or len(items_with) <= spec.forget_items:
        raise ValueError(
            f"{len(users_with)} users and {len(items_with)} items have training interactions: "
            f"too few for forget_users={spec.forget_users} / forget_items={spec.forget_items}"
        )
    forget_users = sorted(g.choice(users_with, size=spec.forget_users, replace=False).tolist())
    forget_items = sorted(g.choice(items_with, size=spec.forget_items, replace=False).tolist())
    none = np.zeros((0,))
    users_f, items_f, popularity = factors if factors is not None else (none, none, none)
    return InteractionWorld(
        spec=spec,
        user=user,
        item=item,
        timestamp=timestamp,
        split=split,
        forget={
            "interactions": forget_interactions,
            "users": train & np.isin(user, forget_users),
            "items": train & np.isin(item, forget_items),
        },
        forget_users=forget_users,
        forget_items=forget_items,
        user_factors=users_f,
        item_factors=items_f,
        popularity=popularity,
    )


def world_from_interactions(
    data, spec: InteractionSpec | None = None, reference_fraction: float = REFERENCE_FRACTION
) -> InteractionWorld:
    """Real interactions (an :class:`~unlearnkit.data.interactions.InteractionData`, e.g.
    from :func:`~unlearnkit.data.interactions.load_movielens`) as an interaction world: the
    same per-user splits by timestamp and the same three forget requests, drawn with
    ``spec``'s fractions, counts and seed (its sizes are the data's; no latent factors).
    The forget requests are chosen among the users and items with training interactions;
    each user keeps at least one training interaction when they have two or more.

    reference_fraction: the share of the training period (the interactions before each
    user's validation and test ones) held out as the ``reference`` split, a uniform random
    sample that no model trains on. Real timelines drift (a user's latest interactions are
    not like their earlier ones), so the held-out test interactions are no fair stand-in
    for a removed training interaction: the membership attack compares the removed
    interactions with this sample of the same period instead (an exact oracle then scores
    0.5 in expectation). 0 holds nothing out (the test interactions are the reference, as
    in the generated world, whose timelines are random orders)."""
    if not 0 <= reference_fraction < 0.5:
        raise ValueError(
            f"reference_fraction must be in [0, 0.5) (a share of the training period), got "
            f"{reference_fraction}"
        )
    base = spec or InteractionSpec()
    n_users, n_items = int(data.n_users), int(data.n_items)
    if n_users < 10 or n_items < 10:
        raise ValueError(
            f"the data has {n_users} users and {n_items} items; a recommender experiment "
            "needs at least 10 of each"
        )
    if n_users <= base.forget_users or n_items <= base.forget_items:
        raise ValueError(
            f"the data has {n_users} users and {n_items} items: not more than the forget "
            f"request's {base.forget_users} users / {base.forget_items} items; lower "
            "forget_users / forget_items"
        )
    sized = base.replace(
        n_users=n_users,
        n_items=n_items,
        interactions_per_user=min(base.interactions_per_user, n_items - 1),
    )
    return _split_and_request(
        sized,
        np.asarray(data.user, dtype=np.int64),
        np.asarray(data.item, dtype=np.int64),
        np.asarray(data.timestamp, dtype=np.int64),
        reference_fraction=reference_fraction,
    )


__all__ = [
    "INTERACTION_PRESETS",
    "REFERENCE_FRACTION",
    "REQUEST_KINDS",
    "SPLITS",
    "InteractionSpec",
    "InteractionWorld",
    "generate_interactions",
    "interaction_preset",
    "reference_sample",
    "world_from_interactions",
]
