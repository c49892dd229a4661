"""The evaluation suites ``tofu``, ``muse``, ``wmdp`` and ``mia``: which metric runs on which split.

A suite is data: a list of :class:`SuiteItem` (a metric on a split role, an attack on a
members / non-members pair, or a composite of other results). :func:`run_suite` resolves
the roles against the data, scores everything each split needs in one teacher-forced pass
(shared by every metric on it), then computes the items. An item whose split is missing,
or that needs an oracle or reference model that was not given, is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tqdm.auto import tqdm

from unlearnkit.core.registry import Registry
from unlearnkit.core.results import Result
from unlearnkit.evaluation.metrics import METRICS, Split
from unlearnkit.evaluation.mia import MIA_ATTACKS

if TYPE_CHECKING:
    from unlearnkit.evaluation.context import EvalContext
    from unlearnkit.evaluation.data import EvalData


@dataclass(frozen=True)
class SuiteItem:
    """One result of a suite.

    kind "metric": ``name`` from METRICS on ``splits[0]``. kind "attack": ``name`` from
    MIA_ATTACKS, members ``splits[0]`` against non-members ``splits[1]``. kind "privleak":
    the attack's PrivLeak against the oracle as its own result. kind "composite": ``name``
    from METRICS combining the results ``inputs`` (those present). kind "lm_eval":
    lm-evaluation-harness tasks (config ``tasks``, ``include_path``, ``limit``,
    ``num_fewshot``; :mod:`unlearnkit.evaluation.lm_harness`), one result per task and metric.
    """

    key: str
    kind: Literal["metric", "attack", "privleak", "composite", "lm_eval"]
    name: str
    splits: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    """A named list of items, with the one-line description ``unlearnkit list suites`` shows."""

    name: str
    description: str
    items: tuple[SuiteItem, ...]


#: Every evaluation suite, by name.
SUITES: Registry[Suite] = Registry("suite")


def _metric(split: str, name: str, key: str | None = None, **config: Any) -> SuiteItem:
    return SuiteItem(key or f"{split}/{name}", "metric", name, (split,), config)


_UTILITY_SETS = ("retain", "real_authors", "world_facts")


def _tofu_items() -> tuple[SuiteItem, ...]:
    """TOFU's evaluation, split by split as TOFU and open-unlearning read it.

    forget: ``forgetNN_perturbed`` (probability, ROUGE-L, memorisation on ``answer``; truth
    ratio and forget quality on ``paraphrased_answer`` vs ``perturbed_answer``). retain:
    ``retain_perturbed`` likewise. real_authors / world_facts: the ``_perturbed`` sets, which
    have no paraphrase: the truth ratio compares ``answer`` with ``perturbed_answer``, and
    the probability is ``answer``'s normalised over it and the wrong answers.
    """
    items = [
        _metric("forget", "probability"),
        _metric("forget", "rouge_l"),
        _metric("forget", "truth_ratio", aggregation="forget"),
        _metric("forget", "forget_quality"),
        _metric("forget", "exact_memorisation"),
        _metric("forget", "extraction_strength"),
        _metric("retain", "probability"),
        _metric("retain", "rouge_l"),
        _metric("retain", "truth_ratio", aggregation="retain"),
    ]
    for s in ("real_authors", "world_facts"):
        items += [
            _metric(s, "normalised_probability", key=f"{s}/probability"),
            _metric(s, "rouge_l"),
            _metric(s, "truth_ratio", aggregation="retain", paraphrased_field="answer"),
        ]
    items += [
        _metric("neighbours", "probability"),
        _metric("neighbours", "rouge_l"),
        _metric("neighbours", "truth_ratio", aggregation="retain"),
    ]
    inputs = tuple(
        f"{s}/{m}" for s in _UTILITY_SETS for m in ("probability", "rouge_l", "truth_ratio")
    )
    items.append(SuiteItem("model_utility", "composite", "model_utility", inputs=inputs))
    return tuple(items)


SUITES.add(
    "tofu",
    Suite(
        "tofu",
        "TOFU: probability, ROUGE-L, truth ratio on forget / retain / real authors / world "
        "facts / neighbours; forget quality against the oracle; memorisation; model utility",
        _tofu_items(),
    ),
)
SUITES.add(
    "muse",
    Suite(
        "muse",
        "MUSE: VerbMem and KnowMem (ROUGE-L F1) on forget, KnowMem on retain, PrivLeak "
        "(Min-K% AUC against the oracle's), extraction strength of the VerbMem passages",
        (
            _metric("verbmem_forget", "verbmem", key="verbmem_forget"),
            # open-unlearning's muse default: ES of the passage continuation, raw prompt
            _metric(
                "verbmem_forget",
                "extraction_strength",
                question_field="prompt",
                answer_field="gt",
                raw_prompt=True,
            ),
            _metric("knowmem_forget", "knowmem", key="knowmem_forget"),
            _metric("knowmem_retain", "knowmem", key="knowmem_retain"),
            SuiteItem("privleak_auc", "attack", "min_k", ("privleak_forget", "privleak_holdout")),
            SuiteItem("privleak", "privleak", "min_k", ("privleak_forget", "privleak_holdout")),
        ),
    ),
)
SUITES.add(
    "wmdp",
    Suite(
        "wmdp",
        "WMDP: multiple-choice accuracy on the hazardous questions (chance after unlearning) "
        "and on the benign ones (kept); the public WMDP's bio / chem / cyber sets",
        (
            _metric("wmdp_hazard", "mcq_accuracy", key="hazard"),
            _metric("wmdp_benign", "mcq_accuracy", key="benign"),
            # the public WMDP (cais/wmdp), as lm-evaluation-harness's wmdp_* tasks prompt it
            *(
                _metric(f"wmdp_{c}", "mcq_accuracy", key=c, style="letters", subject=subject)
                for c, subject in (
                    ("bio", "biology"),
                    ("chem", "chemistry"),
                    ("cyber", "cybersecurity"),
                )
            ),
        ),
    ),
)
SUITES.add(
    "lm_eval",
    Suite(
        "lm_eval",
        "General utility: lm-evaluation-harness tasks (MMLU-style multiple choice...) from "
        "local task YAMLs (lm_eval_tasks, lm_eval_include): acc / acc_norm per question",
        (SuiteItem("lm_eval", "lm_eval", "lm_eval"),),
    ),
)
SUITES.add(
    "mia",
    Suite(
        "mia",
        "Membership inference, forget (members) against holdout: AUC of LOSS, ZLib, Min-K%, "
        "Min-K%++, Reference and GradNorm, with the oracle's AUC and PrivLeak",
        tuple(
            SuiteItem(f"mia_{a}", "attack", a, ("forget", "holdout"))
            for a in ("loss", "zlib", "min_k", "min_k_pp", "reference", "gradnorm")
        ),
    ),
)


@dataclass
class SuiteOutput:
    """Results of one suite by key, and the items skipped with the reason."""

    results: dict[str, Result] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _require_lm_metric(name: str, suite: str) -> None:
    """A suite scores a causal LM: a classifier's or recommender's metric in it is an
    error that names its family and the language-model metrics (did you mean)."""
    from unlearnkit.core.errors import ConfigError, did_you_mean
    from unlearnkit.evaluation.metrics.base import metric_family, metrics_of

    family = metric_family(name)
    if family != "lm":
        known = metrics_of("lm")
        raise ConfigError(
            f"suite {suite!r}",
            "metric",
            name,
            f"a language-model metric: {name!r} is a {family} metric (its family's evaluation "
            f"runs it).{did_you_mean(name, known)} LM metrics: {', '.join(known)}",
        )


def run_suite(
    suite: Suite | str,
    ctx: EvalContext,
    data: EvalData,
    *,
    oracle: EvalContext | None = None,
    reference: EvalContext | None = None,
    progress: bool = False,
    configure: Callable[[SuiteItem], Mapping[str, Any]] | None = None,
) -> SuiteOutput:
    """Run ``suite`` on ``ctx``'s model. ``configure(item)`` adds config overrides (the
    bootstrap settings every item shares)."""
    if isinstance(suite, str):
        suite = SUITES.get(suite)
    out = SuiteOutput()
    plan: list[tuple[SuiteItem, Any, list[Split]]] = []
    for item in suite.items:
        if item.kind == "composite":
            plan.append((item, METRICS.get(item.name), []))
            continue
        if item.kind == "lm_eval":
            plan.append((item, {**item.config, **(configure(item) if configure else {})}, []))
            continue
        splits = [data.split(role) for role in item.splits]
        missing = [r for r, s in zip(item.splits, splits, strict=True) if s is None]
        if missing:
            out.skipped[item.key] = f"the data has no {' / '.join(missing)} split"
            continue
        config = {**item.config, **(configure(item) if configure else {})}
        if item.kind == "metric":
            _require_lm_metric(item.name, suite.name)
            unit = METRICS.get(item.name)(config)
            if unit.needs_oracle and oracle is None:
                out.skipped[item.key] = "needs the retrain oracle (pass --oracle / oracle=...)"
                continue
        else:
            unit = MIA_ATTACKS.get(item.name)(config)
            if item.kind == "privleak" and oracle is None:
                out.skipped[item.key] = "needs the retrain oracle (pass --oracle / oracle=...)"
                continue
            if unit.uses_reference and reference is None:
                out.skipped[item.key] = "needs a reference model (pass --reference / reference=...)"
                continue
            why = unit.unavailable(ctx, reference=reference, oracle=oracle)
            if why:
                out.skipped[item.key] = why
                continue
        plan.append((item, unit, splits))  # type: ignore[arg-type]

    _prefetch(ctx, plan)
    bar = tqdm(plan, desc=f"{suite.name} suite", disable=not progress, leave=False)
    for item, unit, splits in bar:
        bar.set_postfix_str(item.key)
        if item.kind == "lm_eval":
            from unlearnkit.evaluation.lm_harness import run_suite_item

            produced, why = run_suite_item(ctx, unit)
            out.results.update(produced)
            if why:
                out.skipped[item.key] = why
            continue
        if item.kind == "metric":
            res = unit.compute(ctx, splits[0], oracle=oracle)
        elif item.kind in ("attack", "privleak"):
            res = unit.evaluate(ctx, splits[0], splits[1], reference=reference, oracle=oracle)
            if item.kind == "privleak":
                res = _privleak_result(res)
        else:
            present = {k: out.results[k] for k in item.inputs if k in out.results}
            if not present:
                out.skipped[item.key] = "none of its components was computed"
                continue
            res = unit(configure(item) if configure else {}).combine(present)
        out.results[item.key] = res
    return out


def _prefetch(ctx: EvalContext, plan) -> None:
    """Score every (prompt, continuation) the planned items need, one pass per split."""
    by_split: dict[str, list[tuple[str, str]]] = {}
    for item, unit, splits in plan:
        if item.kind == "composite" or not hasattr(unit, "requests"):
            continue
        if item.kind == "attack" and item.name == "gradnorm":
            continue
        for split in splits:
            by_split.setdefault(split.name, []).extend(unit.requests(ctx, split))
    for pairs in by_split.values():
        ctx.score([p for p, _ in pairs], [c for _, c in pairs])


def _privleak_result(auc_result: Result) -> Result:
    """PrivLeak as a result of its own: aggregate (AUC_oracle - AUC_model) / (1 - AUC_oracle)
    × 100, MUSE's number (None in the attack's extra when undefined: NaN here)."""
    extra = dict(auc_result.extra)
    leak = extra.get("privleak")
    res = Result.from_values(
        auc_result.name.rsplit("/", 1)[0] + "/privleak",
        auc_result.values,
        higher_is_better=False,
        ids=auc_result.ids,
        aggregate=float("nan") if leak is None else leak,
        config=auc_result.config,
        extra={"auc": auc_result.aggregate, **extra},
    )
    if "privleak_ci" in extra:
        res = res.with_ci(*extra["privleak_ci"])
    return res
