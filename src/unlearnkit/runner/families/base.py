"""The family contract: what the one runner (:mod:`unlearnkit.runner.run`) asks of a family.

A family (causal LM, classifier, recommender; vision-language and diffusion next) is one
subclass of :class:`Family`, registered in ``FAMILIES`` under its name, which is also the
``kind:`` of its experiment specs. The runner knows only this contract. It builds one job
graph for every family::

    build:<role>  ──▶  unlearn:<method × seed>  ──▶  eval:<model>  ──▶  row
                   └──────────────────────────────▶  audit:<model> ──┘
                                                     sequence:<model>

and runs it on one scheduler (:mod:`unlearnkit.runner.schedule`), in worker processes when
asked. Each step is a method of the family that builds or reuses one cache entry and
returns where it is (:class:`Step`); a family instance is the per-process state of one run
(its data and loaded models, each loaded when first needed), made in every worker from the
spec and the cache.

A family declares:

- ``name``, ``spec_type`` (a :class:`~unlearnkit.core.config.Config` with ``name``,
  ``methods`` and ``seeds``), ``presets`` (``key=<preset>`` overrides), a description;
- :meth:`headline` (the leaderboard's columns) and :meth:`plots` (the report's figures);
- the steps :meth:`prepare`, :meth:`build`, :meth:`unlearn`, :meth:`evaluate`, and when it
  has them :meth:`audit` and :meth:`sequence`;
- how a report becomes a results row (:meth:`summarise`).
"""

from __future__ import annotations

import copy
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.config import Config
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.registry import Registry
from unlearnkit.runner.spec import MethodSpec, load_family_spec

Log = Callable[[str], None]


@dataclass
class Subject:
    """One model of a run, as its jobs fill it in: the target, the oracle, or a method with
    a seed (``model_dir``, ``record`` and ``config`` once unlearned)."""

    label: str
    kind: str  # "target" | "oracle" | "method"
    model_dir: Path | None = None
    method: MethodSpec | None = None
    seed: int | None = None
    record: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    paper: str | None = None
    report: Path | None = None  # the evaluation report (in the cache)
    audit: Path | None = None  # the audit report, when audited
    sequence: Path | None = None  # the sequential requests' history, when run


@dataclass(frozen=True)
class Step:
    """What one job built or reused: its output ``path``, whether it was built now
    (``fresh``) and the seconds it took (0 when reused)."""

    path: Path
    fresh: bool
    seconds: float


@dataclass(frozen=True)
class Unlearned:
    """An unlearned model in the cache: its ``model_dir``, the method's ``record.json``
    and resolved ``config``, and how it was obtained."""

    model_dir: Path
    record: Path | None
    config: dict[str, Any]
    fresh: bool
    seconds: float


@dataclass(frozen=True)
class Prepared:
    """What a run starts from: the target's and the oracle's model directories (the oracle
    may be None: a real model without one), the roles still to build (each a ``build:``
    job), the roles evaluations wait for besides the oracle (shadow models, retrained
    populations), and what was built or reused while preparing."""

    target_dir: Path
    oracle_dir: Path | None
    missing: tuple[str, ...] = ()
    eval_needs: tuple[str, ...] = ()
    built: Mapping[str, bool] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RowFields:
    """The numbers of one results row: headline-able ``metrics`` (``key -> aggregate``),
    their 95% intervals where computed, and the efficiency figures of a method's row."""

    metrics: dict[str, float]
    ci: dict[str, list[float] | None] = field(default_factory=dict)
    efficiency: dict[str, Any] | None = None


