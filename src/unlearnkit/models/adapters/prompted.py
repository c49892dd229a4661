"""An inference-time wrapper: the model answers with an instruction before every prompt.

No weight changes. Every query of the adapter contract (teacher-forced scores, generation,
hidden states) sees ``instruction + prompt``, so every evaluation and audit measures the
wrapped model as a user would meet it. Saved with the model (``unlearnkit.json`` key
``inference_time``); :meth:`CausalLMAdapter.from_pretrained` wraps it again on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnkit.core.cache import content_hash
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, ContinuationScores

KIND = "prompt"


class PromptedAdapter(CausalLMAdapter):
    """``instruction`` is put before every prompt (and every text of ``hidden_states``)."""

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
        self.instruction = instruction

    def describe(self) -> dict[str, Any]:
        """What is saved with the model (``unlearnkit.json`` key ``inference_time``)."""
        return {"kind": KIND, "instruction": self.instruction}

    def fingerprint(self) -> str:
        return content_hash({"weights": super().fingerprint(), "wrapper": self.describe()})

    def like(self, model: PreTrainedModel) -> PromptedAdapter:
        return PromptedAdapter(
            model,
            self.tokenizer,
            instruction=self.instruction,
            batch_size=self.batch_size,
            max_length=self.max_length,
            prompt_format=self.prompt_format,
        )

    def save(self, path: str | Path) -> Path:
        from unlearnkit.models.loading import save_causal_lm

        return save_causal_lm(
            self.model,
            self.tokenizer,
            path,
            prompt_format=self.prompt_format,
            extra={"inference_time": self.describe()},
        )

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


def prompted_from_meta(adapter: CausalLMAdapter, meta: dict[str, Any]) -> PromptedAdapter:
    """``adapter`` wrapped as described by a saved ``inference_time`` entry."""
    return PromptedAdapter(
        adapter.model,
        adapter.tokenizer,
        instruction=str(meta["instruction"]),
        batch_size=adapter.batch_size,
        max_length=adapter.max_length,
        prompt_format=adapter.prompt_format,
    )


__all__ = ["PromptedAdapter", "prompted_from_meta"]
