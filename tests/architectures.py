"""Tiny random-initialised causal LMs for tests, built in about a second: models of real
architectures (Llama, Mistral, Qwen2, Phi, Gemma 2 and GPT-2 configs) for tests that pair
them with a tokenizer (ours or a real one), and :func:`save_tiny_lm`, an untrained model
saved with its tokenizer as a HF directory, for tests that load a model from disk."""

from __future__ import annotations

from pathlib import Path

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


#: the text :func:`save_tiny_lm` trains its tokenizer on
TEXTS = ["Question: What comes after one?\nAnswer: two"] * 4


def save_tiny_lm(path: Path, *, embedding_rows: int | None = None) -> Path:
    """A 1-layer Llama-style model with its BPE tokenizer, saved as a HF directory.

    embedding_rows: shrink the embedding table (and output layer) to this many rows, so that
    the tokenizer holds ids the model cannot embed (a tokenizer that is not the model's).
    """
    from unlearnkit.models.loading import save_causal_lm
    from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm
    from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer

    tok = train_tokenizer(TEXTS, TokenizerConfig(vocab_size=300))
    cfg = TinyLMConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    model = build_tiny_lm(cfg, tok, seed=0)
    if embedding_rows is not None:
        model.resize_token_embeddings(embedding_rows)
    return save_causal_lm(model, tok, path)
