"""ULD: the logit difference on plausible tokens by hand, the uniform cross-entropy by hand,
the wrapped model's scores and decoding, the saved assistant; the method on the test world."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conformance.test_methods import _adapter
from unlearnkit.methods.losses import uniform_ce_loss
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.adapters.logit_difference import (
    LogitDifference,
    ULDAdapter,
    truncated_copy,
    uld_logits,
)


def test_the_difference_applies_to_plausible_tokens_only():
    # target logits [ln 4, ln 2, 0] -> p = (4, 2, 1)/7; tau 0.4: plausible = p >= 0.4 * 4/7,
    # i.e. the first two tokens (2/7 >= 1.6/7), not the third (1/7)
    target = torch.tensor([math.log(4), math.log(2), 0.0])
    assistant = torch.tensor([1.0, 2.0, 3.0])
    got = uld_logits(target, assistant, alpha=0.5, tau=0.4)
    want = torch.tensor([math.log(4) - 0.5, math.log(2) - 1.0, 0.0])
    torch.testing.assert_close(got, want)
    assert torch.equal(uld_logits(target, assistant, 0.5, 1.0)[1:], target[1:])  # top only


def test_uniform_cross_entropy_by_hand():
    # one scored position, logits [0, ln 3] -> p = (1/4, 3/4): -(ln 1/4 + ln 3/4)/2
    logits = torch.tensor([[[0.0, math.log(3)], [0.0, 0.0]]])
    labels = torch.tensor([[-100, 1]])
    want = -(math.log(0.25) + math.log(0.75)) / 2
    assert float(uniform_ce_loss(logits, labels)) == pytest.approx(want)
    flat = torch.zeros(1, 2, 2)
    assert float(uniform_ce_loss(flat, labels)) == pytest.approx(math.log(2))  # the minimum


def test_the_wrapped_model_scores_decodes_and_saves(tiny_lm, tmp_path):
    base = _adapter(tiny_lm)
    assistant = truncated_copy(base.model, 1)
    assert len(assistant.model.layers) == 1 and assistant.config.num_hidden_layers == 1
    uld = ULDAdapter(LogitDifference(base.model, assistant, 1.0, 0.1), base.tokenizer)
    prompt, cont = "Question: What comes after one?\nAnswer:", " After one comes two."
    enc = base.encode(prompt, cont)
    ids = torch.tensor([enc.ids])

    def difference(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t, a = base.model(input_ids=x).logits, assistant(input_ids=x).logits
        return uld_logits(t, a, 1.0, 0.1)[0].float()

    logp = difference(ids).log_softmax(-1)
    got = uld.score([prompt], [cont])[0].logprobs
    positions = range(len(enc.ids) - len(got) - 1, len(enc.ids) - 1)
    want = torch.tensor([float(logp[t, enc.ids[t + 1]]) for t in positions])
    torch.testing.assert_close(got.float(), want, atol=1e-4, rtol=1e-4)
    # greedy decoding follows the argmax of the difference, token by token
    seq = list(base.encode(prompt, "").ids)
    for _ in range(3):
        seq.append(int(difference(torch.tensor([seq]))[-1].argmax()))
    n_prompt = len(base.encode(prompt, "").ids)
    expected = base.tokenizer.decode(seq[n_prompt:], skip_special_tokens=True)
    assert uld.generate([prompt], max_new_tokens=3, stop=())[0] == expected
    loaded = CausalLMAdapter.from_pretrained(uld.save(tmp_path / "uld"))
    assert isinstance(loaded, ULDAdapter) and loaded.fingerprint() == uld.fingerprint()
    torch.testing.assert_close(loaded.score([prompt], [cont])[0].logprobs, got)


@pytest.mark.slow
def test_uld_on_the_test_world_forgets_and_keeps_retain(test_preset_cache):
    from unlearnkit.audit.knowledge import knowledge
    from unlearnkit.methods import unlearn
    from unlearnkit.models.adapters import model_fingerprint

    built, _ = test_preset_cache
    world = built.world
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    weights = model_fingerprint(target.model)
    uld, record = unlearn(
        target, world.tofu["forget10"], world.tofu["retain90"], "uld", assistant_epochs=50
    )
    assert record.parameters_changed == 0 and model_fingerprint(uld.model.target) == weights
    assert record.details["assistant_layers"] == 1 and record.details["assistant_steps"] > 0
    assert knowledge(uld, world.tofu["forget10"]).headline < 0.2
    assert knowledge(uld, world.tofu["retain_perturbed"]).headline >= 0.95
