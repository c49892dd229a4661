"""The training loop: sampler, schedule, errors."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import counting_examples
from unlearnkit.core.errors import ConfigError
from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm, count_parameters, tiny_preset
from unlearnkit.models.training import (
    LengthBucketSampler,
    TrainConfig,
    TrainingError,
    lr_schedule,
    train_causal_lm,
)


def test_sampler_is_seeded_and_covers_every_example_each_epoch():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6]
    a = LengthBucketSampler(lengths, batch_size=3, bucket_size=2, seed=1)
    b = LengthBucketSampler(lengths, batch_size=3, bucket_size=2, seed=1)
    c = LengthBucketSampler(lengths, batch_size=3, bucket_size=2, seed=2)
    ea1, ea2 = list(a), list(a)
    assert ea1 == list(b) and ea2 == list(b)  # same seed, same epochs
    assert ea1 != ea2  # reshuffled every epoch
    assert ea1 != list(c)
    for epoch in (ea1, ea2):
        assert sorted(i for batch in epoch for i in batch) == list(range(10))
        assert len(epoch) == len(a) == 4


def test_sampler_groups_similar_lengths():
    lengths = list(range(100))
    sampler = LengthBucketSampler(lengths, batch_size=10, bucket_size=10, seed=0)
    for batch in sampler:  # one pool holds everything: batches are contiguous runs
        assert max(lengths[i] for i in batch) - min(lengths[i] for i in batch) == 9


def test_lr_schedule_warmup_then_cosine_to_floor():
    f = lr_schedule("cosine", total=100, warmup=10, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(100) == pytest.approx(0.1)
    lin = lr_schedule("linear", total=10, warmup=0)
    assert [round(lin(s), 2) for s in (0, 5, 10)] == [1.0, 0.5, 0.0]
    assert lr_schedule("constant", total=10, warmup=2)(7) == 1.0


def test_training_lowers_the_loss_and_records_cost(tiny_lm):
    model = build_tiny_lm(
        TinyLMConfig(hidden_size=32, num_heads=2, intermediate_size=64), tiny_lm.tokenizer, seed=1
    )
    before = [p.detach().clone() for p in model.parameters()]
    rec = train_causal_lm(
        model,
        tiny_lm.tokenizer,
        counting_examples(),
        TrainConfig(epochs=3, batch_size=4),
        progress=False,
    )
    assert rec.steps == 3 * 3 and rec.examples == 10 and rec.tokens > 0
    assert rec.wall_time_s > 0 and rec.peak_memory_mb > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_non_finite_loss_stops_with_a_clear_error(tiny_lm, monkeypatch):
    model = build_tiny_lm(tiny_preset("test"), tiny_lm.tokenizer, seed=0)
    real_forward = model.forward

    def nan_forward(*args, **kwargs):
        out = real_forward(*args, **kwargs)
        out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(model, "forward", nan_forward)
    with pytest.raises(TrainingError, match="loss became nan at step 0"):
        train_causal_lm(
            model, tiny_lm.tokenizer, counting_examples(), TrainConfig(epochs=1), progress=False
        )
    with pytest.raises(TrainingError, match="empty"):
        train_causal_lm(model, tiny_lm.tokenizer, [], TrainConfig(epochs=1), progress=False)


def test_model_builder_is_seeded_and_sized(tiny_lm):
    a = build_tiny_lm(tiny_preset("test"), tiny_lm.tokenizer, seed=3)
    b = build_tiny_lm(tiny_preset("test"), tiny_lm.tokenizer, seed=3)
    c = build_tiny_lm(tiny_preset("test"), tiny_lm.tokenizer, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))
    assert a.config.vocab_size == len(tiny_lm.tokenizer)
    assert 0.05e6 < count_parameters(a) < 0.3e6


def test_model_config_validation():
    with pytest.raises(ConfigError, match=r"num_heads = 3 is invalid: must divide hidden_size=64"):
        TinyLMConfig(hidden_size=64, num_heads=3)
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)


def test_moe_presets_build_mixtral_and_dense_configs_keep_their_keys(tiny_lm):
    from transformers import LlamaForCausalLM, MixtralForCausalLM

    from unlearnkit.core.errors import ConfigError

    dense = tiny_preset("demo")
    # the expert fields stay out of a dense model's config dict (its cache keys)
    assert "num_experts" not in dense.to_dict() and "experts_per_token" not in dense.to_dict()
    assert TinyLMConfig.from_dict(dense.to_dict()) == dense
    moe = tiny_preset("moe-test")
    assert moe.to_dict()["num_experts"] == 4 and TinyLMConfig.from_dict(moe.to_dict()) == moe
    assert isinstance(
        build_tiny_lm(tiny_preset("test"), tiny_lm.tokenizer, seed=0), LlamaForCausalLM
    )
    model = build_tiny_lm(moe, tiny_lm.tokenizer, seed=0)
    assert isinstance(model, MixtralForCausalLM)
    assert model.config.num_local_experts == 4 and model.config.num_experts_per_tok == 2
    with pytest.raises(ConfigError, match="experts_per_token"):
        TinyLMConfig(num_experts=2, experts_per_token=3)
