"""GUARD: generation-time unlearning by forbidden tokens (arXiv:2505.13312).

No weight changes. Prompts about a forget target (its name, exactly or through a token run
whose mean embedding is close to the name's) are answered with the target's *forbidden
tokens* pushed down by a fixed penalty; other prompts are answered as before. The forbidden
tokens are the forget answers' tokens except the answer templates' (tokens found in at least
``common_fraction`` of the retain answers), that is the targets' facts and names, plus every
vocabulary token whose input embedding is within ``token_threshold`` cosine of one of them
(templates excepted). A fact shared with a retain person is forbidden only for prompts
about the target. The model's own input embeddings are the embedding space; no outside
model is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, EditConfig, InferenceMethod
from unlearnkit.methods.concepts import forget_concepts
from unlearnkit.models.adapters.guarded import GuardedAdapter


@dataclass(frozen=True)
class GUARDConfig(EditConfig):
    """penalty: subtracted from the forbidden tokens' logits (the tiny models' top logits
    lead by more than 10). detect_threshold: cosine of a token run's mean embedding to a
    target name's for a prompt to count as about it. token_threshold: cosine to a forbidden
    token's embedding that makes another token forbidden too (1: exact tokens only).
    common_fraction: tokens in at least this share of the retain answers are template words,
    never forbidden. targets: the guarded names (null: found in the forget questions)."""

    penalty: float = param(30.0, gt=0)
    detect_threshold: float = param(0.95, gt=0, le=1)
    token_threshold: float = param(0.9, gt=0, le=1)
    common_fraction: float = param(0.05, gt=0, le=1)
    targets: tuple[str, ...] | None = None


def answer_token_ids(tokenizer: Any, answers: list[str]) -> set[int]:
    """Every token id of ``answers`` (each as it follows a space)."""
    ids: set[int] = set()
    for a in answers:
        ids.update(tokenizer(" " + a.strip(), add_special_tokens=False)["input_ids"])
    return ids


def template_token_ids(tokenizer: Any, answers: list[str], fraction: float) -> set[int]:
    """The token ids found in at least ``fraction`` of ``answers``."""
    counts: dict[int, int] = {}
    for a in answers:
        for i in answer_token_ids(tokenizer, [a]):
            counts[i] = counts.get(i, 0) + 1
    need = max(1, int(fraction * len(answers) + 0.999999))
    return {i for i, c in counts.items() if c >= need}


@METHODS.register(
    "guard",
    paper="arXiv:2505.13312 (GUARD: generation-time LLM unlearning via adaptive restriction)",
    description="Detect prompts about a forget target; push its forbidden tokens (exact and "
    "embedding-similar) down while decoding (no weight change).",
)
class GUARD(InferenceMethod):
    """logits[forbidden] -= penalty, for prompts about a forget target."""

    config_class = GUARDConfig
    uses_retain = True  # retain answers' tokens are never forbidden

    def wrap(self, adapter, forget, retain) -> tuple[Any, dict[str, Any]]:
        cfg = self.config
        found = forget_concepts([q for q, _ in forget], [q for q, _ in retain])
        targets = list(cfg.targets or found)
        if not targets:
            raise ValueError("guard found no target in the forget questions; give targets=[...]")
        tok = adapter.tokenizer
        allowed = template_token_ids(tok, [a for _, a in retain], cfg.common_fraction)
        exact = answer_token_ids(tok, [a for _, a in forget]) - allowed
        forbidden = set(exact)
        if cfg.token_threshold < 1 and exact:
            table = adapter.model.get_input_embeddings().weight.detach().float()
            unit = torch.nn.functional.normalize(table, dim=-1)
            sims = unit[sorted(exact)] @ unit.T  # (forbidden, V)
            close = (sims >= cfg.token_threshold).any(0).nonzero().flatten().tolist()
            forbidden |= set(close) - allowed
        guarded = GuardedAdapter.around(
            adapter,
            targets=targets,
            forbidden=sorted(forbidden),
            penalty=cfg.penalty,
            detect_threshold=cfg.detect_threshold,
        )
        details = {
            "targets": len(targets),
            "forbidden_exact": len(exact),
            "forbidden": len(forbidden),
        }
        return guarded, details
