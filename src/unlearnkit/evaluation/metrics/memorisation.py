"""Memorisation of the exact answer, teacher-forced: exact memorisation and extraction
strength (Carlini et al. 2021; Tirumala et al. 2022), as open-unlearning computes them
(``src/evals/metrics/memorization.py`` at d3d7cf9).

Both read every scored answer token but the last (its EOS for QA; see
:mod:`unlearnkit.evaluation.tokens`). The arithmetic is in
:mod:`unlearnkit.evaluation.functional.memorisation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from unlearnkit.core.results import Result
from unlearnkit.evaluation.functional import memorisation as F
from unlearnkit.evaluation.metrics.base import QAConfig, register_metric
from unlearnkit.evaluation.metrics.tofu import TeacherForcedQA
from unlearnkit.evaluation.tokens import without_last_token


@dataclass(frozen=True)
class MemorisationConfig(QAConfig):
    """drop_last_token: leave out the last scored token of each answer, as open-unlearning
    does (``[:-1]``, its EOS; on a raw completion, the text's last token); False reads every
    scored token. raw_prompt: the question field is the prompt text itself and the answer
    follows it after ``separator``, without the prompt format or an EOS (MUSE's VerbMem
    passages: open-unlearning's ``CompletionDataset`` with ``insert_space``)."""

    drop_last_token: bool = True
    raw_prompt: bool = False
    separator: str = " "


class _Memorisation(TeacherForcedQA):
    """Teacher-forced answers of QA records, or of raw completions (``raw_prompt``)."""

    config_class = MemorisationConfig

    def requests(self, ctx, split) -> list[tuple[str, str]]:
        cfg = self.config
        if not cfg.raw_prompt:
            return super().requests(ctx, split)
        split.require(cfg.question_field, cfg.answer_field)
        return [
            (str(r[cfg.question_field]), cfg.separator + str(r[cfg.answer_field]))
            for r in split.records
        ]


def _correct(scores, drop_last: bool) -> list[bool]:
    s = without_last_token(scores) if drop_last else scores
    return s.correct.tolist()


@register_metric("exact_memorisation", paper="arXiv:2202.07646", benchmark="memorisation")
class ExactMemorisation(_Memorisation):
    """Share of answer tokens whose teacher-forced argmax equals the label, per item (an
    item with no token left is NaN and left out, as open-unlearning's None)."""

    config_class = MemorisationConfig

    def compute(self, ctx, split, *, oracle=None) -> Result:
        drop = self.config.drop_last_token
        scores = self.answer_scores(ctx, split)
        return self.result(split, [F.exact_memorisation(_correct(s, drop)) for s in scores])


@dataclass(frozen=True)
class ExtractionStrengthConfig(MemorisationConfig):
    """no_match: the score when even the last token is wrong: "open_unlearning" (1/T, where
    its search stops) or "zero" (nothing was extracted)."""

    no_match: Literal["open_unlearning", "zero"] = "open_unlearning"


@register_metric("extraction_strength", paper="arXiv:2202.07646", benchmark="memorisation")
class ExtractionStrength(_Memorisation):
    """1 - k/T for the smallest k whose teacher-forced suffix y_k..y_T is predicted exactly
    (1/T when even the last token is wrong, as open-unlearning's search gives; an item with
    no token left scores 0, as there)."""

    config_class = ExtractionStrengthConfig

    def compute(self, ctx, split, *, oracle=None) -> Result:
        cfg = self.config
        values = []
        for s in self.answer_scores(ctx, split):
            v = F.extraction_strength(_correct(s, cfg.drop_last_token), no_match=cfg.no_match)
            values.append(0.0 if math.isnan(v) else v)  # open-unlearning: ES = 0 there
        return self.result(split, values)
