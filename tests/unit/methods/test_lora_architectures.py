"""LoRA on any architecture (targets found per model) and gradient checkpointing in the loop."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from tests.architectures import tiny_causal_lm, token_ids_of
from tests.conftest import counting_examples
from unlearnkit.methods import UnlearningError, unlearn
from unlearnkit.methods.api import register_builtin_methods
from unlearnkit.methods.loop import lora_target_modules, set_gradient_checkpointing
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer

register_builtin_methods()

LLAMA_LIKE = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
ALL_LINEAR = {
    "llama": LLAMA_LIKE,
    "mistral": LLAMA_LIKE,
    "qwen2": LLAMA_LIKE,
    "gpt2": ["c_attn", "c_fc", "c_proj"],
    "phi": ["dense", "fc1", "fc2", "k_proj", "q_proj", "v_proj"],
}
PEFT = {  # peft 0.22's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
    "phi": ["q_proj", "v_proj", "fc1", "fc2"],
}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(
        [e.prompt + e.completion for e in counting_examples()], TokenizerConfig(vocab_size=300)
    )


def tiny(arch: str, tokenizer) -> torch.nn.Module:
    """A randomly initialised model of ``arch`` (hidden 32, 2 layers) for ``tokenizer``."""
    return tiny_causal_lm(arch, len(tokenizer), token_ids=token_ids_of(tokenizer))


def pairs():
    qa = [e for e in counting_examples() if e.prompt.startswith("Question:")]
    out = [
        (e.prompt.removeprefix("Question: ").removesuffix("\nAnswer:"), e.completion.strip())
        for e in qa
    ]
    return out[:4], out[4:]


@pytest.mark.parametrize("arch", sorted(ALL_LINEAR))
def test_targets_found_per_architecture(arch, tokenizer):
    model = tiny(arch, tokenizer)
    assert lora_target_modules(model, "all-linear") == ALL_LINEAR[arch]
    assert lora_target_modules(model, "peft") == PEFT[arch]
    # a list is kept as given
    assert lora_target_modules(model, [PEFT[arch][0]]) == [PEFT[arch][0]]


def test_architecture_unknown_to_peft_falls_back_to_attention_layers(tokenizer, monkeypatch):
    import unlearnkit.methods.loop as loop

    monkeypatch.setattr(loop, "_peft_lora_mapping", dict)
    assert lora_target_modules(tiny("llama", tokenizer), "peft") == [
        "k_proj",
        "o_proj",
        "q_proj",
        "v_proj",
    ]
    assert lora_target_modules(tiny("gpt2", tokenizer), "peft") == ["c_attn", "c_proj"]
    assert lora_target_modules(tiny("phi", tokenizer), "peft") == [
        "dense",
        "k_proj",
        "q_proj",
        "v_proj",
    ]


def test_given_targets_are_validated_with_the_model_s_layers_listed(tokenizer):
    llama = tiny("llama", tokenizer)
    with pytest.raises(UnlearningError, match=r"\['c_attn'\] are not modules.*'gate_proj'"):
        lora_target_modules(llama, ["c_attn"])
    with pytest.raises(UnlearningError, match="'input_layernorm' is a LlamaRMSNorm"):
        lora_target_modules(llama, ["q_proj", "input_layernorm"])
    # a dotted suffix names modules as peft matches them
    assert lora_target_modules(llama, ["self_attn.q_proj"]) == ["self_attn.q_proj"]
    gpt2 = tiny("gpt2", tokenizer)
    with pytest.raises(UnlearningError, match=r"\['q_proj'\] are not modules.*'c_attn'"):
        lora_target_modules(gpt2, ["q_proj"])


def _base_name(peft_name: str) -> str | None:
    """The original parameter name of a peft-wrapped model's parameter (None: LoRA's)."""
    if ".lora_" in peft_name:
        return None
    return peft_name.replace(".base_layer", "")


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(ALL_LINEAR))
def test_a_lora_step_trains_only_the_adapters(arch, tokenizer):
    model = tiny(arch, tokenizer)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    forget, retain = pairs()
    adapter, record = unlearn(
        CausalLMAdapter(model, tokenizer),
        forget,
        retain,
        "grad_diff",
        lora=True,
        merge_lora=False,
        lora_rank=4,
        max_steps=2,
        batch_size=2,
        lr=1e-2,
        progress=False,
    )
    assert math.isfinite(record.final_losses["loss"])
    assert record.details["lora_target_modules"] == ALL_LINEAR[arch]
    inner = adapter.model.get_base_model()
    lora_b, base_seen = [], 0
    for n, p in inner.named_parameters():
        original = _base_name(n)
        if original is None:
            if "lora_B" in n:
                lora_b.append(p)
            continue
        base_seen += 1
        assert torch.equal(p.detach(), before[original]), f"{n} moved"
    assert base_seen == len(before)
    # lora_B starts at zero: every adapter moved, so gradients reached each one
    assert lora_b and all(float(p.detach().abs().sum()) > 0 for p in lora_b)
    assert record.parameters_trainable == sum(
        p.numel() for n, p in inner.named_parameters() if ".lora_" in n
    )


def _checkpointing(model) -> bool:
    flag = getattr(model, "is_activation_checkpointing", None)
    return bool(model.is_gradient_checkpointing if flag is None else flag)


def _count_block_forwards(model: torch.nn.Module) -> list[int]:
    """Calls of the first block's MLP forward (module hooks do not fire in checkpointing's
    recomputation, so the forward itself is counted)."""
    calls = [0]
    mlp = next(m for n, m in model.named_modules() if n.endswith(("layers.0.mlp", "h.0.mlp")))
    forward = mlp.forward

    def counted(*args, **kwargs):
        calls[0] += 1
        return forward(*args, **kwargs)

    mlp.forward = counted
    return calls


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "lora"), [("llama", False), ("gpt2", False), ("qwen2", True)])
def test_gradient_checkpointing_gives_the_same_run(arch, lora, tokenizer, tmp_path):
    """Same loss at every step with and without checkpointing (GPT-2 with its dropout on:
    the recomputation replays the same dropout masks)."""
    forget, retain = pairs()
    runs = {}
    for checkpointing in (False, True):
        model = tiny(arch, tokenizer)
        calls = _count_block_forwards(model)
        out = tmp_path / str(checkpointing)
        adapter, _ = unlearn(
            CausalLMAdapter(model, tokenizer),
            forget,
            retain,
            "npo",
            gradient_checkpointing=checkpointing,
            lora=lora,
            max_steps=3,
            batch_size=2,
            lr=1e-2,
            out_dir=out,
            progress=False,
        )
        assert not _checkpointing(adapter.model)  # switched off after the run
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        runs[checkpointing] = (log, calls[0])
    (plain, n0), (ckpt, n1) = runs[False], runs[True]
    # the first block ran again in the backward pass: checkpointing was really on
    assert n1 > n0
    assert len(plain) == len(ckpt) == 3
    for a, b in zip(plain, ckpt, strict=True):
        for key in ("loss", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)


def test_gradient_checkpointing_refused_where_unsupported():
    class Plain(torch.nn.Module):
        supports_gradient_checkpointing = False

    with pytest.raises(UnlearningError, match="gradient_checkpointing=false"):
        set_gradient_checkpointing(Plain(), True)
    set_gradient_checkpointing(Plain(), False)  # switching off is always fine


def test_gradient_checkpointing_is_off_by_default():
    from unlearnkit.methods.base import UnlearnConfig

    assert UnlearnConfig().gradient_checkpointing is False
    assert UnlearnConfig().lora_target_modules == "all-linear"
    assert copy.copy(UnlearnConfig(lora_target_modules="peft")).lora_target_modules == "peft"
