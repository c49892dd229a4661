"""The inference-time wrapper: every query goes through the instruction, it survives a save
and a load, and the audit's attacked copies keep it (ICU end to end on the test world)."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.adapters.prompted import PromptedAdapter


def test_queries_go_through_the_instruction(tiny_lm, tmp_path):
    base = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    wrapped = PromptedAdapter(tiny_lm.model, tiny_lm.tokenizer, instruction="Count:\n")
    prompts, conts = ["Question: What comes after one?\nAnswer:"], [" After one comes two."]
    got = wrapped.score(prompts, conts)[0].logprobs
    want = base.score(["Count:\n" + prompts[0]], conts)[0].logprobs
    torch.testing.assert_close(got, want)
    assert wrapped.generate(prompts, max_new_tokens=4) == base.generate(
        ["Count:\n" + prompts[0]], max_new_tokens=4
    )
    last = wrapped.hidden_states(prompts, layer=1, pool="last")
    torch.testing.assert_close(last, base.hidden_states(["Count:\n" + prompts[0]], layer=1))
    rows = wrapped.hidden_states(prompts, layer=1, pool="none")
    full = base.hidden_states(["Count:\n" + prompts[0]], layer=1, pool="none")
    skip = len(base.encode("Count:\n", "").ids)
    torch.testing.assert_close(rows[0], full[0][skip:])
    assert wrapped.fingerprint() != base.fingerprint()
    assert isinstance(wrapped.like(base.model), PromptedAdapter)
    loaded = CausalLMAdapter.from_pretrained(wrapped.save(tmp_path / "m"))
    assert isinstance(loaded, PromptedAdapter) and loaded.instruction == "Count:\n"
    assert loaded.fingerprint() == wrapped.fingerprint()
    assert not isinstance(CausalLMAdapter.from_pretrained(tiny_lm.path), PromptedAdapter)


@pytest.mark.slow
def test_icu_on_the_test_world_is_evaluated_and_audited_through_its_instruction(
    test_preset_cache,
):
    from unlearnkit.audit.api import AuditConfig, audit_model
    from unlearnkit.audit.knowledge import knowledge
    from unlearnkit.methods import unlearn

    built, _ = test_preset_cache
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    wrapped, record = unlearn(target, world.tofu["forget10"], world.tofu["retain90"], "icu")
    names = sorted(p.name for p in world.people_in("forget10"))
    assert sorted(record.details["named"]) == names
    assert all(n in wrapped.instruction for n in names)
    # the instruction, never seen in training, confuses the tiny model (forget 1.0 -> ~0.86)
    wrapped_forget = knowledge(wrapped, world.tofu["forget10"]).headline
    assert wrapped_forget < knowledge(target, world.tofu["forget10"]).headline - 0.05
    cfg = AuditConfig(
        bits=(8,),
        noise=(),
        relearn_steps=(1,),
        related=False,
        lora_steps=(),
        forms=(),
        probe=False,
        traces=False,
        requests=0,
    )
    report = audit_model(wrapped, world.tofu, config=cfg)
    # the attacked copies are measured through the instruction too: int8 of the wrapped
    # model is close to the wrapped model, not to the bare target
    assert report["knowledge"]["forget"]["headline"] == wrapped_forget
    assert abs(report["quantization"]["8"] - wrapped_forget) < 0.05
