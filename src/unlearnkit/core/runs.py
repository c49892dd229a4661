"""A run's files, as every family writes them and the report reads them.

``RUNS/<name>/<run id>/`` holds ``spec.yaml``, ``status.json`` (how the last invocation
went: :func:`run_status`), ``results.json`` (one :class:`Row` per model: target, oracle,
method × seed; the layout is ``runner/schemas/run_results.schema.json``, the same for every
family, with the family's name in ``family``) and the reports the rows point to.
``RUNS/index.json`` lists every run (:func:`read_runs_index`, :func:`update_index`).

This module is the contract between the runner, which writes these files, and the report,
which reads them: it knows no family, metric or model.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from unlearnkit.core.cache import content_hash
from unlearnkit.core.errors import RunFailedError, UnlearnkitError
from unlearnkit.core.io import atomic_write_json, pid_alive, strict_json

RESULTS_KIND = "unlearnkit.run"
RESULTS_VERSION = 1
#: the family of a results file written before results named theirs (language-model runs)
LEGACY_FAMILY = "lm"


@dataclass
class Row:
    """One model of a run: the target, the oracle, or a method with a seed."""

    label: str
    kind: str  # "target" | "oracle" | "method"
    method: str | None
    seed: int | None
    metrics: dict[str, float]
    ci: dict[str, list[float] | None]
    report: str
    model_dir: str
    efficiency: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    paper: str | None = None
    audit: dict[str, float] | None = None  # the audit's summary row, when audited
    audit_report: str | None = None
    sequence: list[dict[str, Any]] | None = None  # the sequential requests' history
    sequence_report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "method": self.method,
            "seed": self.seed,
            "metrics": {k: _jf(v) for k, v in self.metrics.items()},
            "ci": {k: [_jf(x) for x in v] if v else None for k, v in self.ci.items()},
            "report": self.report,
            "model_dir": self.model_dir,
            "efficiency": self.efficiency,
            "config": self.config,
            "paper": self.paper,
            "audit": {k: _jf(v) for k, v in self.audit.items()} if self.audit else None,
            "audit_report": self.audit_report,
            "sequence": strict_json(self.sequence) if self.sequence is not None else None,
            "sequence_report": self.sequence_report,
        }


def _jf(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def run_id(spec: Any) -> str:
    """A run's id: a content hash of its spec (the same spec re-run lands in the same place)."""
    return content_hash(spec.to_dict(), length=10)


def run_folder(spec: Any, runs_dir: str | Path) -> Path:
    """``RUNS/<name>/<run id>``: where a run of ``spec`` (any family's) is written."""
    return Path(runs_dir) / spec.name / run_id(spec)


def slug(label: str) -> str:
    """A row label as a file name (reports, audits, sequences of the row)."""
    return "".join(c if c.isalnum() or c in "-_+" else "_" for c in label)


STATUS_FILE = "status.json"
STATUS_KIND = "unlearnkit.run-status"


@contextlib.contextmanager
def run_status(run_dir: str | Path, spec: Any = None) -> Iterator[None]:
    """Keep ``RUN_DIR/status.json`` true while the body runs a run into ``run_dir``.

    Before: ``running`` (with this process's pid), the spec written to ``spec.yaml`` and a
    ``results.json`` left by an earlier invocation removed (the folder describes this one).
    After: ``ok``; or, when the body raises (Ctrl-C included), ``failed`` with the error's
    type, message and traceback, and the error is raised on. :func:`load_results` on a
    failed run raises :class:`RunFailedError` saying why.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    base = {"kind": STATUS_KIND, "version": 1, "started": started, "pid": os.getpid()}
    if spec is not None:
        spec.to_yaml(run_dir / "spec.yaml")
    (run_dir / "results.json").unlink(missing_ok=True)
    atomic_write_json(run_dir / STATUS_FILE, {**base, "status": "running"})
    try:
        yield
    except BaseException as exc:
        message = " ".join(str(exc).split()) or (
            "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else ""
        )
        failed = {
            **base,
            "status": "failed",
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_time_s": time.perf_counter() - t0,
            "error": {
                "type": type(exc).__name__,
                "message": message,
                "traceback": "".join(traceback.format_exception(exc))[-20000:],
            },
        }
        # best effort: a full or read-only disk must not hide the error being reported
        with contextlib.suppress(OSError):
            atomic_write_json(run_dir / STATUS_FILE, failed)
        raise
    atomic_write_json(
        run_dir / STATUS_FILE,
        {
            **base,
            "status": "ok",
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_time_s": time.perf_counter() - t0,
        },
    )


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """A run directory's ``status.json`` (None when absent or unreadable)."""
    try:
        data = json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == STATUS_KIND else None


INDEX_FILE = "index.json"
INDEX_KIND = "unlearnkit.runs"


