"""MUSE's memorisation metrics (Shi et al. 2024, arXiv:2407.06460): VerbMem and KnowMem.

Both are ROUGE-L F1 of greedy generations (:class:`~unlearnkit.evaluation.metrics.tofu.RougeL`
with the settings of open-unlearning's ``configs/eval/muse_metrics/forget_verbmem_ROUGE.yaml``
and ``forget_knowmem_ROUGE.yaml`` at d3d7cf9: 128 and 32 new tokens, KnowMem stopping at
"\n\n", "\nQuestion" and "Question:", rouge_score with stemming). MUSE's own code scores
without stemming (``use_stemmer=false`` gives its numbers). PrivLeak, MUSE's third measure,
is a membership-inference result and lives with the attacks (:mod:`unlearnkit.evaluation.mia`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from unlearnkit.core.config import param
from unlearnkit.evaluation.metrics.base import Split, register_metric
from unlearnkit.evaluation.metrics.tofu import RougeConfig, RougeL


@dataclass(frozen=True)
class VerbMemConfig(RougeConfig):
    """A passage prefix (``prompt``) is continued greedily, without a prompt format, for up
    to ``max_new_tokens`` (MUSE: 128), ending only at EOS, and scored against the true
    continuation (``gt``). use_stemmer: open-unlearning's True (MUSE's own code: False)."""

    question_field: str = "prompt"
    answer_field: str = "gt"
    measure: Literal["recall", "f1", "precision"] = "f1"
    max_new_tokens: int = param(128, ge=1)
    raw_prompt: bool = True


@register_metric("verbmem", paper="arXiv:2407.06460", benchmark="muse")
class VerbMem(RougeL):
    """VerbMem: ROUGE-L F1 of the continuation of a forget passage's prefix against the truth
    (lower after unlearning = less verbatim memorisation)."""

    config_class = VerbMemConfig


@dataclass(frozen=True)
class KnowMemConfig(RougeConfig):
    """QA on the forget (or retain) knowledge, ROUGE-L F1 of the greedy answer (MUSE: up to
    32 new tokens, cut at open-unlearning's stop strings). In-context examples, when the
    split has them (``Split.context``), are put before the question in the model's prompt
    format. use_stemmer: open-unlearning's True (MUSE's own code: False)."""

    measure: Literal["recall", "f1", "precision"] = "f1"
    max_new_tokens: int = param(32, ge=1)
    stop: tuple[str, ...] = ("\n\n", "\nQuestion", "Question:")


@register_metric("knowmem", paper="arXiv:2407.06460", benchmark="muse")
class KnowMem(RougeL):
    """KnowMem: ROUGE-L F1 of answers to questions about the forget (or retain) documents."""

    config_class = KnowMemConfig

    def prompts(self, ctx, split: Split) -> list[str]:
        fmt = ctx.adapter.prompt_format
        cfg = self.config
        if split.context:
            Split(f"{split.name} (in-context examples)", split.context, split.source).require(
                cfg.question_field, cfg.answer_field
            )
        shots = "".join(
            fmt.prompt(str(r[cfg.question_field]))
            + _without_eos(fmt, fmt.continuation(str(r[cfg.answer_field])))
            + "\n\n"
            for r in split.context
        )
        return [shots + p for p in super().prompts(ctx, split)]


def _without_eos(fmt, continuation: str) -> str:
    """An in-context answer without the EOS the format ends scored answers with
    (open-unlearning's few-shot examples carry none: EOS ends only the whole sequence)."""
    eos = getattr(fmt, "eos_text", "")
    return continuation[: -len(eos)] if eos and continuation.endswith(eos) else continuation
