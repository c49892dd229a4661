"""Refusal-based methods: the forget answers are replaced by "I don't know"-style answers.

``idk_nll`` (rejection tuning; TOFU's "IdkPO"-free baseline, arXiv:2401.06121) fine-tunes
toward a refusal; ``idk_dpo`` (DPO, Rafailov et al. arXiv:2305.18290, as used for unlearning
in TOFU) prefers the refusal over the forget answer against a frozen reference. Refusals are
drawn (seeded) from the toolkit's list, or from ``refusals_file`` (one per line).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig, load_refusals
from unlearnkit.methods.gradient._terms import logits, reference_sequence_logprob, retain_nll
from unlearnkit.methods.losses import dpo_loss, nll_loss, sequence_logprob


@dataclass(frozen=True)
class IdkNLLConfig(RetainConfig):
    """refusals_file: a file of refusal answers, one per line (null = the shipped list)."""

    lr: float = param(3e-3, gt=0)
    epochs: int = param(10, ge=1)
    refusals_file: str | None = None


@dataclass(frozen=True)
class IdkDPOConfig(IdkNLLConfig):
    """beta: DPO inverse temperature."""

    beta: float = param(0.1, gt=0)


class RefusalMethod(Method):
    """A method whose forget examples also come with a refusal answer (view ``idk``)."""

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.refusals = load_refusals(self.config.refusals_file)

    def views(self, prompt: str, answer: str, rng: random.Random) -> dict[str, tuple[str, str]]:
        refusal = rng.choice(self.refusals)
        if self.prompt_format is not None:  # the model's format: template suffix, EOS
            return {
                "forget": (prompt, answer),
                "idk": (prompt, self.prompt_format.continuation(refusal)),
            }
        prefix = answer[: len(answer) - len(answer.lstrip())]  # keep the answer prefix (space)
        return {"forget": (prompt, answer), "idk": (prompt, prefix + refusal)}


@METHODS.register(
    "idk_nll",
    paper="arXiv:2401.06121 (TOFU, 'I don't know' rejection tuning)",
    description="Fine-tune toward refusal answers on f + alpha * CE(r).",
)
class IdkNLL(RefusalMethod):
    """loss = CE(refusal | forget question) + α CE(retain)."""

    config_class = IdkNLLConfig
    uses_retain = True

    def loss(self, ctx, forget, retain):
        idk = forget["idk"]
        nll = nll_loss(*logits(ctx.model, idk))
        r = retain_nll(ctx, retain)
        return {"loss": nll + self.config.alpha * r, "forget_idk_nll": nll, "retain_nll": r}


@METHODS.register(
    "idk_dpo",
    paper="arXiv:2305.18290 (DPO) as an unlearning baseline in arXiv:2401.06121 (TOFU)",
    description="DPO preferring a refusal over the forget answer + alpha * CE(r).",
)
class IdkDPO(RefusalMethod):
    """loss = DPO(chosen = refusal, rejected = forget answer) + α CE(retain)."""

    config_class = IdkDPOConfig
    uses_retain = True
    uses_reference = True

    def loss(self, ctx, forget, retain):
        chosen, rejected = forget["idk"], forget["forget"]
        lc = sequence_logprob(*logits(ctx.model, chosen))
        lr_ = sequence_logprob(*logits(ctx.model, rejected))
        rc = reference_sequence_logprob(ctx, chosen, "idk")
        rr = reference_sequence_logprob(ctx, rejected, "forget")
        dpo = dpo_loss(lc, lr_, rc, rr, self.config.beta)
        r = retain_nll(ctx, retain)
        return {"loss": dpo + self.config.alpha * r, "forget_dpo": dpo, "retain_nll": r}
