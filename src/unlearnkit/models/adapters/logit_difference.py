"""ULD's inference-time model: the target's logits minus an assistant's (arXiv:2406.08607).

The assistant (a few first layers of the target with LoRA) was trained to *remember* the
forget set and *forget* the retain set; subtracting its logits, scaled by ``alpha``, from
the target's removes what the assistant knows, i.e. the forget set, and leaves retain
knowledge alone (the assistant knows nothing there). The difference is applied only to
the tokens the target finds plausible (probability at least ``tau`` times its top
token's); other tokens keep the target's logits, so the difference cannot promote a token
the target rules out.

:class:`LogitDifference` is an ``nn.Module`` with the target's forward signature (scores,
packing, hidden states, ``logits_to_keep`` all work through it); :class:`ULDAdapter`
decodes with it step by step (no cache) and saves the assistant next to the target.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import CausalLMOutputWithPast

from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, cut_at_stop
from unlearnkit.models.adapters.wrappers import InferenceWrapper

ASSISTANT_DIR = "uld_assistant"


def uld_logits(
    target: torch.Tensor, assistant: torch.Tensor, alpha: float, tau: float
) -> torch.Tensor:
    """``target − alpha·assistant`` on the tokens whose target probability is at least
    ``tau`` × the top token's; the target's logits elsewhere. Shapes (..., V)."""
    t = target.float()
    logp = t.log_softmax(-1)
    plausible = logp >= logp.max(-1, keepdim=True).values + torch.log(torch.tensor(tau))
    return torch.where(plausible, t - alpha * assistant.float(), t).to(target.dtype)


class LogitDifference(nn.Module):
    """The target and the assistant as one causal LM whose logits are :func:`uld_logits`."""

    def __init__(
        self, target: PreTrainedModel, assistant: PreTrainedModel, alpha: float, tau: float
    ) -> None:
        super().__init__()
        self.target, self.assistant = target, assistant
        self.alpha, self.tau = float(alpha), float(tau)
        self.config = target.config

    @property
    def dtype(self) -> torch.dtype:
        return self.target.dtype

    @property
    def generation_config(self):
        return self.target.generation_config

    def get_input_embeddings(self) -> nn.Module:
        return self.target.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module:
        return self.target.get_output_embeddings()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        output_hidden_states: bool = False,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        common = {"input_ids": input_ids, "attention_mask": attention_mask}
        if position_ids is not None:
            common["position_ids"] = position_ids
        t = self.target(
            **common, logits_to_keep=logits_to_keep, output_hidden_states=output_hidden_states
        )
        a = self.assistant(**common, logits_to_keep=logits_to_keep)
        logits = uld_logits(t.logits, a.logits, self.alpha, self.tau)
        return CausalLMOutputWithPast(logits=logits, hidden_states=t.hidden_states)


class ULDAdapter(InferenceWrapper):
    """An adapter around a :class:`LogitDifference` model (its ``alpha`` and ``tau`` are
    the model's; the assistant is saved in ``uld_assistant/`` inside the target's folder)."""

    kind = "uld"

    def __init__(
        self, model: LogitDifference, tokenizer: PreTrainedTokenizerBase, **kwargs: Any
    ) -> None:
        if not isinstance(model, LogitDifference):
            raise TypeError("a ULDAdapter wraps a LogitDifference model")
        super().__init__(model, tokenizer, **kwargs)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "alpha": self.model.alpha, "tau": self.model.tau}

    @property
    def saved_model(self) -> nn.Module:
        return self.model.target

    def save(self, path: str | Path) -> Path:
        from unlearnkit.models.loading import save_causal_lm

        path = super().save(path)
        save_causal_lm(self.model.assistant, self.tokenizer, Path(path) / ASSISTANT_DIR)
        return path

    @classmethod
    def from_meta(cls, adapter: CausalLMAdapter, meta: dict[str, Any]) -> ULDAdapter:
        """``adapter`` (the target, loaded) with the assistant saved next to it."""
        from unlearnkit.models.loading import load_causal_lm

        assistant, _, _ = load_causal_lm(Path(meta["directory"]) / ASSISTANT_DIR)
        model = LogitDifference(adapter.model, assistant, meta["alpha"], meta["tau"])
        return cls.around(adapter, model=model)

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int = 0,
        **_: Any,
    ) -> list[str]:
        """Decode from the logit difference one token at a time, each prompt alone (no KV
        cache: the assistant and the target run on the whole sequence every step). Greedy,
        or sampled at ``temperature`` from a seeded generator."""
        stops = tuple(self.prompt_format.stop if stop is None else stop)
        eos = set(self.eos_token_ids())
        gen = torch.Generator().manual_seed(seed)
        room = (self.max_length or 10**9) - max_new_tokens
        out = []
        was = self.model.training
        self.model.eval()
        try:
            for prompt in prompts:
                ids = list(self.encode(prompt, "").ids)[-max(room, 1) :]
                new: list[int] = []
                for _ in range(max_new_tokens):
                    x = torch.tensor([ids + new], device=self.device)
                    logits = self.model(input_ids=x, logits_to_keep=1).logits[0, -1].float()
                    if do_sample:
                        probs = (logits / max(temperature, 1e-6)).softmax(-1).cpu()
                        token = int(torch.multinomial(probs, 1, generator=gen))
                    else:
                        token = int(logits.argmax())
                    if token in eos:
                        break
                    new.append(token)
                    text = self.tokenizer.decode(new, skip_special_tokens=True)
                    if stops and any(s in text for s in stops):
                        break
                out.append(cut_at_stop(self.tokenizer.decode(new, skip_special_tokens=True), stops))
        finally:
            self.model.train(was)
        return out


def truncated_copy(model: PreTrainedModel, layers: int) -> PreTrainedModel:
    """A copy of ``model`` with only its first ``layers`` blocks (Llama-style)."""
    n = model.config.num_hidden_layers
    if not 1 <= layers <= n:
        raise ValueError(f"the assistant keeps 1 to {n} blocks, not {layers}")
    small = copy.deepcopy(model)
    small.model.layers = nn.ModuleList(list(small.model.layers)[:layers])
    small.config.num_hidden_layers = layers
    if getattr(small.config, "layer_types", None):
        small.config.layer_types = small.config.layer_types[:layers]
    return small


__all__ = ["LogitDifference", "ULDAdapter", "truncated_copy", "uld_logits"]
