"""Tiny random-initialised causal LMs of real architectures, for tests that pair them with a
tokenizer (ours or a real one): Llama, Mistral, Qwen2, Phi, Gemma 2 and GPT-2 configs."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    PhiConfig,
    Qwen2Config,
)

ARCHITECTURES = ("llama", "mistral", "qwen2", "phi", "gemma2", "gpt2")


def tiny_causal_lm(
    arch: str,
    vocab_size: int,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 64,
    max_positions: int = 128,
    token_ids: dict[str, int | None] | None = None,
    seed: int = 0,
) -> torch.nn.Module:
    """A seeded, randomly initialised ``arch`` model in eval mode.

    token_ids: ``bos_token_id`` / ``eos_token_id`` / ``pad_token_id`` for the config (left
    at the architecture's defaults when not given).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; use one of {ARCHITECTURES}")
    torch.manual_seed(seed)
    ids = dict(token_ids or {})
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=vocab_size,
            n_embd=hidden,
            n_layer=layers,
            n_head=heads,
            n_positions=max_positions,
            **ids,
        )
    else:
        shape = {
            "vocab_size": vocab_size,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "max_position_embeddings": max_positions,
            **ids,
        }
        if arch == "phi":
            config = PhiConfig(**shape)
        elif arch == "gemma2":  # soft-capped logits
            config = Gemma2Config(num_key_value_heads=kv_heads, head_dim=hidden // heads, **shape)
        else:
            cls = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}[arch]
            config = cls(num_key_value_heads=kv_heads, **shape)
    return AutoModelForCausalLM.from_config(config).eval()


def token_ids_of(tokenizer) -> dict[str, int | None]:
    """The special-token ids of ``tokenizer`` as config fields."""
    return {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
