"""Answer accuracy of a causal LM on QA records, teacher-forced and by generation.

* answer-token accuracy: share of answer tokens whose teacher-forced argmax equals the label
  (the "exact memorisation" quantity of METRICS.md);
* value-token accuracy: the same restricted to the tokens that overlap the bare fact
  (``value``) inside the answer — template words and copied names are easy, values are not;
* generation accuracy: greedy generation contains the value verbatim.

Each returns a :class:`~unlearnkit.core.results.Result` with one value per record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from unlearnkit.core.results import Result
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, ContinuationScores


def _value_mask(scores: ContinuationScores, continuation: str, value: str) -> list[bool]:
    """Which continuation tokens overlap the last occurrence of ``value``."""
    start = continuation.rfind(value)
    if start < 0 or scores.offsets is None:
        return []
    end = start + len(value)
    return [a < end and b > start for a, b in scores.offsets[: scores.n_tokens]]


def qa_accuracy(
    adapter: CausalLMAdapter,
    records: Sequence[Mapping[str, Any]],
    *,
    question_field: str = "question",
    answer_field: str = "answer",
    generate: bool = True,
    max_new_tokens: int = 48,
    name: str = "qa",
) -> dict[str, Result]:
    """Answer-token, value-token and (optionally) generation accuracy on ``records``.

    Records need ``question_field`` and ``answer_field``; value-based accuracies need a
    ``value`` field (records without one get NaN there, which aggregates ignore).
    """
    fmt = adapter.prompt_format
    prompts = [fmt.prompt(str(r[question_field])) for r in records]
    conts = [fmt.continuation(str(r[answer_field])) for r in records]
    # the record's position keeps ids unique (forms repeat person and attribute)
    ids = [f"{i}:{r.get('person_id', '')}:{r.get('attribute', '')}" for i, r in enumerate(records)]
    scores = adapter.score(prompts, conts)
    answer_acc, value_acc = [], []
    for s, cont, rec in zip(scores, conts, records, strict=True):
        correct = s.correct.tolist()
        answer_acc.append(sum(correct) / len(correct) if correct else math.nan)
        mask = _value_mask(s, cont, str(rec.get("value", ""))) if rec.get("value") else []
        picked = [c for c, m in zip(correct, mask, strict=False) if m]
        value_acc.append(sum(picked) / len(picked) if picked else math.nan)
    results = {
        "answer_token_acc": Result.from_values(
            f"{name}/answer_token_acc", answer_acc, higher_is_better=True, ids=ids
        ),
        "value_token_acc": Result.from_values(
            f"{name}/value_token_acc", value_acc, higher_is_better=True, ids=ids
        ),
    }
    if generate:
        gens = adapter.generate(prompts, max_new_tokens=max_new_tokens)
        hits = [
            float(str(r["value"]) in g) if r.get("value") else math.nan
            for r, g in zip(records, gens, strict=True)
        ]
        results["generation_acc"] = Result.from_values(
            f"{name}/generation_acc",
            hits,
            higher_is_better=True,
            ids=ids,
            extra={"generations": gens},
        )
    return results
