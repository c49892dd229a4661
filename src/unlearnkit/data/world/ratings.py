"""A generated explicit-ratings file in MovieLens-100K's ``u.data`` layout (``user \\t item
\\t rating \\t timestamp``, 1-based ids, lines in no particular order) whose preferences
drift over time, as real rating logs do: a stand-in for MovieLens when the real file is not
at hand, sized like it by default (943 users × 1,682 items, 100,000 ratings).

Each user has a taste that moves along their timeline, rates a heavy-tailed number of
items (at least ``min_per_user``) during an activity window inside the data's period, and
the ratings follow MovieLens-100K's marginal distribution (1-5 stars: 6 / 11 / 27 / 34 /
21%, so about 55% are ≥ 4), popular items rated higher (``quality``). Three kinds of
drift, each scaled by ``drift`` (0: none, the timeline is a random order of the user's
items):

* **on-boarding**: early ratings lean to popular items (MovieLens asks a new user to rate
  well-known films first), later ones to the user's own niche: the popularity weight falls
  from (1 + drift · onboarding) · popularity at the start of a timeline to
  (1 − drift · onboarding) · popularity at its end;
* **taste**: the user's latent taste turns from a start vector towards an end vector (an
  angle of drift · ``turn`` degrees) along the timeline;
* **releases**: a share drift · ``new_items`` of the items is released during the period
  (only after its release can an item be rated), so late activity meets new items.

The defaults (onboarding 0.25, turn 22.5°, new_items 0.1) were set so that on the
default-sized file an exact oracle (BPR-MF) tells removed training interactions from each
user's latest, held-out ones with a membership AUC of 0.68, as measured on the real
MovieLens-100K (issue 18).

The items of a user are drawn without replacement (Gumbel top-k, i.e. Plackett-Luce) in
``segments`` consecutive parts of the timeline, each with the taste, popularity weight and
catalogue of its time, from the items the earlier parts left (in random order within a
part). With ``drift=0`` the user's timestamps are shuffled over their items, so that any
interaction is as likely early as late. The same spec (seed included) gives the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError
from unlearnkit.core.seeding import derive_seed

#: MovieLens-100K's share of 1, 2, 3, 4 and 5 stars
ML100K_RATING_SHARES: tuple[float, ...] = (0.0611, 0.1137, 0.2715, 0.3417, 0.2120)
#: MovieLens-100K's first and last timestamps (1997-09-20, 1998-04-22)
ML100K_PERIOD: tuple[int, int] = (874_724_710, 893_286_638)


@dataclass(frozen=True)
class RatingsSpec(Config):
    """What the generated ratings file holds (see the module doc). Same spec ⇒ same file.

    n_users / n_items / n_ratings: sizes (every user rates at least min_per_user items).
    n_factors / temperature: the latent tastes and the sharpness of choices. popularity:
    weight of the items' Zipf-like popularity. quality: how much an item's popularity (and
    its own noise) lifts its ratings. drift: strength of the three drifts (0 none, 1 the
    MovieLens-like default); onboarding: how far the popularity weight moves along a
    timeline; turn: the taste's turn in degrees; new_items: share of items released during
    the period. segments: parts of a timeline drawn with one taste each. start / end: the
    period's Unix timestamps (MovieLens-100K's by default).
    """

    seed: int = 0
    n_users: int = param(943, ge=10)
    n_items: int = param(1682, ge=10)
    n_ratings: int = param(100_000, ge=100)
    min_per_user: int = param(20, ge=2)
    n_factors: int = param(16, ge=1)
    temperature: float = param(1.0, gt=0)
    popularity: float = param(1.0, ge=0)
    quality: float = param(1.0, ge=0)
    drift: float = param(1.0, ge=0, le=1)
    onboarding: float = param(0.25, ge=0, le=1)
    turn: float = param(22.5, ge=0, le=180)
    new_items: float = param(0.1, ge=0, lt=1)
    segments: int = param(8, ge=1)
    start: int = ML100K_PERIOD[0]
    end: int = ML100K_PERIOD[1]

    def validate(self) -> None:
        if self.end <= self.start:
            self.fail("end", self.end, f"after start ({self.start})")
        if self.n_users * self.min_per_user > self.n_ratings:
            self.fail(
                "n_ratings",
                self.n_ratings,
                f"at least n_users × min_per_user ({self.n_users * self.min_per_user})",
            )
        if self.n_ratings > self.n_users * (self.n_items // 2):
            self.fail(
                "n_ratings",
                self.n_ratings,
                f"at most n_users × n_items / 2 ({self.n_users * (self.n_items // 2)}): "
                "users rate at most half of the items",
            )


RATINGS_PRESETS: dict[str, Callable[[], RatingsSpec]] = {
    "ml-100k": lambda: RatingsSpec(),
    "test": lambda: RatingsSpec(n_users=100, n_items=300, n_ratings=4000, min_per_user=20),
}


def ratings_preset(name: str) -> RatingsSpec:
    """The :class:`RatingsSpec` of a named preset (``ml-100k``, ``test``)."""
    if name not in RATINGS_PRESETS:
        raise UnknownNameError("ratings preset", name, RATINGS_PRESETS)
    return RATINGS_PRESETS[name]()


@dataclass(frozen=True)
class Ratings:
    """Generated ratings, one row each: user / item (0-based), rating (1-5), timestamp
    (Unix seconds), in the file's (shuffled) order."""

    spec: RatingsSpec
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def write(self, path: str | Path) -> Path:
        """Write the MovieLens ``u.data`` layout (tab-separated, 1-based ids, no header)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            f"{u + 1}\t{i + 1}\t{r}\t{t}"
            for u, i, r, t in zip(
                self.user.tolist(),
                self.item.tolist(),
                self.rating.tolist(),
                self.timestamp.tolist(),
                strict=True,
            )
        ]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return out


def _rng(spec: RatingsSpec, *keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(spec.seed, "ratings", *keys))


def user_counts(spec: RatingsSpec, rng: np.random.Generator) -> np.ndarray:
    """How many items each user rates: heavy-tailed (log-normal, σ = 1), at least
    min_per_user, at most half the items, summing to exactly n_ratings."""
    cap = spec.n_items // 2
    weights = rng.lognormal(0.0, 1.0, spec.n_users)
    counts = np.full(spec.n_users, spec.min_per_user, dtype=np.int64)
    left = spec.n_ratings - int(counts.sum())
    while left > 0:
        room = counts < cap
        share = np.where(room, weights, 0.0)
        extra = np.floor(share / share.sum() * left).astype(np.int64)
        if extra.sum() == 0:  # the remainder, one each to the heaviest users with room
            order = np.argsort(-share, kind="stable")[:left]
            extra[order] = 1
        counts = np.minimum(counts + extra, cap)
        left = spec.n_ratings - int(counts.sum())
    return counts


def _stars(latent: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    """1-5 stars cutting ``latent`` at the quantiles of ``shares`` (the lowest first)."""
    cuts = np.quantile(latent, np.cumsum(shares)[:-1])
    return np.searchsorted(cuts, latent, side="right").astype(np.int64) + 1


def generate_ratings(spec: RatingsSpec) -> Ratings:
    """Draw the ratings of ``spec`` (deterministic; see the module doc)."""
    g = _rng(spec, "latent")
    d = spec.n_factors
    scale = 2.0 / np.sqrt(np.sqrt(d))
    items = g.normal(0.0, 1.0, (spec.n_items, d)) * scale
    taste_a = g.normal(0.0, 1.0, (spec.n_users, d)) * scale
    taste_b = g.normal(0.0, 1.0, (spec.n_users, d)) * scale
    ranks = g.permutation(spec.n_items) + 1
    popularity = -np.log(ranks)
    popularity -= popularity.mean()
    # release time of each item as a share of the period (0: available from the start)
    release = np.where(
        g.random(spec.n_items) < spec.new_items * spec.drift, g.random(spec.n_items), 0.0
    )
    bias = g.normal(0.0, 0.5, spec.n_users)
    # popular items are rated higher (as in MovieLens): a quality tied to popularity
    quality = spec.quality * (popularity / popularity.std() + g.normal(0.0, 1.0, spec.n_items))

    g = _rng(spec, "users")
    counts = user_counts(spec, g)
    period = spec.end - spec.start
    # activity windows: most users rate within days, some over months (log-uniform spans)
    span = np.exp(g.uniform(np.log(3600.0), np.log(period), spec.n_users))
    begin = g.uniform(0.0, 1.0, spec.n_users) * (period - span)

    angle = spec.drift * np.radians(spec.turn)
    rows_u, rows_i, rows_t, rows_l = [], [], [], []
    for u in range(spec.n_users):
        n = int(counts[u])
        times = np.sort(g.uniform(0.0, 1.0, n))  # positions along the user's window
        # the end taste: the start one turned by `angle` towards an independent direction
        a, b = taste_a[u], taste_b[u]
        b = b - (a @ b) / (a @ a) * a
        b = b / np.linalg.norm(b) * np.linalg.norm(a)
        chosen = np.zeros(spec.n_items, dtype=bool)
        parts = np.array_split(np.arange(n), min(spec.segments, n))
        for part in parts:
            p = float(times[part].mean())  # the segment's place in the timeline
            taste = np.cos(angle * p) * a + np.sin(angle * p) * b
            now = (begin[u] + p * span[u]) / period
            weight = spec.popularity * (1.0 + spec.drift * spec.onboarding * (1.0 - 2.0 * p))
            logits = items @ taste / spec.temperature + weight * popularity
            open_ = ~chosen & (release <= now)
            if open_.sum() < len(part):  # not enough released items yet: take any
                open_ = ~chosen
            keys = np.where(open_, logits + g.gumbel(size=spec.n_items), -np.inf)
            pick = np.argsort(-keys, kind="stable")[: len(part)]
            chosen[pick] = True
            order = g.permutation(pick)  # in random order within the segment
            rows_u.extend([u] * len(part))
            rows_i.extend(order.tolist())
            rows_t.extend((begin[u] + times[part] * span[u]).tolist())
            # how much the user likes the item now: taste fit + user bias + noise
            rows_l.extend(
                (
                    items[order] @ taste + quality[order] + bias[u] + g.normal(0, 0.7, len(part))
                ).tolist()
            )
    user = np.asarray(rows_u, dtype=np.int64)
    item = np.asarray(rows_i, dtype=np.int64)
    stamp = np.asarray(rows_t, dtype=np.float64)
    if spec.drift == 0:  # no drift: the timeline is a random order of the user's items
        for u in range(spec.n_users):
            mine = np.flatnonzero(user == u)
            stamp[mine] = g.permutation(stamp[mine])
    stars = _stars(np.asarray(rows_l), ML100K_RATING_SHARES)
    shuffle = _rng(spec, "lines").permutation(len(user))
    return Ratings(
        spec=spec,
        user=user[shuffle],
        item=item[shuffle],
        rating=stars[shuffle],
        timestamp=(spec.start + np.round(stamp)).astype(np.int64)[shuffle],
    )


def write_ratings(spec: RatingsSpec, path: str | Path) -> Path:
    """Generate the ratings of ``spec`` and write them to ``path`` (``u.data`` layout)."""
    return generate_ratings(spec).write(path)


__all__ = [
    "ML100K_PERIOD",
    "ML100K_RATING_SHARES",
    "RATINGS_PRESETS",
    "Ratings",
    "RatingsSpec",
    "generate_ratings",
    "ratings_preset",
    "user_counts",
    "write_ratings",
]
