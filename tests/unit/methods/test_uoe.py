"""UOE on the counting MoE: the top-affinity expert and its router are the only weights
that move, and the record says which."""

from __future__ import annotations

import pytest
import torch

from tests.conformance.test_methods import _adapter, _data
from unlearnkit.methods import UnlearningError, unlearn
from unlearnkit.methods.gradient.uoe import expert_affinity, moe_blocks


def test_only_the_chosen_expert_and_its_router_move(tiny_moe):
    forget, retain = _data()
    adapter = _adapter(tiny_moe)
    before = {n: p.detach().clone() for n, p in adapter.model.named_parameters()}
    out, record = unlearn(adapter, forget, retain, "uoe", max_steps=3, batch_size=2, progress=False)
    layer, expert = record.details["layer"], record.details["expert"]
    affinity = torch.tensor(record.details["affinity"])
    assert affinity.shape == (2, 4) and torch.allclose(affinity.sum(-1), torch.ones(2), atol=1e-3)
    assert (layer, expert) == divmod(int(affinity.argmax()), 4)  # the highest affinity
    prefix = f"model.layers.{layer}.mlp."
    for name, p in out.model.named_parameters():
        moved = p.detach() != before[name]
        if name in (prefix + "experts.gate_up_proj", prefix + "experts.down_proj"):
            assert moved[expert].any()
            others = torch.cat([moved[:expert], moved[expert + 1 :]])
            assert not others.any(), f"{name}: another expert moved"
        elif name == prefix + "gate.weight":
            assert moved.any()
        else:
            assert not moved.any(), f"{name} moved"
    assert 0 < record.parameters_changed < record.parameters_total / 4


def test_affinity_is_the_mean_routing_probability(tiny_moe):
    model = _adapter(tiny_moe).model
    ids = torch.tensor([[1, 2, 3, 4]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    got = expert_affinity(model, [batch])
    seen = []
    handles = [
        b.gate.register_forward_hook(lambda m, a, o: seen.append(o[0]))
        for _, b in moe_blocks(model)
    ]
    with torch.no_grad():
        model(**batch)
    for h in handles:
        h.remove()
    expected = torch.stack([s.float().softmax(-1).mean(0) for s in seen])
    torch.testing.assert_close(got, expected)


def test_a_dense_model_is_refused(tiny_lm):
    forget, retain = _data()
    with pytest.raises(ValueError, match="mixture-of-experts"):
        unlearn(_adapter(tiny_lm), forget, retain, "uoe", max_steps=1, progress=False)
    with pytest.raises(UnlearningError, match="LoRA"):
        unlearn(_adapter(tiny_lm), forget, retain, "uoe", max_steps=1, progress=False, lora=True)
