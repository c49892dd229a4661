"""Sustainability: forget requests arriving one after another (MUSE, arXiv:2407.06460).

Deletion requests come one at a time. :func:`sequential_unlearning` splits the forget set
into ``requests`` groups of people (seeded), then applies the method to the first group,
then to the second on the result, and so on. After each request it measures the knowledge
of what was requested so far (should fall), of what is still to come (should stay: it was
not asked for yet), and of the retain people (utility).

Given the evaluation data and the oracle of the whole forget set, it also tracks forget
quality and model utility after each request (the TOFU suite): forget quality compares the
model with the oracle on the people requested so far. That oracle never saw any of them, so
it is a model that never learnt them; it did not see the pending people either, which a
retrain after request k would have (exact per-request oracles would cost one retraining
per request). After the last request the requested people are the whole forget set, and the
judgement is exactly that of a one-shot unlearning against its oracle.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from unlearnkit.audit.knowledge import knowledge
from unlearnkit.core.seeding import derive_seed
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter


def split_requests(
    records: Sequence[Mapping[str, Any]], requests: int, seed: int = 0
) -> list[list[Mapping[str, Any]]]:
    """The forget records in ``requests`` groups of whole people (seeded, near-equal
    sizes); records without a ``person_id`` count as one person each."""
    people: dict[str, list[Mapping[str, Any]]] = {}
    for i, r in enumerate(records):
        people.setdefault(_person(r, i), []).append(r)
    if not 1 <= requests <= len(people):
        raise ValueError(
            f"requests must be between 1 and the number of forget people ({len(people)}), "
            f"got {requests}"
        )
    order = sorted(people)
    random.Random(derive_seed(seed, "requests")).shuffle(order)
    groups: list[list[Mapping[str, Any]]] = [[] for _ in range(requests)]
    for i, person in enumerate(order):
        groups[i % requests].extend(people[person])
    return groups


def sequential_unlearning(
    model: CausalLMAdapter,
    forget: Sequence[Mapping[str, Any]],
    retain: Sequence[Mapping[str, Any]],
    method: str,
    *,
    requests: int = 5,
    config: Mapping[str, Any] | None = None,
    retain_eval: Sequence[Mapping[str, Any]] | None = None,
    data: Any = None,
    oracle: Any = None,
    bootstrap: int = 0,
    seed: int = 0,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Apply ``method`` to ``requests`` successive parts of ``forget`` (the model is trained
    in place: pass a copy to keep it) and return the history, one entry per request:
    knowledge of the requested records so far, of the pending ones, of ``retain_eval``
    (default: ``retain``), and the request's wall time.

    data (evaluation data whose forget set is ``forget``: a World, TofuData, EvalData or a
    directory) and oracle (the model retrained without ``forget``): add ``forget_quality``
    (on the people requested so far; see the module docstring) and ``model_utility`` to
    every entry. bootstrap: resamples of their intervals (0: none).
    """
    from unlearnkit.methods.api import unlearn

    groups = split_requests(forget, requests, seed)
    check = list(retain_eval if retain_eval is not None else retain)
    judge = _judge(data, oracle, forget, bootstrap) if data is not None else None
    history = []
    for k in range(1, requests + 1):
        log(f"request {k}/{requests}: {len(groups[k - 1])} records")
        _, record = unlearn(
            model, groups[k - 1], retain, method, config=dict(config or {}), progress=False
        )
        done = [r for g in groups[:k] for r in g]
        pending = [r for g in groups[k:] for r in g]
        entry: dict[str, Any] = {
            "request": k,
            "records": len(groups[k - 1]),
            "requested": knowledge(model, done).headline,
            "pending": knowledge(model, pending).headline if pending else math.nan,
            "retain": knowledge(model, check).headline,
            "wall_time_s": record.wall_time_s,
        }
        if judge is not None:
            entry.update(judge(model, done))
        history.append(entry)
    return {"method": method, "requests": requests, "history": history}


def _judge(
    data: Any, oracle: Any, forget: Sequence[Mapping[str, Any]], bootstrap: int
) -> Callable[[CausalLMAdapter, list[Mapping[str, Any]]], dict[str, float]]:
    """A function giving forget quality (on the requested people) and model utility."""
    from unlearnkit.core.errors import UnlearnkitError
    from unlearnkit.evaluation.api import evaluate
    from unlearnkit.evaluation.data import EvalData, eval_data

    full = eval_data(data)
    if full.tofu is None:
        raise UnlearnkitError("the sequential audit's evaluation data holds no TOFU splits")
    ids = {_person(r, i) for i, r in enumerate(forget)}
    have = {_person(r, i) for i, r in enumerate(full.tofu.forget)}
    if ids != have:
        raise UnlearnkitError(
            "the evaluation data's forget set is not the forget set of the requests "
            f"({len(have)} people vs {len(ids)}); give the data of the same forget request"
        )

    def judge(model: CausalLMAdapter, done: list[Mapping[str, Any]]) -> dict[str, float]:
        asked = {_person(r, i) for i, r in enumerate(done)}
        part = dataclasses.replace(
            full.tofu,
            forget=[r for i, r in enumerate(full.tofu.forget) if _person(r, i) in asked],
        )
        report = evaluate(
            model,
            EvalData(source=full.source, tofu=part),
            suites=("tofu",),
            oracle=oracle,
            bootstrap=bootstrap,
        )
        results = report.results["tofu"]
        return {
            "forget_quality": results["forget/forget_quality"].aggregate,
            "model_utility": results["model_utility"].aggregate,
        }

    return judge


def _person(record: Mapping[str, Any], index: int) -> str:
    """The record's person; a record without ``person_id`` is a person of its own (its
    question, else its position)."""
    if record.get("person_id") is not None:
        return str(record["person_id"])
    return f"#{record.get('question', index)}"


__all__ = ["sequential_unlearning", "split_requests"]
