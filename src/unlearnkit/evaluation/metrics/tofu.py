"""TOFU's metrics (Maini et al. 2024, arXiv:2401.06121): probability, normalised probability,
ROUGE-L, truth ratio, forget quality and model utility.

The arithmetic lives in :mod:`unlearnkit.evaluation.functional.tofu` (pinned by golden
tests); these units read splits through the shared context. Each follows open-unlearning at
commit d3d7cf9 (``src/evals/metrics/memorization.py``, ``privacy.py``, ``utility.py`` and
``configs/eval/tofu_metrics/``); ``docs/metrics.md`` gives every formula and what differs.
Probabilities are length-normalised, exp(-avg_nll) over every scored answer token (the EOS
the answer ends with included); the truth ratio combines the wrong answers by the mean of
their avg_nll.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from unlearnkit.core.config import param
from unlearnkit.core.results import Result
from unlearnkit.evaluation.context import records_hash
from unlearnkit.evaluation.functional import tofu as F
from unlearnkit.evaluation.functional.rouge import rouge_l_batch
from unlearnkit.evaluation.metrics.base import (
    Metric,
    MetricConfig,
    MetricError,
    QAConfig,
    Split,
    as_list,
    register_metric,
)

if TYPE_CHECKING:
    from unlearnkit.evaluation.context import EvalContext


class TeacherForcedQA(Metric):
    """A metric on teacher-forced scores of QA answers (the pairs it needs are declared by
    :meth:`requests`, so a suite scores everything a split needs in one pass)."""

    config_class = QAConfig

    def requests(self, ctx: EvalContext, split: Split) -> list[tuple[str, str]]:
        cfg = self.config
        split.require(cfg.question_field, cfg.answer_field)
        prompts, conts = self.qa_pairs(ctx, split, cfg.answer_field, cfg.question_field)
        return list(zip(prompts, conts, strict=True))

    def answer_scores(self, ctx: EvalContext, split: Split):
        pairs = self.requests(ctx, split)
        return ctx.score([p for p, _ in pairs], [c for _, c in pairs])


@register_metric("probability", paper="arXiv:2401.06121", benchmark="tofu")
class Probability(TeacherForcedQA):
    """Probability of the answer, exp(-avg_nll) per item (TOFU); mean over items
    (open-unlearning's ``probability``)."""

    def compute(self, ctx, split, *, oracle=None) -> Result:
        scores = self.answer_scores(ctx, split)
        return self.result(split, [F.probability(s.avg_nll) for s in scores])


@dataclass(frozen=True)
class NormalisedProbabilityConfig(QAConfig):
    """wrong_field: the wrong answers (a list per record; TOFU's ``perturbed_answer``)."""

    wrong_field: str = "perturbed_answer"


@register_metric("normalised_probability", paper="arXiv:2401.06121", benchmark="tofu")
class NormalisedProbability(TeacherForcedQA):
    """p(true) / (p(true) + Σ_j p(wrong_j) + 1e-10) per item, p = exp(-avg_nll) (TOFU's
    probability on the real-authors and world-facts sets; open-unlearning's
    ``probability_w_options``)."""

    config_class = NormalisedProbabilityConfig

    def requests(self, ctx, split):
        cfg = self.config
        split.require(cfg.question_field, cfg.answer_field, cfg.wrong_field)
        fmt = ctx.adapter.prompt_format
        out = []
        for r in split.records:
            prompt = fmt.prompt(str(r[cfg.question_field]))
            for a in [r[cfg.answer_field], *as_list(r[cfg.wrong_field])]:
                out.append((prompt, fmt.continuation(str(a))))
        return out

    def compute(self, ctx, split, *, oracle=None) -> Result:
        cfg = self.config
        pairs = self.requests(ctx, split)
        scores = iter(ctx.score([p for p, _ in pairs], [c for _, c in pairs]))
        values = []
        for r in split.records:
            true = next(scores).avg_nll
            wrong = [next(scores).avg_nll for _ in as_list(r[cfg.wrong_field])]
            values.append(F.normalised_probability(true, wrong))
        return self.result(split, values)


@dataclass(frozen=True)
class TruthRatioConfig(QAConfig):
    """aggregation: "forget" reports mean(min(R, 1/(R + 1e-10))) (1 = cannot tell the
    paraphrased answer from the wrong ones), "retain" reports mean(max(0, 1 - R)) (1 =
    prefers the true one): TOFU's, open-unlearning's ``closer_to_1_better`` and
    ``true_better``. "prob_mean" (a named option, not TOFU's) reports the mean of
    p(correct) / (p(correct) + p(wrong) + 1e-10), open-unlearning's "extent of knowledge"
    form. paraphrased_field / perturbed_field: the correct answer (TOFU: its paraphrase on
    the forget and retain sets) and the wrong answers."""

    aggregation: Literal["forget", "retain", "prob_mean"] = "retain"
    paraphrased_field: str = "paraphrased_answer"
    perturbed_field: str = "perturbed_answer"


def truth_ratios(
    ctx: EvalContext, split: Split, cfg: TruthRatioConfig, *, form: str = "tofu"
) -> list[float]:
    """Raw per-item truth ratios R = exp(-mean_j avg_nll(wrong_j)) / (exp(-avg_nll(para)) +
    1e-10); ``form="prob_mean"``: p(para) / (p(para) + p(wrong) + 1e-10) instead."""
    pairs = truth_ratio_requests(ctx, split, cfg)
    scores = iter(ctx.score([p for p, _ in pairs], [c for _, c in pairs]))
    ratio = F.knowledge_ratio if form == "prob_mean" else F.truth_ratio
    out = []
    for r in split.records:
        para = next(scores).avg_nll
        wrong = [next(scores).avg_nll for _ in as_list(r[cfg.perturbed_field])]
        out.append(ratio(para, wrong))
    return out


def truth_ratio_requests(ctx: EvalContext, split: Split, cfg: TruthRatioConfig):
    split.require(cfg.question_field, cfg.paraphrased_field, cfg.perturbed_field)
    fmt = ctx.adapter.prompt_format
    out = []
    for r in split.records:
        prompt = fmt.prompt(str(r[cfg.question_field]))
        for a in [r[cfg.paraphrased_field], *as_list(r[cfg.perturbed_field])]:
            out.append((prompt, fmt.continuation(str(a))))
    return out


@register_metric("truth_ratio", paper="arXiv:2401.06121", benchmark="tofu")
class TruthRatio(TeacherForcedQA):
    """Truth ratio R = p(wrong answers) / (p(paraphrased answer) + 1e-10) per item, the wrong
    ones combined by the mean of their avg_nll; aggregated by ``aggregation``
    (open-unlearning's ``truth_ratio``)."""

    config_class = TruthRatioConfig

    def requests(self, ctx, split):
        return truth_ratio_requests(ctx, split, self.config)

    def compute(self, ctx, split, *, oracle=None) -> Result:
        agg = self.config.aggregation
        if agg == "prob_mean":
            ratios = truth_ratios(ctx, split, self.config, form="prob_mean")
            return self.result(split, ratios, extra={"ratios": ratios})
        ratios = truth_ratios(ctx, split, self.config)
        fn = F.truth_ratio_forget if agg == "forget" else F.truth_ratio_retain
        return self.result(split, [fn(r) for r in ratios], extra={"ratios": ratios})


@register_metric("forget_quality", paper="arXiv:2401.06121", benchmark="tofu")
class ForgetQuality(TeacherForcedQA):
    """p-value of the two-sample KS test between the per-item truth ratios of the model and of
    the retrain oracle on the forget set: 1 = indistinguishable from never having trained on
    it. The oracle's ratios are memoised under its fingerprint.

    Per-example values are the model's raw truth ratios; the interval resamples items, the
    model's and the oracle's ratio of an item together."""

    config_class = TruthRatioConfig
    needs_oracle = True

    def requests(self, ctx, split):
        return truth_ratio_requests(ctx, split, self.config)

    def compute(self, ctx, split, *, oracle=None) -> Result:
        if oracle is None:
            raise MetricError(
                "forget_quality compares with the retrain oracle; pass oracle=... (a model that "
                "never trained on the forget set)"
            )
        cfg = self.config
        mine = truth_ratios(ctx, split, cfg)
        ref = oracle.memo(
            {"what": "truth_ratios", "config": cfg.to_dict(), "data": records_hash(split.records)},
            lambda: Result.from_values(
                f"{split.name}/truth_ratio_raw",
                truth_ratios(oracle, split, cfg),
                higher_is_better=True,
                ids=split.ids(),
            ),
        )
        theirs = list(ref.values)
        a, b = np.asarray(mine), np.asarray(theirs)
        idx = list(range(len(mine)))
        return self.result(
            split,
            mine,
            aggregate=F.forget_quality(mine, theirs),
            ci_samples=[idx],
            ci_statistic=lambda i: F.forget_quality(a[np.asarray(i, int)], b[np.asarray(i, int)]),
            extra={"oracle_ratios": theirs, "oracle_fingerprint": oracle.fingerprint},
        )


@dataclass(frozen=True)
class RougeConfig(QAConfig):
    """measure: ROUGE-L "recall" (TOFU reports it), "f1" (MUSE) or "precision".
    max_new_tokens: greedy generation budget (open-unlearning's generation default: 200).
    raw_prompt: use the question field as the prompt text itself, without the model's prompt
    format (MUSE's VerbMem passages). stop: stop strings; generation always ends at EOS, and
    the text is cut before the first stop string (TOFU passes none; MUSE's KnowMem passes
    "\n\n", "\nQuestion", "Question:"). format_stops: also stop at the prompt format's
    stop strings (e.g. the default format's newline), a named option, not TOFU's.
    use_stemmer: Porter stemming in rouge_score (open-unlearning stems for every ROUGE)."""

    measure: Literal["recall", "f1", "precision"] = "recall"
    max_new_tokens: int = param(200, ge=1)
    raw_prompt: bool = False
    stop: tuple[str, ...] = ()
    format_stops: bool = False
    use_stemmer: bool = True

    def validate(self) -> None:
        super().validate()
        if any(not s for s in self.stop):
            self.fail("stop", self.stop, "stop strings must be non-empty")


@register_metric("rouge_l", paper="arXiv:2401.06121", benchmark="tofu")
class RougeL(Metric):
    """ROUGE-L between the greedy generation and the reference answer (recall by default, as
    TOFU reports it; ``measure=f1`` for MUSE), as open-unlearning's ``rouge``: up to 200 new
    tokens, the text cut at EOS and the stop strings and stripped, scored against the answer
    stripped. Generations are shared with every other ROUGE-type metric on the same prompts
    and settings."""

    config_class = RougeConfig

    def prompts(self, ctx: EvalContext, split: Split) -> list[str]:
        cfg = self.config
        if cfg.raw_prompt:
            return [str(r[cfg.question_field]) for r in split.records]
        fmt = ctx.adapter.prompt_format
        return [fmt.prompt(str(r[cfg.question_field])) for r in split.records]

    def stops(self, ctx: EvalContext) -> tuple[str, ...]:
        """The stop strings of the generation: ``stop``, then the format's if asked."""
        cfg = self.config
        extra = tuple(ctx.adapter.prompt_format.stop) if cfg.format_stops else ()
        return tuple(dict.fromkeys((*cfg.stop, *extra)))

    def compute(self, ctx, split, *, oracle=None) -> Result:
        cfg = self.config
        split.require(cfg.question_field, cfg.answer_field)
        settings = {"max_new_tokens": cfg.max_new_tokens, "stop": self.stops(ctx)}
        # open-unlearning strips the cut generation and the reference (eval_text_similarity)
        gens = [g.strip() for g in ctx.generate(self.prompts(ctx, split), **settings)]
        refs = [str(r[cfg.answer_field]).strip() for r in split.records]
        values = rouge_l_batch(gens, refs, measure=cfg.measure, use_stemmer=cfg.use_stemmer)
        return self.result(split, values, extra={"generations": gens})


@register_metric("model_utility", paper="arXiv:2401.06121", benchmark="tofu", composite=True)
class ModelUtility(Metric):
    """Harmonic mean of the retain / real-authors / world-facts {probability, ROUGE-L, truth
    ratio} aggregates (TOFU; ``scipy.stats.hmean`` as open-unlearning's ``hm_aggregate``).
    Any zero makes it zero, which is intended: a model that lost one ability entirely has no
    utility. Computed from other results (:meth:`combine`); the interval (``bootstrap``,
    ``ci_level``, ``seed`` as every metric's) resamples every component's items
    independently."""

    def compute(self, ctx, split, *, oracle=None) -> Result:
        raise MetricError("model_utility combines other results; call combine(results)")

    def combine(self, components: Mapping[str, Result]) -> Result:
        if not components:
            raise MetricError("model_utility needs at least one component result")
        names = list(components)
        samples = [[v for v in components[n].values if not math.isnan(v)] for n in names]

        def stat(*groups: Sequence[float]) -> float:
            return F.harmonic_mean([float(np.mean(g)) if len(g) else math.nan for g in groups])

        split = Split("utility", [])
        value = F.harmonic_mean([components[n].aggregate for n in names])
        return self.result(
            split,
            [components[n].aggregate for n in names],
            ids=names,
            aggregate=value,
            ci_samples=samples,
            ci_statistic=stat,
            extra={"components": names},
        )


__all__ = [
    "ForgetQuality",
    "MetricConfig",
    "ModelUtility",
    "NormalisedProbability",
    "Probability",
    "RougeL",
    "TeacherForcedQA",
    "TruthRatio",
    "truth_ratios",
]
