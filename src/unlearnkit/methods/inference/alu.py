"""ALU: agentic LLM unlearning, a pipeline over the model's own draft (arXiv:2502.00406).

No weight changes. The wrapper (:class:`~unlearnkit.models.adapters.agentic.AgenticAdapter`)
detects the forget targets a query names, drafts, rewrites with those targets' forbidden
tokens pushed down, and composes a refusal when a critic still finds them. Its cost does
not grow with the number of targets: detection is one pass over the prompt's tokens through
an index of the targets' first tokens, and only the detected targets' tokens are touched
(``benchmarks/alu_targets.py`` measures it for 1, 10 and 100 targets).

Each forget question's target is found in it (:mod:`unlearnkit.methods.concepts`); its
forbidden tokens are its forget answers' tokens except the answer templates' (tokens in at
least ``common_fraction`` of the retain answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, EditConfig, InferenceMethod
from unlearnkit.methods.concepts import find_subjects
from unlearnkit.methods.inference.guard import answer_token_ids, template_token_ids
from unlearnkit.models.adapters.agentic import AgenticAdapter


@dataclass(frozen=True)
class ALUConfig(EditConfig):
    """penalty: the rewrite's logit penalty on the detected targets' forbidden tokens.
    refusal: the composed answer when the critic finds a leak. common_fraction: tokens in at
    least this share of the retain answers are template words, never forbidden."""

    penalty: float = param(30.0, gt=0)
    refusal: str = " I don't know."
    common_fraction: float = param(0.05, gt=0, le=1)


@METHODS.register(
    "alu",
    paper="arXiv:2502.00406 (ALU: agentic LLM unlearning)",
    description="Detect the targets a query names, draft, rewrite without their forbidden "
    "tokens, critic, compose (no weight change; cost flat in the number of targets).",
)
class ALU(InferenceMethod):
    """detect → draft → rewrite (detected targets' tokens pushed down) → critic → compose."""

    config_class = ALUConfig
    uses_retain = True

    def wrap(self, adapter, forget, retain) -> tuple[Any, dict[str, Any]]:
        cfg = self.config
        tok = adapter.tokenizer
        templates = template_token_ids(tok, [a for _, a in retain], cfg.common_fraction)
        subjects = find_subjects([q for q, _ in forget], [q for q, _ in retain])
        forbidden: dict[str, set[int]] = {}
        for (_, answer), target in zip(forget, subjects, strict=True):
            if target:
                ids = answer_token_ids(tok, [answer]) - templates
                forbidden.setdefault(target, set()).update(ids)
        if not forbidden:
            raise ValueError("alu found no target in the forget questions")
        wrapped = AgenticAdapter.around(
            adapter,
            forbidden={t: sorted(ids) for t, ids in forbidden.items()},
            refusal=cfg.refusal,
            penalty=cfg.penalty,
        )
        sizes = [len(ids) for ids in forbidden.values()]
        return wrapped, {"targets": len(forbidden), "forbidden_per_target": sum(sizes) / len(sizes)}
