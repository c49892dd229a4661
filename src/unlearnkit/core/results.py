"""Result types: per-example values are the currency; the aggregate is derived from them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from unlearnkit.core.errors import UnlearnkitError

Reducer = Callable[[Sequence[float]], float]


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean, NaN values counted as missing (NaN when all are); an infinite
    value is a real value and makes the mean infinite."""
    present = [v for v in values if not math.isnan(v)]
    return sum(present) / len(present) if present else math.nan


@dataclass(frozen=True)
class Result:
    """One metric (or attack) on one model and one data split.

    ``values[i]`` belongs to the example ``ids[i]``; ``aggregate`` is derived from ``values``
    (by ``reduce``, default :func:`mean`) unless the metric defines a different aggregate
    (a KS p-value, an AUC), in which case it is passed explicitly.
    """

    name: str
    values: tuple[float, ...]
    aggregate: float
    higher_is_better: bool
    ids: tuple[str, ...] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: confidence interval of ``aggregate`` (low, high), e.g. a 95% bootstrap interval
    ci: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.ids is not None and len(self.ids) != len(self.values):
            raise UnlearnkitError(
                f"Result {self.name!r}: {len(self.ids)} ids for {len(self.values)} values; "
                "give one id per example"
            )
        if self.ids is not None and len(set(self.ids)) != len(self.ids):
            seen: set[str] = set()
            dup = next(i for i in self.ids if i in seen or seen.add(i))
            raise UnlearnkitError(f"Result {self.name!r}: example id {dup!r} appears twice")

    @property
    def n_missing(self) -> int:
        """Examples whose value is NaN (not measurable), left out of the mean."""
        return sum(math.isnan(v) for v in self.values)

    @classmethod
    def from_values(
        cls,
        name: str,
        values: Sequence[float],
        *,
        higher_is_better: bool,
        ids: Sequence[str] | None = None,
        reduce: Reducer = mean,
        aggregate: float | None = None,
        config: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Result:
        vals = tuple(float(v) for v in values)
        agg = float(reduce(vals)) if aggregate is None else float(aggregate)
        return cls(
            name=name,
            values=vals,
            aggregate=agg,
            higher_is_better=higher_is_better,
            ids=tuple(str(i) for i in ids) if ids is not None else None,
            config=dict(config or {}),
            extra=dict(extra or {}),
        )

    def __len__(self) -> int:
        return len(self.values)

    def with_ci(self, low: float, high: float) -> Result:
        """This result with the confidence interval ``(low, high)`` of its aggregate."""
        return replace(self, ci=(float(low), float(high)))

    def by_id(self) -> dict[str, float]:
        if self.ids is None:
            raise UnlearnkitError(f"Result {self.name!r} has no example ids")
        return dict(zip(self.ids, self.values, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aggregate": _json_float(self.aggregate),
            "higher_is_better": self.higher_is_better,
            "values": [_json_float(v) for v in self.values],
            "ids": list(self.ids) if self.ids is not None else None,
            "config": dict(self.config),
            "extra": dict(self.extra),
            "ci": [_json_float(v) for v in self.ci] if self.ci is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            name=data["name"],
            values=tuple(_from_json_float(v) for v in data["values"]),
            aggregate=_from_json_float(data["aggregate"]),
            higher_is_better=bool(data["higher_is_better"]),
            ids=tuple(data["ids"]) if data.get("ids") is not None else None,
            config=dict(data.get("config") or {}),
            extra=dict(data.get("extra") or {}),
            ci=tuple(_from_json_float(v) for v in data["ci"])  # type: ignore[arg-type]
            if data.get("ci") is not None
            else None,
        )


def _json_float(v: float) -> float | str:
    # JSON has no NaN/inf; keep them as strings so files stay strict JSON.
    return v if math.isfinite(v) else str(v)


def _from_json_float(v: float | str) -> float:
    return float(v)
