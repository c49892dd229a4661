"""Form probes: is the fact forgotten in every way of asking, or only in the trained one?

The world renders each fact in several forms (BENCHMARK_WORLD.md §2): open questions with
held-out templates, fill-in-the-blank, multiple choice, yes/no, the reversed relation,
multi-hop through a relative, and adversarial wrappers (prefix injection, role play, a
many-shot context of retain facts, the question inside an unrelated instruction). Only the
trained question templates are ever trained on. Unlearning that generalises lowers the
forget people's knowledge in every form; suppression of the trained form leaves the others
high (Lynch et al. 2024, arXiv:2402.16835; RWKU, arXiv:2406.10890).

For each form and each group of people (forget, retain, holdout) :func:`form_knowledge`
measures :class:`~unlearnkit.audit.knowledge.Knowledge` of the form's answer; multiple
choice and yes/no are scored by comparing the choices (:func:`choice_knowledge`), since a
small model never trained on the letter format answers letters at chance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unlearnkit.audit.knowledge import Knowledge, knowledge
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

GROUPS = ("forget", "retain", "holdout")
#: forms answered by choosing (scored by comparing the choices, not by generating)
CHOICE_FORMS = ("mcq", "yes_no")


def choice_knowledge(adapter: CausalLMAdapter, records: Sequence[Mapping[str, Any]]) -> Knowledge:
    """Knowledge on multiple-choice (``options``) or yes/no records by comparing choices.

    Each choice is scored as the continuation of the question (mcq: each option's text;
    yes/no: "Yes" and "No"), by its mean per-token log-probability; a record counts as
    known when the correct choice scores highest. value_acc = answer_acc = that share;
    answer_logprob = the correct choice's mean log-probability.
    """
    fmt = adapter.prompt_format
    prompts, conts, spans, correct = [], [], [], []
    for r in records:
        if r.get("form") == "yes_no":
            choices, right = ["Yes", "No"], 0 if str(r["answer"]) == "Yes" else 1
        else:
            choices, right = [str(o) for o in r["options"]], int(r["answer_index"])
        spans.append((len(conts), len(choices)))
        correct.append(right)
        prompt = fmt.prompt(str(r["question"]))
        prompts.extend([prompt] * len(choices))
        conts.extend(fmt.continuation(c) for c in choices)
    scores = adapter.score(prompts, conts)
    means = [float(s.logprobs.mean()) for s in scores]
    hits, logps = [], []
    for (start, n), right in zip(spans, correct, strict=True):
        mine = means[start : start + n]
        hits.append(float(max(range(n), key=mine.__getitem__) == right))
        logps.append(mine[right])
    acc = sum(hits) / len(hits)
    return Knowledge(acc, acc, sum(logps) / len(logps), len(records))


def form_knowledge(
    adapter: CausalLMAdapter,
    forms: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    groups: Sequence[str] = GROUPS,
    only: Sequence[str] | None = None,
) -> dict[str, dict[str, Knowledge]]:
    """``form -> group -> Knowledge`` of ``adapter`` on the world's ``forms`` records.

    only: the forms to probe (default: all of them). Groups without records are left out.
    """
    names = list(only) if only is not None else list(forms)
    unknown = [n for n in names if n not in forms]
    if unknown:
        raise KeyError(f"unknown forms {unknown}; the world has {sorted(forms)}")
    out: dict[str, dict[str, Knowledge]] = {}
    for name in names:
        out[name] = {}
        for group in groups:
            records = [r for r in forms[name] if r.get("group") == group]
            if not records:
                continue
            choices = records[0].get("form") in CHOICE_FORMS
            out[name][group] = (
                choice_knowledge(adapter, records) if choices else knowledge(adapter, records)
            )
    return out


def form_gaps(
    table: Mapping[str, Mapping[str, Knowledge]], trained: float, group: str = "forget"
) -> dict[str, float]:
    """Each form's value accuracy on ``group`` minus ``trained`` (the trained form's): how
    much more the model gives away when asked another way."""
    return {
        form: by_group[group].headline - trained
        for form, by_group in table.items()
        if group in by_group
    }


__all__ = ["CHOICE_FORMS", "GROUPS", "choice_knowledge", "form_gaps", "form_knowledge"]
