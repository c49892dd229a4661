"""Untrained tiny causal LMs for the reliability tests (built in about a second)."""

from __future__ import annotations

from pathlib import Path

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
