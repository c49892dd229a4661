"""Teacher-forced memorisation metrics from per-token correctness.

Input to both functions: ``correct[t]`` is True when, with the true answer prefix fed in
(teacher forcing), the model's argmax at answer position t equals the label y_t. Only
answer tokens are included (prompt and padding masked), in answer order. Which tokens: the
metrics pass every scored token but the last (open-unlearning's ``tokenwise_vocab_logprobs``
drops it, "ignore eos prediction"); these functions count what they are given.

Exact memorisation: Tirumala et al., "Memorization Without Overfitting", arXiv:2205.10770.
Extraction strength: the prefix-extraction idea of Carlini et al., "Extracting Training
Data from Large Language Models", arXiv:2012.07805, in the suffix-share form of
open-unlearning's ``extraction_strength`` (``src/evals/metrics/memorization.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["NO_MATCH", "exact_memorisation", "extraction_strength"]

#: What :func:`extraction_strength` gives when even the last token is wrong.
NO_MATCH: tuple[str, ...] = ("open_unlearning", "zero")


def exact_memorisation(correct: Sequence[bool]) -> float:
    """Share of answer tokens whose teacher-forced argmax equals the label, in [0, 1].

    An empty answer (no scored tokens) gives NaN, never 0: there is nothing to measure.
    """
    flags = [bool(c) for c in correct]
    if not flags:
        return math.nan
    return sum(flags) / len(flags)


def extraction_strength(
    correct: Sequence[bool], *, no_match: Literal["open_unlearning", "zero"] = "open_unlearning"
) -> float:
    """``1 - k/T`` for the smallest k with ``correct[k:]`` all True, in [0, 1].

    The longest correctly predicted *suffix* of the answer, as a share of its T tokens:
    with the first k tokens given, the model completes the rest. All tokens right gives 1;
    ``[F, T, T, T]`` gives 0.75.

    No match (the last token is wrong): ``no_match="open_unlearning"`` (default) searches
    k in [0, T-1] as open-unlearning's loop does, which ends at k = T-1 and gives ``1/T``;
    ``no_match="zero"`` also allows k = T (an empty suffix is trivially all correct) and
    gives 0 — a model that cannot produce even the final token has extracted nothing. An
    empty answer gives NaN (the metric decides what an item without tokens scores).

    Raises:
        ValueError: if ``no_match`` is not one of :data:`NO_MATCH`.
    """
    if no_match not in NO_MATCH:
        raise ValueError(
            f"extraction_strength: no_match={no_match!r} is not supported; use one of "
            f"{list(NO_MATCH)}"
        )
    flags = [bool(c) for c in correct]
    total = len(flags)
    if total == 0:
        return math.nan
    k = total
    while k > 0 and flags[k - 1]:
        k -= 1
    if k == total and no_match == "open_unlearning":
        k = total - 1  # open-unlearning's search stops at the last token
    return 1.0 - k / total
