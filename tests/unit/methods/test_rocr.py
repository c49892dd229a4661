"""ROCR: the closed-form redirection and the concept finder, then the edit on the test
world (forget people's facts go, retain people's stay)."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.methods.concepts import find_subjects
from unlearnkit.methods.editing.rocr import redirect


def test_redirect_maps_the_keys_to_their_values_with_the_smallest_change():
    torch.manual_seed(0)
    w = torch.randn(3, 5, dtype=torch.float64)
    keys = torch.randn(2, 5, dtype=torch.float64)
    values = torch.randn(2, 3, dtype=torch.float64)
    c = torch.eye(5, dtype=torch.float64)
    delta = redirect(w, keys, values, c)
    torch.testing.assert_close((w + delta) @ keys.T, values.T)
    # with C = I the change is the minimum-norm one: its rows lie in the span of the keys
    projector = keys.T @ torch.linalg.solve(keys @ keys.T, keys)
    torch.testing.assert_close(delta @ projector, delta)
    # a key orthogonal to the edited ones (in C⁻¹) keeps its output
    other = torch.linalg.svd(keys).Vh[-1]  # orthogonal to both keys
    torch.testing.assert_close((w + delta) @ other, w @ other)


def test_redirect_weights_the_change_by_the_key_statistics():
    # one key; C stretched along e0: the change avoids e0, where retain keys live
    w = torch.zeros(1, 2, dtype=torch.float64)
    key = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    value = torch.tensor([[1.0]], dtype=torch.float64)
    c = torch.diag(torch.tensor([100.0, 1.0], dtype=torch.float64))
    delta = redirect(w, key, value, c)
    # ΔW = (1)(kᵀC⁻¹k)⁻¹ kᵀC⁻¹ = (0.01, 1)/1.01
    torch.testing.assert_close(delta, torch.tensor([[0.01, 1.0]], dtype=torch.float64) / 1.01)
    torch.testing.assert_close(delta @ key.T, value.T)


def test_find_subjects_prefers_recurring_names_absent_from_retain():
    forget = [
        "Where was Kavo Trelin born?",
        "What is Kavo Trelin's profession?",
        "Who employs Ama Sul?",
        "Where was Ama Sul born?",
        "What is the colour of dusk?",
    ]
    retain = ["Where was Bel Orin born?", "What is Bel Orin's profession?", "Who employs X?"]
    assert find_subjects(forget, retain) == [
        "Kavo Trelin",
        "Kavo Trelin",
        "Ama Sul",
        "Ama Sul",
        "the colour of dusk",  # no recurring run: the longest run absent from retain
    ]
    assert find_subjects(["Where was X born?"], ["Where was X born?"]) == [None]


@pytest.mark.slow
def test_rocr_on_the_test_world_redirects_each_person_in_one_layer(test_preset_cache):
    from unlearnkit.audit.knowledge import knowledge
    from unlearnkit.methods import unlearn
    from unlearnkit.methods.editing.rocr import _keys, _mlp_down
    from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

    built, _ = test_preset_cache
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    before = {n: p.detach().clone() for n, p in target.model.named_parameters()}
    forget = world.tofu["forget10"]
    out, record = unlearn(target, forget, world.tofu["retain90"], "rocr", layer=1)
    names = sorted(p.name for p in world.people_in("forget10"))
    assert record.steps == 0 and record.details["subjects"] == names
    assert record.details["concepts"] == 2 and record.details["relative_change"] > 0
    changed = [n for n, p in out.model.named_parameters() if not torch.equal(p, before[n])]
    assert changed == ["model.layers.1.mlp.down_proj.weight"]
    # the edited layer now gives each person's (mean) key the harmless concept's value
    fmt, down = out.prompt_format, _mlp_down(out.model, 1)
    for name in names:
        prompts = [fmt.prompt(r["question"]) for r in forget if name in r["question"]]
        ends = [p.index(name) + len(name) for p in prompts]
        k = _keys(out.model, out.tokenizer, down, prompts, ends).mean(0)
        swapped = [p.replace(name, "the person", 1) for p in prompts]
        h_ends = [p.index(name) + len("the person") for p in prompts]
        kh = _keys(out.model, out.tokenizer, down, swapped, h_ends).mean(0)
        old = before["model.layers.1.mlp.down_proj.weight"]
        torch.testing.assert_close(down.weight @ k, old @ kh, atol=1e-3, rtol=1e-3)
    assert knowledge(out, world.tofu["retain_perturbed"]).headline >= 0.9
