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
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import DataValidationError, UnlearnkitError
from unlearnkit.core.registry import Registry
from unlearnkit.core.results import Result, mean
from unlearnkit.evaluation.stats import bootstrap_ci

if TYPE_CHECKING:
    from unlearnkit.evaluation.context import EvalContext

Record = Mapping[str, Any]

#: Every evaluation metric, by name (``unlearnkit list metrics``).
METRICS: Registry[type[Metric]] = Registry("metric")


def register_metric(name: str, **meta: Any) -> Callable[[type[Metric]], type[Metric]]:
    """Class decorator: register a metric in :data:`METRICS` under ``name`` (its paper's)."""

    def decorator(cls: type[Metric]) -> type[Metric]:
        cls.registered_name = name
        METRICS.add(name, cls, **meta)
        return cls

    return decorator


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
class QAConfig(MetricConfig):
    """Fields of a question-answering record, read through the model's prompt format."""

    question_field: str = "question"
    answer_field: str = "answer"


class Metric(ABC):
    """One metric. Subclasses set ``config_class``, ``higher_is_better`` and ``compute``."""

    config_class: ClassVar[type[MetricConfig]] = MetricConfig
    higher_is_better: ClassVar[bool] = True
    needs_oracle: ClassVar[bool] = False
    registered_name: ClassVar[str] = ""

    def __init__(self, config: MetricConfig | Mapping[str, Any] | None = None, **overrides: Any):
        if config is None:
            config = self.config_class()
        elif isinstance(config, Mapping):
            config = self.config_class.from_dict(dict(config))
        elif not isinstance(config, self.config_class):
            raise MetricError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, "
                f"not a {type(config).__name__}"
            )
        self.config = config.with_overrides(overrides) if overrides else config

    @property
    def name(self) -> str:
        return self.registered_name or type(self).__name__

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
    "Metric",
    "MetricConfig",
    "MetricError",
    "MetricSpec",
    "QAConfig",
    "Split",
    "as_list",
    "mean",
    "register_metric",
]
