"""Teacher-forced memorisation metrics from per-token correctness.

Input to both functions: ``correct[t]`` is True when, with the true answer prefix fed in
(teacher forcing), the model's argmax at answer position t equals the label y_t. Only
answer tokens are included (prompt and padding masked), in answer order.

Exact memorisation: Tirumala et al., "Memorization Without Overfitting", arXiv:2205.10770.
Extraction strength: the prefix-extraction idea of Carlini et al., "Extracting Training
Data from Large Language Models", arXiv:2012.07805, in the suffix-share form used by
open-unlearning's ``extraction_strength`` (with our own no-match convention, see below).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["exact_memorisation", "extraction_strength"]


def exact_memorisation(correct: Sequence[bool]) -> float:
    """Share of answer tokens whose teacher-forced argmax equals the label, in [0, 1].

    An empty answer (no scored tokens) gives NaN, never 0: there is nothing to measure.
    """
    flags = [bool(c) for c in correct]
    if not flags:
        return math.nan
    return sum(flags) / len(flags)


def extraction_strength(correct: Sequence[bool]) -> float:
    """``1 - k/T`` for the smallest k in [0, T] with ``correct[k:]`` all True, in [0, 1].

    The longest correctly predicted *suffix* of the answer, as a share of its T tokens:
    with the first k tokens given, the model completes the rest. All tokens right gives 1;
    ``[F, T, T, T]`` gives 0.75.

    No match: if the last token is wrong, the only k that works is T (an empty suffix is
    trivially all correct), giving 0. That is our convention — a model that cannot produce
    even the final token has extracted nothing. One public implementation (open-unlearning,
    ``src/evals/metrics/memorization.py``) only searches k < T and so returns 1/T there; we
    do not. An empty answer gives NaN.
    """
    flags = [bool(c) for c in correct]
    total = len(flags)
    if total == 0:
        return math.nan
    k = total
    while k > 0 and flags[k - 1]:
        k -= 1
    return 1.0 - k / total
