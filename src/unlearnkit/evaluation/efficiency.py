"""What unlearning cost, next to what retraining the oracle cost.

Unlearning has to be much cheaper than retraining from scratch or it has no reason to
exist; :func:`efficiency` puts the method's record (wall time, peak memory, steps,
parameters changed) beside the oracle's training record and gives the ratios. Where the
oracle's cost is unknown (a model someone else trained has no ``build.json``), the ratio is
None and :attr:`Efficiency.oracle_cost_note` says why: a report is strict JSON, never NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.errors import UnlearnkitError

#: Why the retraining fraction is unknown when no training record of the oracle was found.
NO_ORACLE_COST = (
    "the oracle's training cost is unknown: no training record was given (oracle_cost=...) "
    "and none was found (a build.json beside or above the oracle's model directory, as "
    "unlearnkit writes for the oracles it trains)"
)


@dataclass(frozen=True)
class Efficiency:
    """Cost of one unlearning run, and of retraining (None where unknown).

    oracle_cost_note: why the retraining figures are None (None when they are known)."""

    wall_time_s: float
    peak_memory_mb: float
    steps: int
    parameters_changed: int
    parameters_total: int
    oracle_wall_time_s: float | None = None
    oracle_peak_memory_mb: float | None = None
    oracle_steps: int | None = None
    oracle_cost_note: str | None = None

    @property
    def fraction_changed(self) -> float:
        """Share of the model's parameters whose value moved."""
        return self.parameters_changed / self.parameters_total if self.parameters_total else 0.0

    @property
    def time_fraction_of_retraining(self) -> float | None:
        """Unlearning wall time / the oracle's training wall time (None when unknown)."""
        if not self.oracle_wall_time_s or not math.isfinite(self.oracle_wall_time_s):
            return None
        return self.wall_time_s / self.oracle_wall_time_s

    @property
    def time_fraction_note(self) -> str | None:
        """Why :attr:`time_fraction_of_retraining` is None (None when it is known)."""
        if self.time_fraction_of_retraining is not None:
            return None
        if self.oracle_cost_note:
            return self.oracle_cost_note
        return (
            "the oracle's training record has no usable wall time "
            f"(oracle_wall_time_s={self.oracle_wall_time_s!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data: a non-finite number becomes None."""
        out = {
            **asdict(self),
            "fraction_changed": self.fraction_changed,
            "time_fraction_of_retraining": self.time_fraction_of_retraining,
            "time_fraction_note": self.time_fraction_note,
        }
        return {k: _finite_or_none(v) for k, v in out.items()}


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UnlearnkitError(f"cannot read the record {str(path)!r}: {exc}") from exc


def load_record(record: Any) -> dict[str, Any]:
    """An unlearning record as a dict: an UnlearnRecord, a mapping, a ``record.json`` path,
    or the output directory of ``unlearnkit unlearn`` (which holds ``record.json``)."""
    if hasattr(record, "to_dict"):
        return record.to_dict()
    if isinstance(record, Mapping):
        return dict(record)
    path = Path(record)
    if path.is_dir():
        for candidate in (path / "record.json", path.parent / "record.json"):
            if candidate.is_file():
                return _read_json(candidate)
        raise UnlearnkitError(f"no record.json in {str(path)!r} or its parent")
    return _read_json(path)


def oracle_training_cost(oracle_dir: str | Path) -> dict[str, Any] | None:
    """The oracle's training record (``build.json`` beside or above its model directory, as
    the demo build writes it), or None when there is none."""
    path = Path(oracle_dir)
    for candidate in (path / "build.json", path.parent / "build.json"):
        if candidate.is_file():
            rec = _read_json(candidate).get("train_record")
            if isinstance(rec, Mapping):
                return dict(rec)
    return None


def efficiency(
    record: Any,
    oracle_cost: Mapping[str, Any] | None = None,
    *,
    no_cost_note: str | None = None,
) -> Efficiency:
    """The cost of the run in ``record`` beside the oracle's training cost (``oracle_cost``,
    None when unknown: the retraining figures are then None, and ``no_cost_note`` — or a
    default that names the missing ``build.json`` — says why)."""
    rec = load_record(record)
    missing = [
        k for k in ("wall_time_s", "peak_memory_mb", "steps", "parameters_changed") if k not in rec
    ]
    if missing:
        raise UnlearnkitError(
            f"the unlearning record lacks {', '.join(missing)}; give the record.json that "
            "`unlearnkit unlearn` wrote (or the UnlearnRecord that unlearn() returned)"
        )
    oc = dict(oracle_cost or {})
    note = None if oracle_cost is not None else no_cost_note or NO_ORACLE_COST
    return Efficiency(
        wall_time_s=float(rec["wall_time_s"]),
        peak_memory_mb=float(rec["peak_memory_mb"]),
        steps=int(rec["steps"]),
        parameters_changed=int(rec["parameters_changed"]),
        parameters_total=int(rec.get("parameters_total", 0)),
        oracle_wall_time_s=float(oc["wall_time_s"]) if "wall_time_s" in oc else None,
        oracle_peak_memory_mb=float(oc["peak_memory_mb"]) if "peak_memory_mb" in oc else None,
        oracle_steps=int(oc["steps"]) if "steps" in oc else None,
        oracle_cost_note=note,
    )
