"""The BPE tokenizer trained from scratch does not depend on the tokenizers library's
parallelism, and training it leaves the caller's environment alone."""

from __future__ import annotations

import os
import random

from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer


def _texts(n: int = 3000) -> list[str]:
    rng = random.Random(0)
    syllables = ["ka", "lo", "mi", "ren", "tsu", "vel", "or", "an", "is", "qu", "ber", "to"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(400)]
    return [" ".join(rng.choices(words, k=rng.randint(4, 16))) + "." for _ in range(n)]


def test_training_gives_the_same_tokenizer_with_parallelism_on_and_off(monkeypatch):
    texts, config = _texts(), TokenizerConfig(vocab_size=600)
    trained = {}
    for parallel in ("true", "false"):  # read by the library at every call
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", parallel)
        trained[parallel] = train_tokenizer(texts, config).backend_tokenizer.to_str()
        assert os.environ["TOKENIZERS_PARALLELISM"] == parallel
    assert trained["true"] == trained["false"]


def test_training_does_not_set_tokenizers_parallelism(monkeypatch):
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    train_tokenizer(_texts(50), TokenizerConfig(vocab_size=300))
    assert "TOKENIZERS_PARALLELISM" not in os.environ
