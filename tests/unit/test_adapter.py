"""The causal-LM adapter against direct, unbatched computations."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.conftest import counting_examples
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.adapters.causal_lm import cut_at_stop
from unlearnkit.models.encoding import collate, encode_pair, length_sorted_batches


def direct_logprobs(model, tokenizer, prompt: str, continuation: str) -> torch.Tensor:
    """One sequence, no padding, no mask: log p of each continuation token."""
    p = tokenizer(prompt)["input_ids"]
    c = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)  # (L, V)
    return torch.stack([logp[len(p) - 1 + t, tok] for t, tok in enumerate(c)])


def test_score_equals_unbatched_computation(tiny_lm):
    ex = tiny_lm.examples
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=3)
    prompts = [e.prompt for e in ex] + ["Count:"]
    conts = [e.completion for e in ex] + [" one"]
    scores = adapter.score(prompts, conts)
    assert len(scores) == len(prompts)
    for s, p, c in zip(scores, prompts, conts, strict=True):
        expected = direct_logprobs(tiny_lm.model, tiny_lm.tokenizer, p, c)
        assert s.token_ids.tolist() == tiny_lm.tokenizer(c, add_special_tokens=False)["input_ids"]
        torch.testing.assert_close(s.logprobs, expected, atol=1e-5, rtol=1e-5)
        assert s.nll == pytest.approx(-float(expected.sum()), abs=1e-4)
        assert s.avg_nll == pytest.approx(s.nll / len(expected))


def test_trained_model_is_correct_teacher_forced(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    scores = adapter.score(
        [e.prompt for e in tiny_lm.examples], [e.completion for e in tiny_lm.examples]
    )
    acc = torch.cat([s.correct for s in scores]).float().mean()
    assert acc > 0.95


def test_distributions_on_demand(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    (plain,) = adapter.score(["Count:"], [" one, two"])
    assert plain.dist is None
    (full,) = adapter.score(["Count:"], [" one, two"], distributions=True)
    assert full.dist.shape == (full.n_tokens, len(tiny_lm.tokenizer))
    torch.testing.assert_close(full.dist.exp().sum(-1), torch.ones(full.n_tokens))
    picked = full.dist.gather(-1, full.token_ids[:, None]).squeeze(-1)
    torch.testing.assert_close(picked, full.logprobs)
    assert torch.equal(full.dist.argmax(-1), full.argmax_ids)


def test_pad_equal_to_eos_does_not_mask_real_eos(tiny_lm):
    tok = copy.deepcopy(tiny_lm.tokenizer)
    tok.pad_token = tok.eos_token  # as in many real checkpoints
    adapter = CausalLMAdapter(tiny_lm.model, tok, batch_size=4)
    eos = tok.eos_token
    prompts = ["Count:", "Question: What comes after one?\nAnswer:", "Count:"]
    conts = [f" one{eos} two", f" After one comes two.{eos}", " one, two, three, four, five"]
    scores = adapter.score(prompts, conts)
    for s, p, c in zip(scores, prompts, conts, strict=True):
        assert tok.eos_token_id in s.token_ids.tolist() or eos not in c
        torch.testing.assert_close(
            s.logprobs, direct_logprobs(tiny_lm.model, tok, p, c), atol=1e-5, rtol=1e-5
        )


def test_collate_mask_comes_from_lengths():
    from unlearnkit.models.encoding import Encoded

    batch = collate([Encoded((5, 2, 2), 1), Encoded((5, 2), 1)], pad_id=2)
    # the real "2" tokens (equal to pad) stay visible; only the padded slot is masked
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch.labels.tolist() == [[-100, 2, 2], [-100, 2, -100]]


def test_length_sorted_batches_cover_every_index_once():
    lengths = [3, 9, 1, 7, 7, 2]
    batches = length_sorted_batches(lengths, 4)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(6))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_encode_pair_cuts_prompt_from_the_left(tiny_lm):
    enc = encode_pair(
        tiny_lm.tokenizer, "Question: What comes after one?\nAnswer:", " After", max_length=4
    )
    assert len(enc.ids) == 4 and enc.n_continuation == 1
    with pytest.raises(ValueError, match="does not fit"):
        encode_pair(tiny_lm.tokenizer, "Count:", " one, two, three", max_length=2)


def test_greedy_generation_batched_equals_unbatched(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=8)
    prompts = [e.prompt for e in tiny_lm.examples]
    batched = adapter.generate(prompts, max_new_tokens=12, stop=())
    single = [adapter.generate([p], max_new_tokens=12, stop=())[0] for p in prompts]
    assert batched == single
    assert batched[0] == " After one comes two."  # eos ends generation


def test_generation_stops_at_stop_strings(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    full = adapter.generate(["Count:"], max_new_tokens=30, stop=())[0]
    assert full.startswith(" one, two, three")
    calls = {"n": 0}
    hook = tiny_lm.model.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    try:
        cut = adapter.generate(["Count:"], max_new_tokens=30, stop=[", three"])[0]
        stopped_calls = calls["n"]
        calls["n"] = 0
        adapter.generate(["Count:"], max_new_tokens=30, stop=())
    finally:
        hook.remove()
    assert cut == " one, two"
    assert stopped_calls < calls["n"]  # it stopped generating, not just cut the text
    assert adapter.generate(["Count:"], max_new_tokens=30, stop=[",", "two"])[0] == " one"


def test_cut_at_stop_picks_earliest():
    assert cut_at_stop("abc\ndef. ghi", ["."]) == "abc\ndef"
    assert cut_at_stop("abc\ndef. ghi", [".", "\n"]) == "abc"
    assert cut_at_stop("abc", ["x"]) == "abc"


def test_sampled_generation_is_seeded_and_leaves_global_rng(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = adapter.generate(["Count:"] * 4, max_new_tokens=8, do_sample=True, temperature=5.0, seed=7)
    after = torch.rand(1)
    b = adapter.generate(["Count:"] * 4, max_new_tokens=8, do_sample=True, temperature=5.0, seed=7)
    c = adapter.generate(["Count:"] * 4, max_new_tokens=8, do_sample=True, temperature=5.0, seed=8)
    assert a == b and a != c
    assert torch.equal(before, after)  # the caller's RNG stream was not consumed


def test_hidden_states_pooling(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=2)
    texts = ["Count: one", "Question: What comes after two?", "x"]
    last = adapter.hidden_states(texts, layer=1)
    mean = adapter.hidden_states(texts, layer=1, pool="mean")
    per_token = adapter.hidden_states(texts, layer=1, pool="none")
    assert last.shape == (3, 64) and mean.shape == (3, 64)
    for i, t in enumerate(texts):
        ids = torch.tensor([tiny_lm.tokenizer(t)["input_ids"]])
        with torch.no_grad():
            hs = tiny_lm.model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
        torch.testing.assert_close(per_token[i], hs, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(last[i], hs[-1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mean[i], hs.mean(0), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="layer must be"):
        adapter.hidden_states(texts, layer=9)


def test_mismatched_inputs_and_empty_prompt(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    with pytest.raises(ValueError, match="one continuation per prompt"):
        adapter.score(["a", "b"], ["c"])
    (s,) = adapter.score([""], ["Count: one"])  # BOS is the whole prompt
    assert s.n_tokens == len(tiny_lm.tokenizer("Count: one", add_special_tokens=False)["input_ids"])


def test_examples_fixture_shape():
    assert len(counting_examples()) == 10


def test_scores_are_the_same_without_logits_to_keep(tiny_lm):
    """Models whose forward lacks ``logits_to_keep`` are scored on full logits, alike."""

    class NoKeep(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

    prompts = [e.prompt for e in tiny_lm.examples]
    conts = [e.completion for e in tiny_lm.examples]
    kept = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=4).score(prompts, conts)
    full = CausalLMAdapter(NoKeep(tiny_lm.model), tiny_lm.tokenizer, batch_size=4).score(
        prompts, conts
    )
    for a, b in zip(kept, full, strict=True):
        torch.testing.assert_close(a.logprobs, b.logprobs, atol=1e-5, rtol=1e-5)
        assert torch.equal(a.argmax_ids, b.argmax_ids)
        torch.testing.assert_close(a.moments[0], b.moments[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.moments[1], b.moments[1], atol=1e-5, rtol=1e-5)
