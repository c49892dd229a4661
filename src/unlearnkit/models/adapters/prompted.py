"""An inference-time wrapper: the model answers with an instruction before every prompt.

No weight changes. Every query of the adapter contract (teacher-forced scores, generation,
hidden states) sees ``instruction + prompt``, so every evaluation and audit measures the
wrapped model as a user would meet it. Saved with the model (``unlearnkit.json`` key
``inference_time``); :meth:`CausalLMAdapter.from_pretrained` wraps it again on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnkit.models.adapters.causal_lm import ContinuationScores
from unlearnkit.models.adapters.wrappers import InferenceWrapper


class PromptedAdapter(InferenceWrapper):
    """``instruction`` is put before every prompt (and every text of ``hidden_states``)."""

    kind = "prompt"
    options = ("instruction",)

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        instruction: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if not instruction:
            raise ValueError("a prompted adapter needs a non-empty instruction")
        self.instruction = str(instruction)

    def _wrap(self, texts: Sequence[str]) -> list[str]:
        return [self.instruction + t for t in texts]

    def score(
        self, prompts: Sequence[str], continuations: Sequence[str], **kwargs: Any
    ) -> list[ContinuationScores]:
        return super().score(self._wrap(prompts), continuations, **kwargs)

    def generate(self, prompts: Sequence[str], **kwargs: Any) -> list[str]:
        return super().generate(self._wrap(prompts), **kwargs)

    def hidden_states(
        self,
        texts: Sequence[str],
        *,
        layer: int,
        pool: Literal["last", "mean", "none"] = "last",
        batch_size: int | None = None,
    ) -> torch.Tensor | list[torch.Tensor]:
        """As the base adapter's, on ``instruction + text``; "mean" and "none" leave the
        instruction's own positions out (its tokens, counted on the instruction alone)."""
        wrapped = self._wrap(texts)
        if pool == "last":
            return super().hidden_states(wrapped, layer=layer, pool="last", batch_size=batch_size)
        skip = len(self.encode(self.instruction, "").ids)
        rows = super().hidden_states(wrapped, layer=layer, pool="none", batch_size=batch_size)
        rows = [r[min(skip, len(r) - 1) :] for r in rows]
        if pool == "none":
            return rows
        return torch.stack([r.mean(0) for r in rows])


__all__ = ["PromptedAdapter"]
