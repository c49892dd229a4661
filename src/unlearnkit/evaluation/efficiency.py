"""What unlearning cost, next to what retraining the oracle cost.

Unlearning has to be much cheaper than retraining from scratch or it has no reason to
exist; :func:`efficiency` puts the method's record (wall time, peak memory, steps,
parameters changed) beside the oracle's training record and gives the ratios.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.errors import UnlearnkitError


@dataclass(frozen=True)
class Efficiency:
    """Cost of one unlearning run, and of retraining (None where unknown)."""

    wall_time_s: float
    peak_memory_mb: float
    steps: int
    parameters_changed: int
    parameters_total: int
    oracle_wall_time_s: float | None = None
    oracle_peak_memory_mb: float | None = None
    oracle_steps: int | None = None

    @property
    def fraction_changed(self) -> float:
        """Share of the model's parameters whose value moved."""
        return self.parameters_changed / self.parameters_total if self.parameters_total else 0.0

    @property
    def time_fraction_of_retraining(self) -> float:
        """Unlearning wall time / the oracle's training wall time (NaN when unknown)."""
        if not self.oracle_wall_time_s:
            return math.nan
        return self.wall_time_s / self.oracle_wall_time_s

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "fraction_changed": self.fraction_changed,
            "time_fraction_of_retraining": self.time_fraction_of_retraining,
        }


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


def efficiency(record: Any, oracle_cost: Mapping[str, Any] | None = None) -> Efficiency:
    """The cost of the run in ``record`` beside the oracle's training cost."""
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
    return Efficiency(
        wall_time_s=float(rec["wall_time_s"]),
        peak_memory_mb=float(rec["peak_memory_mb"]),
        steps=int(rec["steps"]),
        parameters_changed=int(rec["parameters_changed"]),
        parameters_total=int(rec.get("parameters_total", 0)),
        oracle_wall_time_s=float(oc["wall_time_s"]) if "wall_time_s" in oc else None,
        oracle_peak_memory_mb=float(oc["peak_memory_mb"]) if "peak_memory_mb" in oc else None,
        oracle_steps=int(oc["steps"]) if "steps" in oc else None,
    )