class RunsIndexError(UnlearnkitError, ValueError):
    """``RUNS/index.json`` cannot be read as the runs index ``unlearnkit run`` writes.

    path: the file. problem: what is wrong with it, in words."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(
            f"the runs index {path} is damaged: {problem}. Delete it (or move it away): the "
            "next `unlearnkit run` writes a new one, and rerunning a spec lists that run "
            "again (everything is reused from the cache); the run folders are untouched"
        )


def read_runs_index(runs_dir: str | Path) -> list[dict[str, Any]]:
    """The entries of ``RUNS/index.json``, each a dict with the strings ``run_dir``,
    ``name`` and ``id``; ``[]`` when there is no index.

    Raises :class:`RunsIndexError` naming the file when it is not UTF-8, not JSON, not the
    ``{"kind": "unlearnkit.runs", "runs": [...]}`` object runs write, or has an entry
    without those strings; a folder that cannot be read raises its ``OSError``."""
    path = Path(runs_dir) / INDEX_FILE
    if not path.is_file():
        return []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunsIndexError(
            path, f"it is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        index = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunsIndexError(path, f"it is not JSON ({exc}; cut short?)") from None
    if not isinstance(index, dict) or index.get("kind", INDEX_KIND) != INDEX_KIND:
        raise RunsIndexError(path, f"it is not an unlearnkit runs index (kind {INDEX_KIND!r})")
    entries = index.get("runs")
    if not isinstance(entries, list):
        raise RunsIndexError(path, "its 'runs' is not a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) and entry[k] for k in ("run_dir", "name", "id")
        ):
            raise RunsIndexError(path, f"its run {i + 1} lacks a run_dir, name or id (strings)")
    return entries


def update_index(
    runs_dir: str | Path,
    run_dir: Path,
    name: str,
    rows: Sequence[Row],
    headline: Sequence[tuple[str, str]],
) -> None:
    """``RUNS/index.json``: one entry per run directory (latest invocation wins)."""
    index_path = Path(runs_dir) / INDEX_FILE
    try:
        listed = read_runs_index(runs_dir)
    except RunsIndexError as exc:  # after the run's work: replace the index, do not fail
        warnings.warn(
            f"the runs index {index_path} is damaged ({exc.problem}); it is replaced by one "
            "that lists this run (the other run folders are untouched, and rerunning their "
            "specs lists them again)",
            stacklevel=2,
        )
        listed = []
    runs = {r["run_dir"]: r for r in listed}
    runs[str(run_dir)] = {
        "run_dir": str(run_dir),
        "name": name,
        "id": run_dir.name,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "methods": [r.label for r in rows if r.kind == "method"],
        "headline": {
            r.label: {k: _jf(r.metrics.get(k, math.nan)) for _, k in headline} for r in rows
        },
    }
    atomic_write_json(index_path, {"kind": INDEX_KIND, "runs": list(runs.values())})


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``results.json``, checked for its kind and version.

    Raises :class:`RunFailedError` when the run failed (with its error) or did not finish,
    and :class:`UnlearnkitError` for a folder that is not a run directory.
    """
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        _no_results(Path(run_dir))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFailedError(
            f"{path} is damaged ({exc}); run the experiment again to rewrite it "
            f"(unlearnkit run {Path(run_dir) / 'spec.yaml'}): everything is reused from the cache"
        ) from None
    if not isinstance(data, dict) or (
        data.get("kind") != RESULTS_KIND or data.get("version") != RESULTS_VERSION
    ):
        raise UnlearnkitError(
            f"{str(path)!r} is not a version-{RESULTS_VERSION} unlearnkit run result"
        )
    data.setdefault("family", LEGACY_FAMILY)
    return data


def _no_results(run_dir: Path) -> NoReturn:
    """Why ``run_dir`` has no ``results.json``, as an error."""
    status = read_status(run_dir)
    again = f"unlearnkit run {run_dir / 'spec.yaml'}"
    if status is None:
        raise UnlearnkitError(f"no results.json in {str(run_dir)!r}: is it a run directory?")
    if status.get("status") == "failed":
        error = status.get("error") or {}
        why = str(error.get("message", "")).rstrip(". ")
        raise RunFailedError(
            f"the run in {run_dir} failed (started {status.get('started')}): "
            f"{error.get('type', 'error')}: {why}. It has no results; fix "
            f"the cause and run it again ({again}): finished work is reused from the cache. "
            f"The traceback is in {run_dir / STATUS_FILE}."
        )
    pid = status.get("pid")
    if status.get("status") == "ok":
        raise RunFailedError(
            f"the run in {run_dir} finished, but its results.json has been removed since; "
            f"run it again ({again}): everything is reused from the cache"
        )
    if status.get("status") == "running" and isinstance(pid, int) and pid_alive(pid):
        raise RunFailedError(
            f"the run in {run_dir} has not finished yet (started {status.get('started')}, "
            f"process {pid}); wait for it, or stop it and run it again ({again})"
        )
    raise RunFailedError(
        f"the run in {run_dir} stopped before it finished (started {status.get('started')}; "
        f"its process {pid} is gone: killed, or the machine stopped) and has no results; run "
        f"it again ({again}): finished work is reused from the cache"
    )


__all__ = [
    "INDEX_FILE",
    "RESULTS_KIND",
    "RESULTS_VERSION",
    "STATUS_FILE",
    "Row",
    "RunsIndexError",
    "load_results",
    "read_runs_index",
    "read_status",
    "run_folder",
    "run_id",
    "run_status",
    "slug",
    "update_index",
]
