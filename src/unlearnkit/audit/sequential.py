"""Sustainability: forget requests arriving one after another (MUSE, arXiv:2407.06460).

Deletion requests come one at a time. :func:`sequential_unlearning` splits the forget set
into ``requests`` groups of people (seeded), then applies the method to the first group,
then to the second on the result, and so on. After each request it measures the knowledge
of what was requested so far (should fall), of what is still to come (should stay: it was
not asked for yet), and of the retain people (utility). After the last request the union
of the groups is the whole forget set, so the final model can be judged against the oracle
of that set like a one-shot unlearning.
"""

from __future__ import annotations

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
        people.setdefault(str(r.get("person_id", f"#{i}")), []).append(r)
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
    seed: int = 0,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Apply ``method`` to ``requests`` successive parts of ``forget`` (the model is trained
    in place: pass a copy to keep it) and return the history, one entry per request:
    knowledge of the requested records so far, of the pending ones, of ``retain_eval``
    (default: ``retain``), and the request's wall time."""
    from unlearnkit.methods.api import unlearn

    groups = split_requests(forget, requests, seed)
    check = list(retain_eval if retain_eval is not None else retain)
    history = []
    for k in range(1, requests + 1):
        log(f"request {k}/{requests}: {len(groups[k - 1])} records")
        _, record = unlearn(
            model, groups[k - 1], retain, method, config=dict(config or {}), progress=False
        )
        done = [r for g in groups[:k] for r in g]
        pending = [r for g in groups[k:] for r in g]
        history.append(
            {
                "request": k,
                "records": len(groups[k - 1]),
                "requested": knowledge(model, done).headline,
                "pending": knowledge(model, pending).headline if pending else math.nan,
                "retain": knowledge(model, check).headline,
                "wall_time_s": record.wall_time_s,
            }
        )
    return {"method": method, "requests": requests, "history": history}


__all__ = ["sequential_unlearning", "split_requests"]
