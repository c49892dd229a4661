"""Memorisation of the exact answer, teacher-forced: exact memorisation and extraction
strength (Carlini et al. 2021; Tirumala et al. 2022; the open-unlearning definitions).

The arithmetic is in :mod:`unlearnkit.evaluation.functional.memorisation`.
"""

from __future__ import annotations

from unlearnkit.core.results import Result
from unlearnkit.evaluation.functional import memorisation as F
from unlearnkit.evaluation.metrics.base import register_metric
from unlearnkit.evaluation.metrics.tofu import TeacherForcedQA


@register_metric("exact_memorisation", paper="arXiv:2202.07646", family="memorisation")
class ExactMemorisation(TeacherForcedQA):
    """Share of answer tokens whose teacher-forced argmax equals the label, per item."""

    def compute(self, ctx, split, *, oracle=None) -> Result:
        scores = self.answer_scores(ctx, split)
        return self.result(split, [F.exact_memorisation(s.correct.tolist()) for s in scores])


@register_metric("extraction_strength", paper="arXiv:2202.07646", family="memorisation")
class ExtractionStrength(TeacherForcedQA):
    """1 - k/T for the smallest k whose teacher-forced suffix y_k..y_T is predicted exactly
    (0 when even the last token is wrong: our documented no-match convention)."""

    def compute(self, ctx, split, *, oracle=None) -> Result:
        scores = self.answer_scores(ctx, split)
        return self.result(split, [F.extraction_strength(s.correct.tolist()) for s in scores])
