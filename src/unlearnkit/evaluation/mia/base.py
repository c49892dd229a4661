"""The membership-inference contract, the AUC of an attack, and PrivLeak.

**Orientation, stated once:** every attack's score is *higher = more member-like*. The AUC
takes members (the forget set) as the positive class, so 0.5 means the attacker cannot
tell forget from holdout, and 1.0 means every forget example looks more familiar than
every holdout example. (One public framework labels the other way and flips later; we
do not.)

Open-unlearning (``src/evals/metrics/mia/utils.py``, ``mia_auc``) labels the forget set 0 and
the holdout set 1 and scores "higher = less member-like"; both flips together give the same
AUC as ours, which a test pins against ``roc_auc_score`` in its labelling.

An attack scores examples (:meth:`MIAAttack.scores`); :meth:`MIAAttack.evaluate` turns the
scores of members and non-members into a :class:`~unlearnkit.core.results.Result` whose
aggregate is the AUC, with a stratified bootstrap interval, and — given the oracle — the
oracle's AUC and PrivLeak = (AUC_oracle - AUC_model) / (1 - AUC_oracle + 1e-10) × 100, MUSE's
number in our orientation (:func:`~unlearnkit.evaluation.functional.mia.privleak`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from unlearnkit.core.config import param
from unlearnkit.core.registry import Registry
from unlearnkit.core.results import Result
from unlearnkit.evaluation.context import records_hash
from unlearnkit.evaluation.functional.mia import auc, privleak
from unlearnkit.evaluation.metrics.base import MetricConfig, MetricError, Split
from unlearnkit.evaluation.stats import (
    auc_of_resamples,
    bootstrap_ci,
    percentile_interval,
    resample_counts,
)

if TYPE_CHECKING:
    from unlearnkit.evaluation.context import EvalContext

#: Every membership-inference attack, by name (``unlearnkit list attacks``).
MIA_ATTACKS: Registry[type[MIAAttack]] = Registry("membership-inference attack")


def register_attack(name: str, **meta: Any) -> Callable[[type[MIAAttack]], type[MIAAttack]]:
    """Class decorator: register an attack in :data:`MIA_ATTACKS` under ``name``."""

    def decorator(cls: type[MIAAttack]) -> type[MIAAttack]:
        cls.registered_name = name
        MIA_ATTACKS.add(name, cls, **meta)
        return cls

    return decorator


@dataclass(frozen=True)
class MIAConfig(MetricConfig):
    """What an attack scores. ``text`` records (MUSE's raw and privleak splits) are scored as
    whole texts; QA records as the answer given the question in the model's prompt format.
    max_tokens: texts longer than this are cut to their first ``max_tokens`` tokens (None:
    the model's own limit)."""

    question_field: str = "question"
    answer_field: str = "answer"
    text_field: str = "text"
    max_tokens: int | None = param(None, ge=2)


class MIAAttack(ABC):
    """One attack: per-example scores, higher = more member-like."""

    config_class: ClassVar[type[MIAConfig]] = MIAConfig
    uses_reference: ClassVar[bool] = False
    registered_name: ClassVar[str] = ""

    def __init__(self, config: MIAConfig | Mapping[str, Any] | None = None, **overrides: Any):
        config = self.config_class.coerce(config, type(self).__name__, error=MetricError)
        self.config = config.with_overrides(overrides) if overrides else config

    @property
    def name(self) -> str:
        return self.registered_name or type(self).__name__

    # -- what is scored -------------------------------------------------------------------
    # -- when the attack cannot judge -----------------------------------------------------
    def self_reference(self, who: str = "model") -> str:
        """Why an attack cannot use a model as its own reference (the reason reports give)."""
        return (
            f"the {who} under evaluation is the reference model itself: every {self.name} "
            "score is -(avg_nll - avg_nll) = 0 and the AUC is 0.5 by construction, whatever "
            "the model remembers; give another reference model that never saw the forget set"
        )

    def unavailable(
        self,
        ctx: EvalContext,
        *,
        reference: EvalContext | None = None,
        oracle: EvalContext | None = None,
    ) -> str | None:
        """Why this attack cannot be run on ``ctx`` with these models (None: it can)."""
        if (
            self.uses_reference
            and reference is not None
            and reference.fingerprint == ctx.fingerprint
        ):
            return self.self_reference(ctx.name)
        return None

    def pairs(self, ctx: EvalContext, split: Split) -> list[tuple[str, str]]:
        """(prompt, continuation) per record: a whole text, or an answer to its question."""
        cfg = self.config
        if not split.records:
            raise MetricError(f"split {split.name!r} is empty; give it at least one record")
        if all(cfg.text_field in r for r in split.records):
            limit = cfg.max_tokens or ctx.adapter.max_length
            return [("", _head(ctx, str(r[cfg.text_field]), limit)) for r in split.records]
        split.require(cfg.question_field, cfg.answer_field)
        fmt = ctx.adapter.prompt_format
        return [
            (fmt.prompt(str(r[cfg.question_field])), fmt.continuation(str(r[cfg.answer_field])))
            for r in split.records
        ]

    requests = pairs

    @abstractmethod
    def scores(
        self, ctx: EvalContext, split: Split, *, reference: EvalContext | None = None
    ) -> list[float]:
        """One score per record of ``split``; higher = more member-like."""

    # -- the attack as a metric -----------------------------------------------------------
    def evaluate(
        self,
        ctx: EvalContext,
        members: Split,
        nonmembers: Split,
        *,
        reference: EvalContext | None = None,
        oracle: EvalContext | None = None,
    ) -> Result:
        """AUC of members (positive) against non-members, with a stratified bootstrap
        interval; with an oracle, also its AUC (memoised) and PrivLeak."""
        if self.uses_reference and reference is None:
            raise MetricError(
                f"the {self.name} attack compares with a reference model; pass reference=... "
                "(for example the retrain oracle)"
            )
        why = self.unavailable(ctx, reference=reference, oracle=oracle)
        if why:
            raise MetricError(why)
        m = self.scores(ctx, members, reference=reference)
        n = self.scores(ctx, nonmembers, reference=reference)
        extra: dict[str, Any] = {"n_members": len(m), "n_nonmembers": len(n)}
        ids = [f"member:{i}" for i in members.ids()] + [f"nonmember:{i}" for i in nonmembers.ids()]
        res = Result.from_values(
            f"{members.name}_vs_{nonmembers.name}/mia_{self.name}",
            [*m, *n],
            higher_is_better=False,  # for the unlearned model: closer to the oracle is better
            ids=ids,
            aggregate=auc(m, n),
            config=self.config.to_dict(),
        )
        cfg = self.config
        oracle_why = None
        if oracle is not None:
            oracle_why = self.unavailable(oracle, reference=reference)
        if oracle is not None and oracle_why:
            # the oracle's own AUC would be 0.5 by construction: no comparison, and why
            extra.update(oracle_fingerprint=oracle.fingerprint, oracle_skipped=oracle_why)
        elif oracle is not None:
            om, on = self._oracle_scores(oracle, members, nonmembers, reference)
            auc_oracle = auc(om, on)
            leak = privleak(res.aggregate, auc_oracle)
            extra.update(
                auc_oracle=_json_number(auc_oracle),
                privleak=_json_number(leak),
                oracle_fingerprint=oracle.fingerprint,
            )
            if cfg.bootstrap and math.isfinite(leak):
                ci = _paired_privleak_ci(m, n, om, on, cfg.bootstrap, cfg.ci_level, cfg.seed)
                if all(math.isfinite(v) for v in ci):
                    extra["privleak_ci"] = list(ci)
        res = Result(**{**res.__dict__, "extra": extra})
        if cfg.bootstrap and not math.isnan(res.aggregate):
            low, high = bootstrap_ci(
                m, n, statistic=auc, n_resamples=cfg.bootstrap, level=cfg.ci_level, seed=cfg.seed
            )
            res = res.with_ci(low, high)
        return res

    def _oracle_scores(self, oracle, members, nonmembers, reference):
        def build(split: Split) -> Result:
            return Result.from_values(
                f"{split.name}/mia_{self.name}_scores",
                self.scores(oracle, split, reference=reference),
                higher_is_better=True,
            )

        out = []
        for split in (members, nonmembers):
            key = {
                "what": f"mia_scores/{self.name}",
                "config": self.config.to_dict(),
                "data": records_hash(split.records),
                # the reference's weights and tokenisation (the oracle's own are added by memo)
                "reference": reference.passes_key() if reference is not None else None,
            }
            out.append(list(oracle.memo(key, lambda s=split: build(s)).values))
        return out


def _paired_privleak_ci(m, n, om, on, resamples: int, level: float, seed: int):
    """Bootstrap interval of PrivLeak that resamples members and non-members (each item's
    model and oracle scores together); every resample's two AUCs in one matrix product."""
    m, n, om, on = (np.asarray(x, dtype=float) for x in (m, n, om, on))
    if not len(m) or not len(n):
        return (math.nan, math.nan)
    values = []
    for cm, cn in resample_counts([len(m), len(n)], resamples, seed):
        a_model = auc_of_resamples(m, n, cm, cn)
        a_oracle = auc_of_resamples(om, on, cm, cn)
        score, ref = 1.0 - a_model, 1.0 - a_oracle  # as functional.mia.privleak
        values.append((score - ref) / (ref + 1e-10) * 100.0)
    return percentile_interval(np.concatenate(values), level)


def _json_number(value: float) -> float | None:
    """``value``, or None when it is NaN or infinite (reports are strict JSON)."""
    return float(value) if math.isfinite(value) else None


def _head(ctx: EvalContext, text: str, limit: int | None) -> str:
    """``text`` cut to its first ``limit`` tokens (MUSE scores at most the model's window)."""
    if not limit:
        return text
    tok = ctx.adapter.tokenizer
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=tok.is_fast)
    if len(enc["input_ids"]) <= limit - 1:
        return text
    if not tok.is_fast:
        return tok.decode(enc["input_ids"][: limit - 1])
    return text[: enc["offset_mapping"][limit - 2][1]]
