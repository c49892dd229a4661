"""GUARD's wrapper: detection, the penalty in scoring and generation, save/load; and the
method on the test world (forget facts blocked, retain people answered as before)."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.adapters.guarded import GuardedAdapter

PROMPT = "Question: What comes after one?\nAnswer:"
CONT = " After one comes two."


def guarded(tiny_lm, forbidden, **kw) -> GuardedAdapter:
    return GuardedAdapter(
        tiny_lm.model, tiny_lm.tokenizer, targets=["one"], forbidden=forbidden, **kw
    )


def test_detection_by_name_and_by_embedding(tiny_lm):
    g = guarded(tiny_lm, [5])
    assert g.about_target(PROMPT) and g.about_target("what about ONE?")
    assert not g.about_target("Question: What comes after three?\nAnswer:")
    # the embedding route: a target whose name is nowhere in the prompt, but whose mean
    # embedding is that of a token run of the prompt, is detected; a far one is not
    h = GuardedAdapter(tiny_lm.model, tiny_lm.tokenizer, targets=["zzqq"], forbidden=[5])
    assert not h.about_target(PROMPT)
    run = h._ids(" after one")
    h._target_vectors = [h._mean_embedding(run)]
    h.targets = ["x" * len(run)]  # the same token count, no exact match possible
    h._ids = lambda text, ids=h._ids: run if text == h.targets[0] else ids(text)
    assert h.about_target(PROMPT)
    h._target_vectors = [-h._mean_embedding(run)]
    assert not h.about_target(PROMPT)


def test_scoring_pushes_the_forbidden_tokens_down_only_for_target_prompts(tiny_lm):
    base = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    cont_ids = base.encode(PROMPT, CONT).ids[-len(base.score([PROMPT], [CONT])[0].logprobs) :]
    forbidden = [cont_ids[-2]]  # the token before the last: " two" (or part of it)
    g = guarded(tiny_lm, forbidden, penalty=30.0)
    got = g.score([PROMPT], [CONT])[0].logprobs
    # by hand: log-softmax of the logits with the forbidden one lowered by 5
    enc = base.encode(PROMPT, CONT)
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        logits = tiny_lm.model(input_ids=ids).logits[0].float()
    logits[:, forbidden] -= 30.0
    logp = logits.log_softmax(-1)
    n = len(got)
    positions = range(len(enc.ids) - n - 1, len(enc.ids) - 1)
    want = torch.tensor([float(logp[t, enc.ids[t + 1]]) for t in positions])
    torch.testing.assert_close(got.float(), want, atol=1e-4, rtol=1e-4)
    assert float(got[-2]) < float(base.score([PROMPT], [CONT])[0].logprobs[-2]) - 1.0
    other = "Question: What comes after three?\nAnswer:"
    torch.testing.assert_close(
        g.score([other], [" After three comes four."])[0].logprobs,
        base.score([other], [" After three comes four."])[0].logprobs,
    )


def test_generation_avoids_the_forbidden_tokens_and_the_guard_is_saved(tiny_lm, tmp_path):
    base = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    plain = base.generate([PROMPT], max_new_tokens=8)[0]
    forbidden = tiny_lm.tokenizer(" two", add_special_tokens=False)["input_ids"]
    g = guarded(tiny_lm, forbidden, penalty=100.0)
    text = g.generate([PROMPT], max_new_tokens=8)[0]
    assert "two" in plain and "two" not in text
    loaded = CausalLMAdapter.from_pretrained(g.save(tmp_path / "g"))
    assert isinstance(loaded, GuardedAdapter) and loaded.fingerprint() == g.fingerprint()
    assert loaded.generate([PROMPT], max_new_tokens=8)[0] == text
    # the hook is gone after each call: the bare model answers as before
    assert base.generate([PROMPT], max_new_tokens=8)[0] == plain


@pytest.mark.slow
def test_guard_on_the_test_world_blocks_forget_facts_and_keeps_retain(test_preset_cache):
    from unlearnkit.audit.knowledge import knowledge
    from unlearnkit.methods import unlearn

    built, _ = test_preset_cache
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    g, record = unlearn(target, world.tofu["forget10"], world.tofu["retain90"], "guard")
    assert record.details["targets"] == 2 and record.details["forbidden"] > 0
    assert record.parameters_changed == 0
    forget = world.tofu["forget10"]
    # the forget answers become far less likely (teacher-forced value accuracy stays high:
    # once a value's first piece is given, its common later pieces are not forbidden)
    assert knowledge(g, forget).answer_logprob < knowledge(target, forget).answer_logprob - 3
    asked = [target.prompt_format.prompt(r["question"]) for r in forget]
    said = g.generate(asked, max_new_tokens=24)
    assert sum(str(r["value"]) in text for r, text in zip(forget, said, strict=True)) <= 1
    retain = world.tofu["retain_perturbed"]
    assert knowledge(g, retain).headline == knowledge(target, retain).headline
