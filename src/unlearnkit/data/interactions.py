"""Interaction data in the MovieLens layout: one rating per line, ``user, item, rating,
timestamp``, comma- or tab-separated with or without a header (``ratings.csv`` of
ml-latest / ml-25m) or ``::``-separated without one (``ratings.dat`` of ml-1m).

:func:`load_movielens` converts explicit ratings to implicit feedback (a rating ≥
``threshold`` is a positive interaction), renumbers users and items densely (keeping the
original ids), and checks what recommenders rely on, naming the line of any problem: a
malformed line or value, the same (user, item) twice, and users left with no positive
interaction (an empty user cannot be evaluated; ``drop_empty_users=True`` drops them
instead). :func:`map_ids` turns original ids into dense ones and fails on unknown ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unlearnkit.core.errors import DataValidationError


@dataclass(frozen=True)
class InteractionData:
    """Implicit interactions with dense ids. user / item / timestamp / rating: (M,) arrays;
    user_ids / item_ids: dense id -> the file's id."""

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    rating: np.ndarray
    user_ids: list[str]
    item_ids: list[str]
    source: str = ""

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def _split_line(line: str, sep: str | None) -> list[str]:
    if sep is not None:
        return line.split(sep)
    for candidate in ("::", "\t", ","):
        if candidate in line:
            return line.split(candidate)
    return line.split()


def load_movielens(
    path: str | Path,
    *,
    sep: str | None = None,
    threshold: float = 4.0,
    drop_empty_users: bool = False,
) -> InteractionData:
    """Positive interactions of a MovieLens-style ratings file (see the module doc).

    sep: the separator (default: detected per line among ``::``, tab and comma).
    threshold: the smallest rating that counts as an interaction (0 keeps every rating).
    """
    file = Path(path)
    if not file.is_file():
        raise DataValidationError("no such ratings file", file=str(file))
    lines = file.read_text(encoding="utf-8").splitlines()
    rows: list[tuple[str, str, float, int]] = []
    seen: dict[tuple[str, str], int] = {}
    first = True
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in _split_line(line, sep)]
        if first and parts and parts[0].lower() in ("userid", "user_id", "user"):
            first = False
            continue  # a header
        first = False
        if len(parts) < 3:
            raise DataValidationError(
                f"line {lineno}: expected user, item, rating[, timestamp]; got {line!r}",
                file=str(file),
            )
        user, item = parts[0], parts[1]
        try:
            rating = float(parts[2])
            stamp = int(float(parts[3])) if len(parts) > 3 and parts[3] else lineno
        except ValueError:
            raise DataValidationError(
                f"line {lineno}: rating / timestamp must be numbers; got {parts[2:4]}",
                file=str(file),
            ) from None
        key = (user, item)
        if key in seen:
            raise DataValidationError(
                f"line {lineno}: user {user!r} rated item {item!r} already on line {seen[key]} "
                "(duplicate rows; keep one rating per pair)",
                file=str(file),
            )
        seen[key] = lineno
        rows.append((user, item, rating, stamp))
    if not rows:
        raise DataValidationError("the ratings file has no ratings", file=str(file))
    users = list(dict.fromkeys(r[0] for r in rows))
    positives = [r for r in rows if r[2] >= threshold]
    kept_users = set(r[0] for r in positives)
    empty = [u for u in users if u not in kept_users]
    if empty and not drop_empty_users:
        shown = ", ".join(repr(u) for u in empty[:5])
        raise DataValidationError(
            f"{len(empty)} user(s) have no rating >= {threshold} (e.g. {shown}): they would "
            "have no interaction to train or evaluate on; lower threshold or pass "
            "drop_empty_users=True",
            file=str(file),
        )
    user_ids = [u for u in users if u in kept_users]
    item_ids = list(dict.fromkeys(r[1] for r in positives))
    u_index = {u: i for i, u in enumerate(user_ids)}
    i_index = {it: i for i, it in enumerate(item_ids)}
    return InteractionData(
        user=np.asarray([u_index[r[0]] for r in positives], dtype=np.int64),
        item=np.asarray([i_index[r[1]] for r in positives], dtype=np.int64),
        timestamp=np.asarray([r[3] for r in positives], dtype=np.int64),
        rating=np.asarray([r[2] for r in positives], dtype=np.float64),
        user_ids=user_ids,
        item_ids=item_ids,
        source=str(file),
    )


def map_ids(ids: Sequence[str], known: Sequence[str], what: str) -> np.ndarray:
    """Dense indices of ``ids`` among ``known`` (the data's original ids); an id the data
    does not have (a forget request naming an unknown user) is an error naming it."""
    index = {k: i for i, k in enumerate(known)}
    missing = [i for i in ids if i not in index]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise DataValidationError(
            f"unknown {what} id(s): {shown} ({len(missing)} in all; the data has {len(known)})"
        )
    return np.asarray([index[i] for i in ids], dtype=np.int64)


__all__ = ["InteractionData", "load_movielens", "map_ids"]