class Family(ABC):
    """One model family's implementation of the run protocol (module docstring).

    An instance is the state of one run in one process: made from the spec and the cache,
    it loads data and models when a step first needs them.
    """

    #: the registry name, also the ``kind:`` of the family's specs
    name: ClassVar[str]
    #: the experiment spec's type
    spec_type: ClassVar[type[Config]]
    #: ``key=<preset name>`` overrides: key -> preset name -> Config
    presets: ClassVar[Mapping[str, Callable[[str], Config]]] = {}
    #: one line for ``unlearnkit list families``
    description: ClassVar[str] = ""
    #: the registered-method family whose methods a spec may name
    method_family: ClassVar[str]
    #: ``key=value`` overrides of the default spec for a run of seconds (tiny data and
    #: models, one short method): the conformance suite runs every family with them
    smoke_overrides: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: Any, cache: Cache) -> None:
        self.spec, self.cache = spec, cache

    # -- the spec ---------------------------------------------------------------------------
    @classmethod
    def load_spec(cls, source: str | Path | None, overrides: Sequence[str] = ()) -> Any:
        """The family's spec from a YAML file (or its shipped default) with ``key=value``
        overrides."""
        return load_family_spec(cls.spec_type, source, list(overrides), dict(cls.presets))

    @classmethod
    @abstractmethod
    def headline(cls, spec: Any) -> tuple[tuple[str, str], ...]:
        """The leaderboard's columns: (label, metric key) pairs."""

    @classmethod
    def presentation(cls, spec: Any) -> dict[str, Any]:
        """How the report shows this family's runs, written into ``results.json`` as
        ``presentation`` so that the report needs no family knowledge:

        - ``plots``: the figures to draw, in order (names of :mod:`unlearnkit.report.plots`'s
          figures: ``fq_vs_mu``, ``frontier``, ``metrics``, ``mia_roc``, ``cost``,
          ``audit_curves``, ``sequence``);
        - ``frontier``: the forgetting-vs-utility scatter, or None: ``forget`` / ``utility``
          (metric keys), ``forget_axis`` / ``utility_axis`` / ``title`` / ``caption``
          (text), ``log`` (forget axis on a log scale);
        - ``log_metrics``: metric keys whose bars use a log scale;
        - ``audit_measure``: what the audit table's numbers are;
        - ``sequence_panels``: (history key, panel title) of the sequential-requests
          figure, and ``sequence_caption``;
        - ``summary``: lines the report's summary shows (the family's data, in words).

        The default is the report's (:data:`unlearnkit.report.tables.BASE_PRESENTATION`):
        metric bars, MIA ROC and cost, nothing else.
        """
        from unlearnkit.report.tables import BASE_PRESENTATION

        return copy.deepcopy(BASE_PRESENTATION)

    @classmethod
    def default_workers(cls, spec: Any) -> int:
        """Processes for a run's independent jobs when the user names none."""
        return 1

    # -- the steps --------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, log: Log) -> Prepared:
        """Locate (and build what is cheap of) the run's inputs; say what is still to build."""

    @abstractmethod
    def build(self, role: str, progress: bool) -> Step:
        """Build or reuse one model (or population) of the run: ``target``, ``oracle``, ..."""

    @abstractmethod
    def unlearn(self, method: MethodSpec, seed: int, progress: bool) -> Unlearned:
        """The target unlearned with ``method`` and ``seed`` (built or reused)."""

    @abstractmethod
    def evaluate(self, subject: Subject) -> Step:
        """The evaluation report of ``subject`` (built or reused)."""

    def audit(self, subject: Subject) -> Step | None:
        """The audit report of ``subject`` when the spec asks for an audit (else None)."""
        return None

    def audits(self) -> bool:
        """Whether the spec asks for an audit of every model."""
        return getattr(self.spec, "audit", None) is not None

    def sequenced(self, subject: Subject) -> bool:
        """Whether ``subject`` is also applied as successive requests (:meth:`sequence`)."""
        return False

    def sequence(self, subject: Subject) -> Step:
        """``subject``'s method applied as successive requests, judged after each. The
        runner asks only for the subjects :meth:`sequenced` names, and by default it names
        none: a family that has successive requests overrides both."""
        raise UnlearnkitError(
            f"the {self.name} family names {subject.label!r} in sequenced() but does not "
            "override Family.sequence(): implement it, or return False from sequenced()"
        )

    def unlearn_order(self) -> list[int]:
        """Each method's rank in the queue (0 first): the longest unlearning first, so that
        short jobs fill the end of a run. Default: the spec's order."""
        return list(range(len(self.spec.methods)))

    def oracle_cost(self) -> dict[str, Any] | None:
        """What retraining the oracle cost (the results' ``oracle_cost``)."""
        return None

    # -- helpers for the steps --------------------------------------------------------------
    def cached(
        self, kind: str, key: Mapping[str, Any], make: Callable[[Path], None], filename: str
    ) -> Step:
        """The cache entry ``kind``/``key`` (``make(tmp)`` writes it when missing) as the
        :class:`Step` of its file ``filename``, with the seconds spent building it."""
        t0 = time.perf_counter()
        path, fresh = self.cache.get_or_build(kind, dict(key), make)
        return Step(path / filename, fresh, time.perf_counter() - t0 if fresh else 0.0)

    # -- the row ----------------------------------------------------------------------------
    def summarise(self, subject: Subject, report: dict[str, Any]) -> RowFields:
        """The row numbers of ``subject`` from its evaluation report (the JSON ``report``):
        every result of ``report["results"]`` (``key -> Result``; a report that groups its
        results for the figures keeps every one under ``"all"``) as ``key -> aggregate``
        with its interval, and the report's ``efficiency``."""
        results = report["results"]
        flat = results["all"] if isinstance(results.get("all"), dict) else results
        return RowFields(
            metrics={k: _aggregate(r) for k, r in flat.items()},
            ci={k: list(r["ci"]) if r.get("ci") else None for k, r in flat.items()},
            efficiency=report.get("efficiency"),
        )

    def audit_summary(self, audit: dict[str, Any]) -> dict[str, float]:
        """The audit's row: one number per attack (the leaderboard's audit table)."""
        return {k: float(v) for k, v in audit["summary"].items()}


