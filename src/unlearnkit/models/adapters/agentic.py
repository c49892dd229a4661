"""An agentic unlearning pipeline over the model's own draft (ALU, arXiv:2502.00406).

No weight changes. A query goes through four steps:

1. **detect** the forget targets named in the prompt (and, for generation, in the draft):
   the token ids are scanned once against an index from each target's first token to its
   token runs, so the cost depends on the prompt's length, not on the number of targets;
2. **draft**: the model answers as it is;
3. **rewrite**: if targets were detected, the model answers again with only *those*
   targets' forbidden tokens pushed down (the tokens of their facts);
4. **critic** and **compose**: if the rewritten answer still contains a detected target's
   forbidden tokens, the answer is the refusal; otherwise the rewrite.

Teacher-forced scores of a prompt about detected targets are those of step 3 (the model's
distribution with the detected targets' forbidden tokens lowered), so every log-prob
metric measures the pipeline. Saved with the model (``inference_time`` kind ``agentic``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnkit.models.adapters.causal_lm import ContinuationScores
from unlearnkit.models.adapters.guarded import penalised
from unlearnkit.models.adapters.wrappers import InferenceWrapper


class AgenticAdapter(InferenceWrapper):
    """forbidden: target name -> its forbidden token ids. refusal: the composed answer when
    the critic finds a leak. penalty: the rewrite's logit penalty."""

    kind = "agentic"
    options = ("forbidden", "refusal", "penalty")

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        forbidden: Mapping[str, Sequence[int]],
        refusal: str = " I don't know.",
        penalty: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if not forbidden:
            raise ValueError("an agentic pipeline needs at least one target")
        self.forbidden = {t: sorted({int(i) for i in ids}) for t, ids in forbidden.items()}
        self.refusal = str(refusal)
        self.penalty = float(penalty)
        # first token -> [(token run, target)]: both the name alone and after a space
        self._index: dict[int, list[tuple[tuple[int, ...], str]]] = {}
        for target in self.forbidden:
            for text in (target, " " + target):
                run = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
                if run:
                    self._index.setdefault(run[0], []).append((run, target))

    # -- the pipeline's steps ------------------------------------------------------------------
    def detect(self, text: str) -> list[str]:
        """The targets named in ``text`` (one pass over its tokens)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        found: dict[str, None] = {}
        for i, token in enumerate(ids):
            for run, target in self._index.get(token, ()):
                if tuple(ids[i : i + len(run)]) == run:
                    found[target] = None
        return list(found)

    def _blocked(self, targets: Sequence[str]) -> list[int]:
        return sorted({i for t in targets for i in self.forbidden[t]})

    def leaks(self, text: str, targets: Sequence[str]) -> bool:
        """The critic: does ``text`` contain a forbidden token of ``targets``?"""
        blocked = set(self._blocked(targets))
        ids = self.tokenizer(" " + text.strip(), add_special_tokens=False)["input_ids"]
        return any(i in blocked for i in ids)

    def _penalty(self, targets: Sequence[str]) -> contextlib.AbstractContextManager[None]:
        if not targets:
            return contextlib.nullcontext()
        return penalised(self.model, self._blocked(targets), self.penalty)

    # -- the contract ---------------------------------------------------------------------------
    def score(
        self, prompts: Sequence[str], continuations: Sequence[str], **kwargs: Any
    ) -> list[ContinuationScores]:
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, p in enumerate(prompts):
            groups.setdefault(tuple(self.detect(p)), []).append(i)
        out: list[Any] = [None] * len(prompts)
        for targets, idx in groups.items():
            with self._penalty(targets):
                part = super().score(
                    [prompts[i] for i in idx], [continuations[i] for i in idx], **kwargs
                )
            for i, s in zip(idx, part, strict=True):
                out[i] = s
        return out

    def generate(self, prompts: Sequence[str], **kwargs: Any) -> list[str]:
        drafts = super().generate(prompts, **kwargs)
        out = list(drafts)
        for i, (prompt, draft) in enumerate(zip(prompts, drafts, strict=True)):
            targets = list(dict.fromkeys(self.detect(prompt) + self.detect(draft)))
            if not targets:
                continue
            with self._penalty(targets):
                rewrite = super().generate([prompt], **kwargs)[0]
            out[i] = self.refusal if self.leaks(rewrite, targets) else rewrite
        return out


__all__ = ["AgenticAdapter"]
