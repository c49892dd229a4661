"""ALU's pipeline: detection by token index, the rewrite's penalty in scoring, the critic's
refusal, save/load; and the method on the test world."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.adapters.agentic import AgenticAdapter
from unlearnkit.models.adapters.guarded import penalised

PROMPT = "Question: What comes after one?\nAnswer:"


def pipeline(tiny_lm, forbidden, **kw) -> AgenticAdapter:
    return AgenticAdapter(tiny_lm.model, tiny_lm.tokenizer, forbidden=forbidden, **kw)


def test_detection_finds_only_the_named_targets(tiny_lm):
    a = pipeline(tiny_lm, {"one": [5], "three": [6], "nine": [7]})
    assert a.detect(PROMPT) == ["one"]
    assert a.detect("What comes after three? And after nine?") == ["three", "nine"]
    assert a.detect("What comes after ten?") == []


def test_scores_of_a_target_prompt_are_the_penalised_model(tiny_lm):
    base = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    two = tiny_lm.tokenizer(" two", add_special_tokens=False)["input_ids"]
    a = pipeline(tiny_lm, {"one": two}, penalty=30.0)
    cont = " After one comes two."
    with penalised(tiny_lm.model, two, 30.0):
        want = base.score([PROMPT], [cont])[0].logprobs
    torch.testing.assert_close(a.score([PROMPT], [cont])[0].logprobs, want)
    other = "Question: What comes after three?\nAnswer:"
    torch.testing.assert_close(
        a.score([other], [" After three comes four."])[0].logprobs,
        base.score([other], [" After three comes four."])[0].logprobs,
    )


def test_the_rewrite_drops_the_fact_and_the_critic_refuses_a_leak(tiny_lm, tmp_path):
    base = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    two = tiny_lm.tokenizer(" two", add_special_tokens=False)["input_ids"]
    assert "two" in base.generate([PROMPT], max_new_tokens=8)[0]
    a = pipeline(tiny_lm, {"one": two}, penalty=100.0)
    answer = a.generate([PROMPT], max_new_tokens=8)[0]
    assert "two" not in answer and not a.leaks(answer, ["one"])
    # a penalty too weak to change the draft: the critic sees the leak, the answer is the refusal
    weak = pipeline(tiny_lm, {"one": two}, penalty=1e-6, refusal=" I don't know.")
    assert weak.generate([PROMPT], max_new_tokens=8)[0] == " I don't know."
    loaded = CausalLMAdapter.from_pretrained(a.save(tmp_path / "alu"))
    assert isinstance(loaded, AgenticAdapter) and loaded.fingerprint() == a.fingerprint()


@pytest.mark.slow
def test_alu_on_the_test_world(test_preset_cache):
    from unlearnkit.methods import unlearn

    built, _ = test_preset_cache
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    forget = world.tofu["forget10"]
    alu, record = unlearn(target, forget, world.tofu["retain90"], "alu")
    assert record.details["targets"] == 2 and record.parameters_changed == 0
    asked = [target.prompt_format.prompt(r["question"]) for r in forget]
    said = alu.generate(asked, max_new_tokens=24)
    plain = target.generate(asked, max_new_tokens=24)
    assert sum(str(r["value"]) in t for r, t in zip(forget, plain, strict=True)) >= 8
    assert sum(str(r["value"]) in t for r, t in zip(forget, said, strict=True)) <= 1
    retain = world.tofu["retain_perturbed"][:10]
    prompts = [target.prompt_format.prompt(r["question"]) for r in retain]
    assert alu.generate(prompts, max_new_tokens=24) == target.generate(prompts, max_new_tokens=24)
