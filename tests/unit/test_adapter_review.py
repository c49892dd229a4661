"""Regressions for defects found in review: tokenisation boundary, generation settings,
length limits, train/eval mode, BOS-less tokenizers."""

from __future__ import annotations

import copy

import pytest
import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.encoding import encode_pair


def sentencepiece_like_tokenizer() -> PreTrainedTokenizerFast:
    """Llama-2 "legacy" style: a word marker is prepended and spaces become markers, so a
    continuation tokenised on its own would start with a lone marker token."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # word pieces start at a marker (SentencePiece never merges across one)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("▁"), behavior="merged_with_next")
    texts = [
        "Question: Who is Anna?\nAnswer: Anna is a poet.",
        "Anna writes poems and is a poet.",
    ] * 5
    tok.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "<s>", "</s>"])
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def test_continuation_tokens_match_joint_tokenisation():
    tok = sentencepiece_like_tokenizer()
    prompt, cont = "Question: Who is Anna?\nAnswer:", " Anna is a poet."
    alone = tok(cont, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(alone)[0] == "▁"  # the bogus token separate encoding makes
    enc = encode_pair(tok, prompt, cont, with_offsets=True)
    joint = tok(prompt + cont)["input_ids"]
    assert list(enc.ids) == joint
    cont_tokens = tok.convert_ids_to_tokens(list(enc.ids[enc.n_prompt :]))
    assert cont_tokens[0] != "▁" and "".join(cont_tokens).replace("▁", " ") == cont
    assert enc.offsets is not None and len(enc.offsets) == enc.n_continuation


def test_checkpoint_generation_settings_are_not_inherited_except_eos(tiny_lm):
    model = copy.deepcopy(tiny_lm.model)
    adapter = CausalLMAdapter(model, tiny_lm.tokenizer)
    prompt = "Question: What comes after one?\nAnswer:"
    plain = adapter.generate([prompt], max_new_tokens=12, stop=())[0]
    model.generation_config.repetition_penalty = 5.0
    model.generation_config.no_repeat_ngram_size = 1
    assert adapter.generate([prompt], max_new_tokens=12, stop=())[0] == plain
    # an extra end-of-turn id in the checkpoint's config ends generation
    comes = tiny_lm.tokenizer(" comes", add_special_tokens=False)["input_ids"][0]
    model.generation_config.eos_token_id = [tiny_lm.tokenizer.eos_token_id, comes]
    assert adapter.generate([prompt], max_new_tokens=12, stop=())[0] == " After one"


def test_special_token_stop_strings(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    eos = tiny_lm.tokenizer.eos_token
    out = adapter.generate(
        ["Question: What comes after one?\nAnswer:"], max_new_tokens=12, stop=(eos,)
    )
    assert out == [" After one comes two."]


def test_long_prompts_leave_room_for_new_tokens(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, max_length=20)
    long_prompt = "Count: " + "one, two, " * 30
    (out,) = adapter.generate([long_prompt], max_new_tokens=8, stop=())
    assert isinstance(out, str)
    with pytest.raises(ValueError, match="leaves no room"):
        adapter.generate(["Count:"], max_new_tokens=20)


def test_queries_restore_the_training_mode(tiny_lm):
    model = copy.deepcopy(tiny_lm.model).train()
    adapter = CausalLMAdapter(model, tiny_lm.tokenizer)
    adapter.score(["Count:"], [" one"])
    adapter.generate(["Count:"], max_new_tokens=2)
    adapter.hidden_states(["Count:"], layer=1)
    assert model.training
    with pytest.raises(ValueError, match="pool must be"):
        adapter.hidden_states(["Count:"], layer=1, pool="max")


def test_tokenizers_without_bos_score_from_the_second_token(tiny_lm):
    tok = copy.deepcopy(tiny_lm.tokenizer)
    tok._tokenizer.post_processor = None  # no BOS added
    tok.bos_token = None
    adapter = CausalLMAdapter(tiny_lm.model, tok)
    text = "Count: one, two"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    (s,) = adapter.score([""], [text])
    assert s.token_ids.tolist() == ids[1:]  # the first token is context, not scored
    with torch.no_grad():
        logp = torch.log_softmax(tiny_lm.model(input_ids=torch.tensor([ids])).logits[0], -1)
    expected = torch.stack([logp[t - 1, ids[t]] for t in range(1, len(ids))])
    torch.testing.assert_close(s.logprobs, expected, atol=1e-5, rtol=1e-5)
