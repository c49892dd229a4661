"""Loading real checkpoints' variants: a tokenizer given only as SentencePiece's
``tokenizer.model`` (and a clear error without its backend), bf16 / fp16 weights, and
accelerate's ``device_map``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.architectures import tiny_causal_lm
from unlearnkit.data.formatting import PromptFormat
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.loading import ModelLoadError, load_causal_lm

MISTRAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "tokenizers"
MISTRAL = MISTRAL / "mistral-7b-instruct-v0.3"


@pytest.fixture(scope="module")
def spm_only(tmp_path_factory) -> Path:
    """A Mistral-architecture checkpoint (tiny, random) whose tokenizer is only the real
    Mistral v0.3 SentencePiece model, renamed ``tokenizer.model`` as many repos ship it."""
    out = tmp_path_factory.mktemp("spm") / "model"
    ids = {"bos_token_id": 1, "eos_token_id": 2}
    model = tiny_causal_lm(
        "mistral",
        32768,
        hidden=16,
        layers=1,
        heads=2,
        kv_heads=1,
        intermediate=32,
        max_positions=64,
        token_ids=ids,
    )
    model.save_pretrained(out)
    shutil.copyfile(MISTRAL / "tokenizer.model.v3", out / "tokenizer.model")
    assert sorted(p.name for p in out.iterdir() if "token" in p.name) == ["tokenizer.model"]
    return out


def test_sentencepiece_model_alone_loads(spm_only):
    _, tokenizer, _ = load_causal_lm(spm_only, prompt_format=PromptFormat())
    assert len(tokenizer) == 32768
    # the ids of the published tokenizer.json for the same text (BOS aside)
    assert tokenizer("Hello world", add_special_tokens=False).input_ids == [23325, 2294]
    assert tokenizer.convert_ids_to_tokens([1, 2]) == ["<s>", "</s>"]


@pytest.mark.parametrize("backend", ["sentencepiece", "protobuf"])
def test_missing_backend_is_a_clear_error(spm_only, monkeypatch, backend):
    """Without sentencepiece (or the protobuf it reads the model with), transformers falls
    back to tiktoken and fails with an error about tiktoken; the loader says which package
    is missing and how to install it."""
    from transformers.utils import import_utils

    message = import_utils.BACKENDS_MAPPING[backend][1]
    monkeypatch.setitem(import_utils.BACKENDS_MAPPING, backend, (lambda: False, message))
    with pytest.raises(ModelLoadError, match=f"pip install {backend}$") as info:
        load_causal_lm(spm_only, prompt_format=PromptFormat())
    assert "SentencePiece model (tokenizer.model, no tokenizer.json)" in str(info.value)
    assert isinstance(info.value.__cause__, (ImportError, ValueError))


def test_unrelated_tokenizer_errors_are_not_relabelled(tmp_path, monkeypatch):
    """A tokenizer error that no missing package explains propagates unchanged."""
    import unlearnkit.models.loading as loading

    def broken(*args, **kwargs):
        raise ValueError("this tokenizer file is corrupt")

    monkeypatch.setattr(loading.AutoTokenizer, "from_pretrained", broken)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="corrupt"):
        loading._load_tokenizer(str(tmp_path), tmp_path, {})


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_weights_score(spm_only, dtype):
    model, tokenizer, fmt = load_causal_lm(spm_only, dtype=dtype, prompt_format=PromptFormat())
    assert model.dtype == getattr(torch, dtype)
    adapter = CausalLMAdapter(model, tokenizer, prompt_format=fmt)
    (s,) = adapter.score(["Question: Who?\nAnswer:"], [" Nobody knows."])
    assert s.logprobs.dtype == torch.float32 and torch.isfinite(s.logprobs).all()
    assert torch.isfinite(s.moments[0]).all() and torch.isfinite(s.moments[1]).all()


def test_device_map_is_passed_to_transformers(spm_only, monkeypatch):
    import unlearnkit.models.loading as loading

    original = loading.AutoModelForCausalLM.from_pretrained
    seen: list[dict] = []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(loading.AutoModelForCausalLM, "from_pretrained", spy)
    model, _, _ = load_causal_lm(spm_only, device_map={"": "cpu"}, prompt_format=PromptFormat())
    assert seen[-1]["device_map"] == {"": "cpu"}
    assert next(model.parameters()).device.type == "cpu" and not model.training
    load_causal_lm(spm_only, prompt_format=PromptFormat())
    assert "device_map" not in seen[-1]  # not passed unless given
    with pytest.raises(ModelLoadError, match="leave device at its default"):
        load_causal_lm(spm_only, device="cuda", device_map="auto", prompt_format=PromptFormat())
