"""What a model knows of a set of facts, and how to read it against the target and oracle.

The audit's measure is teacher-forced and needs no generation, so every attack can
re-measure it cheaply many times:

* ``value_acc``: the share of the fact's own tokens (the record's ``value`` inside the
  answer) that the model predicts as its argmax, averaged over records — the headline;
* ``answer_acc``: the same over every answer token (template words included);
* ``answer_logprob``: the mean per-token log-probability of the answer;
* ``headline``: value_acc, or answer_acc where records carry no ``value`` (real TOFU data).

Two normalisations put a measure between the target (trained on everything) and the oracle
(retrained without the forget set):

* :func:`forgetting_left` = (target - attacked) / (target - oracle): 1 = as forgotten as
  the oracle, 0 = known as well as by the target (above 1: below the oracle);
* :func:`recovered_fraction` = (attacked - unlearned) / (target - unlearned): the share of
  the gap between the unlearned model and the target that an attack closed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from unlearnkit.evaluation.accuracy import qa_accuracy
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter


@dataclass(frozen=True)
class Knowledge:
    """Mean knowledge of ``n`` records (NaN where no record has the field)."""

    value_acc: float
    answer_acc: float
    answer_logprob: float
    n: int

    @property
    def headline(self) -> float:
        """value_acc, or answer_acc for records without values (e.g. real TOFU data)."""
        return self.answer_acc if math.isnan(self.value_acc) else self.value_acc

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "headline": self.headline}


def knowledge(
    adapter: CausalLMAdapter,
    records: Sequence[Mapping[str, Any]],
    *,
    question_field: str = "question",
    answer_field: str = "answer",
) -> Knowledge:
    """The :class:`Knowledge` of ``adapter`` on QA ``records`` (with a ``value`` field)."""
    if not records:
        raise ValueError("no records to measure knowledge on")
    acc = qa_accuracy(
        adapter,
        records,
        question_field=question_field,
        answer_field=answer_field,
        generate=False,
    )
    fmt = adapter.prompt_format
    scores = adapter.score(
        [fmt.prompt(str(r[question_field])) for r in records],
        [fmt.continuation(str(r[answer_field])) for r in records],
    )
    logprobs = [float(s.logprobs.mean()) for s in scores if s.n_tokens]
    return Knowledge(
        value_acc=acc["value_token_acc"].aggregate,
        answer_acc=acc["answer_token_acc"].aggregate,
        answer_logprob=sum(logprobs) / len(logprobs) if logprobs else math.nan,
        n=len(records),
    )


def forgetting_left(attacked: float, target: float, oracle: float) -> float:
    """(target - attacked) / (target - oracle); NaN when target and oracle know as much."""
    gap = target - oracle
    return (target - attacked) / gap if abs(gap) > 1e-9 else math.nan


def recovered_fraction(attacked: float, unlearned: float, target: float) -> float:
    """(attacked - unlearned) / (target - unlearned); NaN when nothing was forgotten."""
    gap = target - unlearned
    return (attacked - unlearned) / gap if abs(gap) > 1e-9 else math.nan
