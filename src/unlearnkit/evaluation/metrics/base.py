"""The metric contract: a config dataclass + a small class, registered by its paper's name.

A metric reads one data split through an :class:`~unlearnkit.evaluation.context.EvalContext`
(which shares teacher-forced passes and generations between metrics) and returns a
:class:`~unlearnkit.core.results.Result`: one value per example, the aggregate,
``higher_is_better``, its config and a 95% bootstrap confidence interval::

    @register_metric("probability", paper="arXiv:2401.06121")
    class Probability(Metric):
        config_class = ProbabilityConfig
        higher_is_better = True

        def compute(self, ctx, split, *, oracle=None): ...

Metrics that compare with the retrain oracle (forget quality, PrivLeak) declare
``needs_oracle = True`` and receive the oracle's context.

Every model family's measures live in the same registry. :class:`MetricBase` holds what
they share (a typed config, the name, ``higher_is_better``, ``needs_oracle``, the model
``family``); each family's base class adds its ``compute``: :class:`Metric` here (language
models: an ``EvalContext`` and a :class:`Split`),
:class:`~unlearnkit.evaluation.classifier.metrics.ClassifierMetric` (an adapter and the
identity splits) and :class:`~unlearnkit.evaluation.recommender.RecommenderMetric` (an
adapter and a request's splits). :func:`metrics_of` lists one family's metrics, in
registration order (the order its evaluation reports them); metrics registered with
``audit=True`` are robustness audits, run by the audit step rather than the evaluation.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import DataValidationError, RegistryError, UnlearnkitError
from unlearnkit.core.registry import Registry
from unlearnkit.core.results import Result, mean
from unlearnkit.evaluation.stats import bootstrap_ci

if TYPE_CHECKING:
    from unlearnkit.evaluation.context import EvalContext

Record = Mapping[str, Any]

#: Every evaluation metric of every model family, by name (``unlearnkit list metrics``).
METRICS: Registry[type[MetricBase]] = Registry("metric")

#: names in the order they were registered (:func:`metrics_of` keeps it: a family's
#: evaluation reports its metrics in this order)
_REGISTERED: list[str] = []

M = TypeVar("M", bound="type[MetricBase]")


def register_metric(name: str, **meta: Any) -> Callable[[M], M]:
    """Class decorator: register a metric in :data:`METRICS` under ``name`` (its paper's).

    A classifier's or recommender's metric records its model family in ``meta["family"]``
    (filled from the class's ``family`` when not given; a different value is an error); the
    language-model metrics name their benchmark in ``meta["benchmark"]`` (``tofu``,
    ``muse``...). :func:`metric_family` reads the class, which every metric has."""

    def decorator(cls: M) -> M:
        if cls.family != "lm":
            given = meta.setdefault("family", cls.family)
            if given != cls.family:
                raise RegistryError(
                    f"metric {name!r} is registered with family={given!r} but its class "
                    f"{cls.__name__} is a {cls.family} metric; drop family= or subclass the "
                    f"{given} family's metric base class"
                )
        cls.registered_name = name
        METRICS.add(name, cls, **meta)
        _REGISTERED.append(name)
        return cls

    return decorator


def metric_family(name: str) -> str:
    """The model family (``lm``, ``classifier``, ``recommender``) of a registered metric:
    its class's ``family``. Unknown names raise
    :class:`~unlearnkit.core.errors.UnknownNameError`."""
    return METRICS.get(name).family


def metrics_of(family: str = "lm", *, audit: bool | None = False) -> list[str]:
    """Names of the registered metrics of one model family, in registration order (the
    order the family's evaluation reports them). audit: False, the evaluation's metrics;
    True, the robustness audits (registered with ``audit=True``); None, both."""
    order = {n: i for i, n in enumerate(_REGISTERED)}
    names = [
        n
        for n in METRICS.names()
        if metric_family(n) == family
        and (audit is None or bool(METRICS.entry(n).meta.get("audit")) == audit)
    ]
    return sorted(names, key=lambda n: order.get(n, len(order)))


def family_metric_classes(family: str, base: type) -> list[type]:
    """The registered (non-audit) metric classes of ``family``, in report order, each
    checked to subclass the family's metric base class ``base``."""
    out = []
    for name in metrics_of(family):
        cls = METRICS.get(name)
        if not issubclass(cls, base):
            raise TypeError(
                f"metric {name!r} is registered for the {family} family but is a "
                f"{cls.__name__}; subclass {base.__module__}.{base.__name__}"
            )
        out.append(cls)
    return out


class MetricError(UnlearnkitError):
    """A metric cannot be computed on what it was given (missing oracle, empty split, ...)."""


@dataclass(frozen=True)
class Split:
    """A named list of records a metric runs on (``forget``, ``retain``, ``holdout``...).

    source: where the records came from (named in errors). context: in-context examples
    some metrics put before each prompt (MUSE's KnowMem).
    """

    name: str
    records: Sequence[Record]
    source: str = ""
    context: Sequence[Record] = ()

    def require(self, *fields: str) -> None:
        """Fail, naming the record and the field, when a record lacks one of ``fields``."""
        if not self.records:
            raise MetricError(f"split {self.name!r} is empty; give it at least one record")
        for i, rec in enumerate(self.records):
            for f in fields:
                if f not in rec or rec[f] is None:
                    raise DataValidationError(
                        f"this metric needs {', '.join(repr(x) for x in fields)} in every record",
                        file=self.source or self.name,
                        record=i,
                        field=f,
                    )
                if isinstance(rec[f], list | tuple) and not rec[f]:
                    raise DataValidationError(
                        f"{f!r} is an empty list; give at least one answer",
                        file=self.source or self.name,
                        record=i,
                        field=f,
                    )

    def ids(self) -> list[str]:
        """One id per record: its position plus its person and attribute when it has them."""
        out = []
        for i, r in enumerate(self.records):
            parts = [str(i)] + [str(r[k]) for k in ("person_id", "attribute") if r.get(k)]
            out.append(":".join(parts))
        return out


@dataclass(frozen=True)
class MetricConfig(Config):
    """Settings every metric has: the bootstrap of its aggregate's confidence interval.

    bootstrap: resamples (0 turns the interval off). ci_level: coverage. seed: the
    resampling seed (same seed, same interval).
    """

    bootstrap: int = param(1000, ge=0)
    ci_level: float = param(0.95, gt=0, lt=1)
    seed: int = 0


@dataclass(frozen=True)
class IntervalConfig(MetricConfig):
    """Settings of a metric whose interval is off unless asked for (the classifier's and
    recommender's: their reports have carried none and stay as they were).

    bootstrap: resamples (default 0: no interval; 1000 for a 95% one). ci_level: coverage.
    seed: the resampling seed.
    """

    bootstrap: int = param(0, ge=0)


@dataclass(frozen=True)
class QAConfig(MetricConfig):
    """Fields of a question-answering record, read through the model's prompt format."""

    question_field: str = "question"
    answer_field: str = "answer"


class MetricBase:
    """What every model family's metric has: a typed config (from an instance, a mapping of
    its fields or the defaults, with keyword overrides), its registered name, the direction
    of its quantity, whether it needs the retrain oracle, and its model ``family``. Each
    family's base class adds ``compute``."""

    config_class: ClassVar[type[Config]] = MetricConfig
    higher_is_better: ClassVar[bool] = True
    needs_oracle: ClassVar[bool] = False
    registered_name: ClassVar[str] = ""
    #: the model family whose models the metric measures (``lm``, ``classifier``, ...)
    family: ClassVar[str] = "lm"

    def __init__(self, config: Config | Mapping[str, Any] | None = None, **overrides: Any):
        config = self.config_class.coerce(config, type(self).__name__, error=MetricError)
        self.config = config.with_overrides(overrides) if overrides else config

    @property
    def name(self) -> str:
        return self.registered_name or type(self).__name__

    @classmethod
    def sharing(cls, config: Config, **overrides: Any) -> Self:
        """This metric configured with the fields of ``config`` (a family's evaluation
        config: ``k``, ``seed``...) that its own config also has, then ``overrides``."""
        own = {f.name for f in dataclasses.fields(cls.config_class)}
        shared = {
            f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name in own
        }
        return cls(**{**shared, **overrides})


class Metric(MetricBase, ABC):
    """One language-model metric. Subclasses set ``config_class``, ``higher_is_better`` and
    ``compute``."""

    config_class: ClassVar[type[MetricConfig]] = MetricConfig
    config: MetricConfig

    @abstractmethod
    def compute(
        self, ctx: EvalContext, split: Split, *, oracle: EvalContext | None = None
    ) -> Result:
        """Per-example values on ``split`` with the aggregate and its interval."""

    # -- helpers for subclasses -----------------------------------------------------------
    def result(
        self,
        split: Split,
        values: Sequence[float],
        *,
        ids: Sequence[str] | None = None,
        aggregate: float | None = None,
        ci_samples: Sequence[Sequence[float]] | None = None,
        ci_statistic: Callable[..., float] | None = None,
        paired: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> Result:
        """A result named ``<split>/<metric>`` with a bootstrap interval of its aggregate.

        By default the aggregate is the mean of ``values`` and the interval resamples them;
        a metric with another aggregate gives it with the samples and statistic to resample.
        """
        res = Result.from_values(
            f"{split.name}/{self.name}",
            values,
            higher_is_better=self.higher_is_better,
            ids=ids if ids is not None else split.ids(),
            aggregate=aggregate,
            config=self.config.to_dict(),
            extra=extra,
        )
        cfg = self.config
        if cfg.bootstrap == 0 or math.isnan(res.aggregate):
            return res
        samples = ci_samples if ci_samples is not None else [values]
        low, high = bootstrap_ci(
            *samples,
            statistic=ci_statistic,
            n_resamples=cfg.bootstrap,
            level=cfg.ci_level,
            seed=cfg.seed,
            paired=paired,
        )
        return res.with_ci(low, high)

    @staticmethod
    def qa_pairs(ctx: EvalContext, split: Split, answer_field: str, question_field: str):
        """(prompts, continuations) of a QA split under the model's prompt format."""
        fmt = ctx.adapter.prompt_format
        prompts = [fmt.prompt(str(r[question_field])) for r in split.records]
        conts = [fmt.continuation(str(r[answer_field])) for r in split.records]
        return prompts, conts


def with_interval(
    result: Result,
    config: Config,
    *samples: Sequence[float],
    statistic: Callable[..., float] | None = None,
    paired: bool = False,
) -> Result:
    """``result`` with the bootstrap interval of its aggregate when ``config`` asks for one
    (a ``bootstrap`` field above 0, with ``ci_level`` and ``seed``) and the aggregate is a
    number: ``statistic`` of the resampled ``samples`` (default: the mean of the values)."""
    n = int(getattr(config, "bootstrap", 0))
    if n == 0 or math.isnan(result.aggregate):
        return result
    low, high = bootstrap_ci(
        *(samples or (result.values,)),
        statistic=statistic,
        n_resamples=n,
        level=float(getattr(config, "ci_level", 0.95)),
        seed=int(getattr(config, "seed", 0)),
        paired=paired,
    )
    return result.with_ci(low, high)


def as_list(value: Any) -> list[str]:
    """A record field holding one string or a list of them, as a list."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a suite on one split: ``name`` with ``config`` overrides."""

    metric: str
    split: str
    config: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None  # the result's key in the report (default ``split/metric``)

    @property
    def result_key(self) -> str:
        return self.key or f"{self.split}/{self.metric}"


__all__ = [
    "METRICS",
    "IntervalConfig",
    "Metric",
    "MetricBase",
    "MetricConfig",
    "MetricError",
    "MetricSpec",
    "QAConfig",
    "Split",
    "as_list",
    "mean",
    "metric_family",
    "metrics_of",
    "register_metric",
    "with_interval",
]
