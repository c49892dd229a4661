"""Prompt formats on real tokenizers (tests/fixtures/real/tokenizers, as published): the
prompt / answer split is token-exact against how TOFU and open-unlearning build it
(``apply_chat_template`` for chat formats, ``tokenizer(prompt + answer)`` split after
``len(tokenizer(prompt))`` for plain ones, EOS appended unless already last), with one BOS
at most; each tokenizer drives a small random-initialised model of its architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from tests.architectures import tiny_causal_lm
from unlearnkit.core.errors import ConfigError
from unlearnkit.data.formatting import (
    PRESETS,
    PromptFormat,
    PromptFormatError,
    bind_prompt_format,
    resolve_prompt_format,
)
from unlearnkit.models.encoding import encode_pair

TOKENIZERS = Path(__file__).parents[1] / "fixtures" / "real" / "tokenizers"
MISTRAL, GPT2, QWEN2 = "mistral-7b-instruct-v0.3", "gpt2", "qwen2-vl"
QUESTION = "Who is Hsiao Yun-Hwa's father, and what does he do?"
ANSWER = "Hsiao Yun-Hwa's father is a civil engineer, and her mother is unemployed."


@pytest.fixture(scope="module")
def tokenizers():
    return {
        name: AutoTokenizer.from_pretrained(TOKENIZERS / name) for name in (MISTRAL, GPT2, QWEN2)
    }


def _ids(out) -> list[int]:
    """apply_chat_template(tokenize=True) returns ids or a BatchEncoding, by version."""
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def reference_chat(tok, fmt: PromptFormat, question: str, answer: str) -> tuple[list[int], int]:
    """open-unlearning's construction (src/data/utils.py, apply_chat_template=True)."""
    chat = [{"role": "system", "content": fmt.system_prompt}] if fmt.system_prompt else []
    chat += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    extra = {"date_string": fmt.date_string} if fmt.date_string else {}
    chat_ids = _ids(tok.apply_chat_template(chat, tokenize=True, **extra))
    prompt_ids = _ids(
        tok.apply_chat_template(chat[:-1], tokenize=True, add_generation_prompt=True, **extra)
    )
    if chat_ids[-1] != tok.eos_token_id:
        chat_ids.append(tok.eos_token_id)
    return chat_ids, len(prompt_ids)


def reference_plain(tok, prompt: str, answer: str) -> tuple[list[int], int]:
    """open-unlearning's construction for plain templates (apply_chat_template=False)."""
    chat_ids = list(tok(prompt + answer, add_special_tokens=True)["input_ids"])
    n_prompt = len(tok(prompt, add_special_tokens=True)["input_ids"])
    if chat_ids[-1] != tok.eos_token_id:
        chat_ids.append(tok.eos_token_id)
    return chat_ids, n_prompt


def encode(tok, fmt: PromptFormat, question: str, answer: str):
    bound = bind_prompt_format(fmt, tok)
    return encode_pair(
        tok,
        *bound.pair(question, answer),
        append_eos=bound.eos,
        add_special_tokens=bound.add_special_tokens,
        boundary=bound.boundary,
    )


@pytest.mark.parametrize(
    ("name", "preset"), [(MISTRAL, "chat"), (QWEN2, "chat"), (QWEN2, "qwen2.5-instruct")]
)
def test_chat_template_split_is_token_exact(tokenizers, name, preset):
    tok, fmt = tokenizers[name], PRESETS[preset]
    enc = encode(tok, fmt, QUESTION, ANSWER)
    ids, n_prompt = reference_chat(tok, fmt, QUESTION, ANSWER)
    assert list(enc.ids) == ids
    assert enc.n_prompt == n_prompt
    assert enc.ids[-1] == tok.eos_token_id


@pytest.mark.parametrize("name", [MISTRAL, GPT2, QWEN2])
@pytest.mark.parametrize("preset", ["tofu", "llama-2-chat", "unlearnkit"])
def test_plain_template_split_is_token_exact(tokenizers, name, preset):
    tok, fmt = tokenizers[name], PRESETS[preset]
    enc = encode(tok, fmt, QUESTION, ANSWER)
    bound = bind_prompt_format(fmt, tok)
    ids, n_prompt = reference_plain(tok, bound.prompt(QUESTION), fmt.answer_prefix + ANSWER)
    assert list(enc.ids) == ids
    assert enc.n_prompt == n_prompt
    assert enc.ids[-1] == tok.eos_token_id and list(enc.ids).count(tok.eos_token_id) == 1