def _aggregate(result: Mapping[str, Any]) -> float:
    v = result["aggregate"]
    return float(v)  # "nan" / "inf" strings from strict JSON parse back with float()


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def audit_payload(
    results: Mapping[str, Any], summary: Callable[[Mapping[str, Any]], dict[str, float]]
) -> dict[str, Any]:
    """An audit report as a family writes it: every attack's typed :class:`Result`
    (``results``) and the audit row (``summary``, one number per attack)."""
    return {
        "kind": "unlearnkit.audit",
        "version": 1,
        "results": {k: r.to_dict() for k, r in results.items()},
        "summary": summary(results),
    }


def key_versions() -> dict[str, str]:
    """The library versions a cached model or report of a family depends on (torch and
    unlearnkit), for its cache key."""
    from unlearnkit.evaluation.api import library_versions

    v = library_versions()
    return {"torch": v["torch"], "unlearnkit": v["unlearnkit"]}


def file_hash(path: Path | None) -> str | None:
    """A content hash of a JSON file (a method's record, for an evaluation's key); None
    when there is none."""
    if path is None or not Path(path).is_file():
        return None
    return content_hash(read_json(path))


def efficiency(record: Mapping[str, Any], retrain_s: float) -> dict[str, Any]:
    """A method row's efficiency figures from its ``record.json`` against the seconds
    retraining the oracle took: wall time (without a one-off setup, given separately),
    peak memory, steps, the share of parameters changed, time as a fraction of retraining
    and the speed-up over it."""
    wall = float(record["wall_time_s"])
    total = int(record["parameters_total"])
    changed = int(record["parameters_changed"])
    return {
        "wall_time_s": wall,
        "setup_time_s": float((record.get("details") or {}).get("setup_time_s", 0.0)),
        "peak_memory_mb": float(record["peak_memory_mb"]),
        "steps": int(record["steps"]),
        "parameters_changed": changed,
        "parameters_total": total,
        "fraction_changed": changed / total if total else math.nan,
        "time_fraction_of_retraining": wall / retrain_s if retrain_s else math.nan,
        "speedup": retrain_s / wall if wall > 0 else math.inf,
        "retrain_time_s": retrain_s,
    }


FAMILIES: Registry[type[Family]] = Registry("family")


def family_names() -> list[str]:
    """The registered families' names, every built-in one registered first."""
    import unlearnkit.runner.families  # noqa: F401  (registers the built-in families)

    return FAMILIES.names()


def get_family(name: str) -> type[Family]:
    """The family registered as ``name`` ("did you mean" when unknown)."""
    import unlearnkit.runner.families  # noqa: F401

    return FAMILIES.get(name)


__all__ = [
    "FAMILIES",
    "Family",
    "Prepared",
    "RowFields",
    "Step",
    "Subject",
    "Unlearned",
    "audit_payload",
    "efficiency",
    "family_names",
    "file_hash",
    "get_family",
    "key_versions",
    "read_json",
]
