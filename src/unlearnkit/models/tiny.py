"""Tiny causal LMs built from presets and trained from scratch: Llama (dense) or Mixtral
(a sparse mixture of experts, with ``num_experts`` > 0).

Presets follow BENCHMARK_WORLD.md: ``test`` (~0.1-0.3 M parameters, seconds), ``demo``
(~0.8 M, hidden 128, 2 layers), ``bench`` (~5 M, hidden 256, 4 layers); ``moe`` and
``moe-test`` are the demo and test shapes with 4 experts, 2 per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError


@dataclass(frozen=True)
class TinyLMConfig(Config):
    """Shape of a tiny model. ``hidden_size`` must be divisible by ``num_heads``.

    num_experts: 0 for a dense Llama; more for a Mixtral mixture of experts whose MLP is
    ``num_experts`` experts of ``intermediate_size`` each, ``experts_per_token`` of them
    routed per token. (The expert fields are left out of ``to_dict`` for dense models, so
    the cache keys of dense models do not change with them.)
    """

    hidden_size: int = param(128, ge=8)
    num_layers: int = param(2, ge=1)
    num_heads: int = param(4, ge=1)
    intermediate_size: int = param(512, ge=8)
    max_position_embeddings: int = param(512, ge=16)
    tie_word_embeddings: bool = True
    num_experts: int = param(0, ge=0)
    experts_per_token: int = param(2, ge=1)

    def to_dict(self) -> dict:
        data = super().to_dict()
        if self.num_experts == 0:
            data.pop("num_experts")
            data.pop("experts_per_token")
        return data

    def validate(self) -> None:
        if self.num_experts and self.experts_per_token > self.num_experts:
            self.fail(
                "experts_per_token",
                self.experts_per_token,
                f"at most num_experts={self.num_experts}",
            )
        if self.hidden_size % self.num_heads:
            self.fail(
                "num_heads",
                self.num_heads,
                f"must divide hidden_size={self.hidden_size} (head dim = hidden / heads)",
            )


TINY_PRESETS: dict[str, TinyLMConfig] = {
    "test": TinyLMConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=256),
    "demo": TinyLMConfig(hidden_size=128, num_layers=2, num_heads=4, intermediate_size=512),
    "bench": TinyLMConfig(hidden_size=256, num_layers=4, num_heads=8, intermediate_size=1024),
    # 4 experts of a quarter of the dense MLP: about the dense model's parameters
    "moe": TinyLMConfig(
        hidden_size=128, num_layers=2, num_heads=4, intermediate_size=128, num_experts=4
    ),
    "moe-test": TinyLMConfig(
        hidden_size=64, num_layers=2, num_heads=4, intermediate_size=64, num_experts=4
    ),
}


def tiny_preset(name: str) -> TinyLMConfig:
    if name not in TINY_PRESETS:
        raise UnknownNameError("model preset", name, TINY_PRESETS)
    return TINY_PRESETS[name]


def build_tiny_lm(
    config: TinyLMConfig, tokenizer: PreTrainedTokenizerBase, *, seed: int
) -> PreTrainedModel:
    """A freshly initialised Llama (or Mixtral, with experts) sized by ``config`` for
    ``tokenizer``'s vocabulary.

    Weight initialisation draws from torch's global RNG inside transformers, so it is done
    under ``fork_rng`` with ``seed``: same seed, same weights, and the caller's RNG untouched.
    """
    shape = {
        "vocab_size": len(tokenizer),
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": config.num_heads,
        "max_position_embeddings": config.max_position_embeddings,
        "tie_word_embeddings": config.tie_word_embeddings,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "attn_implementation": "sdpa",
    }
    if config.num_experts:
        hf_config = MixtralConfig(
            **shape,
            num_local_experts=config.num_experts,
            num_experts_per_tok=config.experts_per_token,
            sliding_window=None,
        )
        cls: type[PreTrainedModel] = MixtralForCausalLM
    else:
        hf_config = LlamaConfig(**shape)
        cls = LlamaForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(hf_config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
