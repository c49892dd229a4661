"""ICU, in-context unlearning: an instruction before every prompt tells the model not to
reveal what it knows about the forget targets (RWKU's in-context baseline, Jin et al. 2024,
arXiv:2406.10890; in-context unlearning, Pawelczyk et al. 2023, arXiv:2310.07579).

No weight changes: the model is wrapped (:class:`~unlearnkit.models.adapters.prompted.
PromptedAdapter`), saved with its instruction, and every evaluation and audit queries it
through the instruction. The targets are the forget set's concepts, found in its questions
(:mod:`unlearnkit.methods.concepts`: a person's name in TOFU-style data) or given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, EditConfig, InferenceMethod
from unlearnkit.methods.concepts import forget_concepts
from unlearnkit.models.adapters.prompted import PromptedAdapter


@dataclass(frozen=True)
class ICUConfig(EditConfig):
    """template: the instruction, with ``{targets}`` for the forget targets (joined with
    ", "). targets: the targets (null: found in the forget questions). max_targets: at most
    this many are named (the prompt grows with them)."""

    template: str = (
        "You must not reveal anything about {targets}. If a question is about them, answer "
        "that you do not know.\n"
    )
    targets: tuple[str, ...] | None = None
    max_targets: int = param(50, ge=1)

    def validate(self) -> None:
        if "{targets}" not in self.template:
            self.fail("template", self.template, "a text containing {targets}")


@METHODS.register(
    "icu",
    paper="arXiv:2406.10890 (RWKU, in-context unlearning baseline); arXiv:2310.07579",
    description="In-context unlearning: an instruction naming the forget targets before "
    "every prompt (no weight change).",
)
class ICU(InferenceMethod):
    """prompt ← template(targets) + prompt, for every query of the model."""

    config_class = ICUConfig
    uses_retain = True  # to tell the targets' names from words every question uses

    def wrap(self, adapter, forget, retain) -> tuple[Any, dict[str, Any]]:
        cfg = self.config
        targets = list(
            cfg.targets or forget_concepts([q for q, _ in forget], [q for q, _ in retain])
        )
        if not targets:
            raise ValueError("icu found no target in the forget questions; give targets=[...]")
        named = targets[: cfg.max_targets]
        instruction = cfg.template.format(targets=", ".join(named))
        base = getattr(adapter, "instruction", "")  # wrapping a wrapped model: both apply
        wrapped = PromptedAdapter.around(adapter, instruction=instruction + base)
        return wrapped, {"targets": len(targets), "named": named, "instruction": instruction}