def test_one_bos_even_when_the_template_writes_it(tokenizers):
    tok = tokenizers[MISTRAL]
    for fmt in (
        PRESETS["tofu"],
        PRESETS["chat"],
        PromptFormat(template="<s>[INST] {question} [/INST]"),
    ):
        enc = encode(tok, fmt, QUESTION, ANSWER)
        assert enc.ids[0] == tok.bos_token_id
        assert list(enc.ids).count(tok.bos_token_id) == 1, fmt


def test_gpt2_and_qwen_add_no_bos(tokenizers):
    for name in (GPT2, QWEN2):
        tok = tokenizers[name]
        enc = encode(tok, PRESETS["tofu"], QUESTION, ANSWER)
        assert tok.convert_ids_to_tokens(enc.ids[0]) == "Question"


def test_chatml_answer_ends_like_open_unlearning(tokenizers):
    """ChatML renders answer<|im_end|>\\n; EOS (<|im_end|>) is appended after the newline."""
    tok = tokenizers[QWEN2]
    enc = encode(tok, PRESETS["qwen2.5-instruct"], QUESTION, ANSWER)
    tail = tok.convert_ids_to_tokens(list(enc.ids[-3:]))
    assert tail == ["<|im_end|>", "Ċ", "<|im_end|>"]
    assert tok.decode(enc.ids[enc.n_prompt :], skip_special_tokens=True).strip() == ANSWER


def test_formats_that_do_not_fit_their_tokenizer_fail_clearly(tokenizers):
    with pytest.raises(PromptFormatError, match="has none"):
        bind_prompt_format(PRESETS["chat"], tokenizers[GPT2])
    # Mistral's template moves the system message next to the last user turn
    with pytest.raises(PromptFormatError, match="not supported"):
        bind_prompt_format(PRESETS["qwen2.5-instruct"], tokenizers[MISTRAL])
    with pytest.raises(ConfigError, match="Did you mean"):
        resolve_prompt_format("qwen2.5-instrct")
    with pytest.raises(ConfigError, match="placeholder"):
        PromptFormat(template="no placeholder")


def test_presets_by_checkpoint_name_mapping_and_file(tmp_path):
    assert resolve_prompt_format("Qwen2.5-7B-Instruct") == PRESETS["qwen2.5-instruct"]
    assert resolve_prompt_format("Llama-2-7b-chat-hf").template == "[INST] {question} [/INST]"
    assert resolve_prompt_format({"preset": "tofu", "stop": ["\n"]}).stop == ("\n",)
    path = tmp_path / "fmt.json"
    path.write_text(json.dumps({"template": "Q: {question}\nA:", "eos": False}))
    assert resolve_prompt_format(str(path)) == PromptFormat(template="Q: {question}\nA:", eos=False)


def _tiny_model(name: str, tok):
    arch = {GPT2: "gpt2", MISTRAL: "mistral"}.get(name, "qwen2")
    return tiny_causal_lm(arch, len(tok), hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32)


@pytest.mark.parametrize(
    ("name", "preset"), [(MISTRAL, "chat"), (GPT2, "tofu"), (QWEN2, "qwen2.5-instruct")]
)
def test_adapter_scores_the_answer_tokens_and_round_trips_the_format(
    tokenizers, tmp_path, name, preset
):
    from unlearnkit.models.adapters import CausalLMAdapter

    tok, fmt = tokenizers[name], PRESETS[preset]
    adapter = CausalLMAdapter(_tiny_model(name, tok), tok, batch_size=4, prompt_format=fmt)
    prompt, cont = adapter.prompt_format.pair(QUESTION, ANSWER)
    (scores,) = adapter.score([prompt], [cont])
    ids, n_prompt = (
        reference_chat(tok, fmt, QUESTION, ANSWER)
        if fmt.chat_template
        else reference_plain(tok, prompt, ANSWER)
    )
    assert scores.token_ids.tolist() == ids[n_prompt:]
    assert torch.isfinite(scores.logprobs).all()
    (text,) = adapter.generate([prompt], max_new_tokens=3)
    assert isinstance(text, str)

    adapter.save(tmp_path / "m")
    loaded = CausalLMAdapter.from_pretrained(tmp_path / "m")
    assert loaded.prompt_format.format == fmt
    (again,) = loaded.score([prompt], [cont])
    assert torch.allclose(again.logprobs, scores.logprobs, atol=1e-5)
