"""An evaluation context's passes kept on disk: a later context of the same model reuses
its scores, generations and per-example values without running the model."""

from __future__ import annotations

import copy

import pytest
import torch

from unlearnkit.evaluation.context import EvalContext
from unlearnkit.models.adapters import CausalLMAdapter


@pytest.fixture
def adapter(tiny_lm):
    return CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=4)


def passes(ctx: EvalContext, examples):
    prompts = [e.prompt for e in examples]
    conts = [e.completion for e in examples]
    scores = ctx.score(prompts, conts)
    gens = ctx.generate(prompts, max_new_tokens=8)
    values = ctx.values("length", prompts, conts, lambda todo: [len(c) for _, c in todo])
    return scores, gens, values


def test_a_second_context_of_the_same_model_runs_nothing(adapter, tiny_lm, tmp_path):
    first = EvalContext(adapter, passes_dir=tmp_path)
    scores, gens, values = passes(first, tiny_lm.examples)
    assert first.counts.forward_calls > 0
    assert first.save() is True
    assert first.save() is False  # nothing new since

    again = EvalContext(adapter, passes_dir=tmp_path)

    def fail(todo):
        raise AssertionError("computed again")

    with again.counting():
        scores2, gens2, values2 = passes(again, tiny_lm.examples)
        ex = tiny_lm.examples
        assert again.values("length", [e.prompt for e in ex], [e.completion for e in ex], fail)
    assert again.counts.forward_calls == 0 and again.counts.scored == 0
    assert gens2 == gens and values2 == values
    for a, b in zip(scores, scores2, strict=True):
        for name in ("token_ids", "logprobs", "argmax_ids"):
            assert torch.equal(getattr(a, name), getattr(b, name))
        assert a.offsets == b.offsets
        assert torch.equal(a.moments[0], b.moments[0])
        assert torch.equal(a.moments[1], b.moments[1])


def test_other_weights_or_no_store_start_afresh(adapter, tiny_lm, tmp_path):
    first = EvalContext(adapter, passes_dir=tmp_path)
    passes(first, tiny_lm.examples[:2])
    first.save()
    other = copy.deepcopy(tiny_lm.model)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    changed = EvalContext(CausalLMAdapter(other, tiny_lm.tokenizer), passes_dir=tmp_path)
    passes(changed, tiny_lm.examples[:2])
    assert changed.counts.scored == 2
    plain = EvalContext(adapter)
    assert plain.save() is False


def test_an_unreadable_store_is_ignored_and_rewritten(adapter, tiny_lm, tmp_path):
    first = EvalContext(adapter, passes_dir=tmp_path)
    passes(first, tiny_lm.examples[:2])
    first.save()
    (path,) = tmp_path.glob("*.safetensors")
    path.write_bytes(b"not a safetensors file")
    again = EvalContext(adapter, passes_dir=tmp_path)
    passes(again, tiny_lm.examples[:2])
    assert again.counts.scored == 2
    assert again.save() is True
    assert EvalContext(adapter, passes_dir=tmp_path).score(["Count:"], [" one"]) is not None


def test_values_must_match_the_pairs(adapter):
    ctx = EvalContext(adapter)
    with pytest.raises(ValueError, match="computed 1 values for 2 pairs"):
        ctx.values("x", ["a", "b"], ["c", "d"], lambda todo: [1.0])


def test_memoised_values_follow_the_prompt_format_and_the_tokenizer(tiny_lm, tmp_path):
    """An oracle's cached values are keyed by its prompt format and tokenizer: change
    either and they are computed again; change neither and they are reused from disk."""
    from unlearnkit.core.results import Result
    from unlearnkit.data.formatting import PromptFormat

    built: list[str] = []

    def memo(ctx: EvalContext, who: str) -> Result:
        def build() -> Result:
            built.append(who)
            return Result.from_values("x", [1.0], higher_is_better=True)

        return ctx.memo({"what": "test"}, build)

    def context(fmt: PromptFormat, tokenizer=tiny_lm.tokenizer) -> EvalContext:
        adapter = CausalLMAdapter(tiny_lm.model, tokenizer, prompt_format=fmt)
        return EvalContext(adapter, cache_dir=tmp_path)

    plain = PromptFormat()
    other = PromptFormat(template="Q: {question}\nA:")
    memo(context(plain), "first")
    memo(context(plain), "same again")  # a new context, same key: read from disk
    assert built == ["first"]
    a, b = context(plain), context(other)
    assert a.passes_key()["prompt_format"] == plain.to_dict()
    assert a.passes_key() != b.passes_key()
    memo(b, "other format")
    assert built == ["first", "other format"]

    tok = copy.deepcopy(tiny_lm.tokenizer)
    tok.add_tokens(["<extra>"])
    changed = context(plain, tok)
    assert changed.tokenizer_key() != a.tokenizer_key()
    memo(changed, "other tokenizer")
    assert built == ["first", "other format", "other tokenizer"]
