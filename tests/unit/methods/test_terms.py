"""The methods' forward pass runs the output layer only where a loss reads it, with the
same losses and gradients as the full (B, T, V) logits."""

from __future__ import annotations

import copy

import pytest
import torch

from unlearnkit.methods.forward import logits
from unlearnkit.methods.losses import kl_to_reference, nll_loss, sequence_logprob
from unlearnkit.models.adapters.causal_lm import accepts_logits_to_keep
from unlearnkit.models.encoding import collate, encode_pair


class NoKeep(torch.nn.Module):
    """A causal LM whose forward has no ``logits_to_keep`` (full logits only)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


@pytest.fixture
def batch(tiny_lm):
    ex = tiny_lm.examples
    enc = [encode_pair(tiny_lm.tokenizer, e.prompt, e.completion) for e in ex[:5]]
    b = collate(enc, 0)
    return {"input_ids": b.input_ids, "attention_mask": b.attention_mask, "labels": b.labels}


def test_only_models_that_take_it_get_logits_to_keep(tiny_lm):
    assert accepts_logits_to_keep(tiny_lm.model)
    assert not accepts_logits_to_keep(NoKeep(tiny_lm.model))


def test_trimmed_logits_give_the_same_losses_and_gradients(tiny_lm, batch):
    model = copy.deepcopy(tiny_lm.model)
    trimmed, labels = logits(model, batch)
    full, full_labels = logits(NoKeep(model), batch)
    assert trimmed.shape[1] < full.shape[1] and labels.shape[1] == trimmed.shape[1]
    assert torch.equal(full_labels, batch["labels"])
    for loss in (nll_loss, sequence_logprob):
        a, b = loss(trimmed, labels), loss(full, full_labels)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ref_trimmed, _ = logits(reference, batch)
    ref_full, _ = logits(NoKeep(reference), batch)
    kl_t = kl_to_reference(trimmed, ref_trimmed, labels)
    kl_f = kl_to_reference(full, ref_full, full_labels)
    assert kl_t > 0
    torch.testing.assert_close(kl_t, kl_f, atol=1e-6, rtol=1e-4)

    def grads(out):
        model.zero_grad()
        nll_loss(*out).backward()
        return [p.grad.clone() for p in model.parameters()]

    for g_t, g_f in zip(
        grads(logits(model, batch)), grads(logits(NoKeep(model), batch)), strict=True
    ):
        torch.testing.assert_close(g_t, g_f, atol=1e-5, rtol=1e-4)


def test_a_batch_without_prompt_tokens_is_not_cut(tiny_lm, batch):
    labels = batch["input_ids"].clone()
    labels[:, 0] = -100
    out, same = logits(tiny_lm.model, {**batch, "labels": labels})
    assert out.shape[1] == labels.shape[1] and same is labels


def test_reference_log_probs_are_computed_once_per_example(tiny_lm, batch):
    from types import SimpleNamespace

    from unlearnkit.methods.gradient._terms import reference_sequence_logprob

    calls = {"n": 0}
    reference = copy.deepcopy(tiny_lm.model)
    reference.register_forward_pre_hook(lambda module, args: calls.__setitem__("n", calls["n"] + 1))
    ctx = SimpleNamespace(reference=reference, state={})
    first = {**batch, "index": torch.tensor([0, 1, 2, 3, 4])}
    with torch.no_grad():
        expected = sequence_logprob(*logits(reference, batch))
    calls["n"] = 0
    torch.testing.assert_close(reference_sequence_logprob(ctx, first, "forget"), expected)
    assert calls["n"] == 1
    # the same examples in another order and another batch: no new forward pass
    order = [3, 1, 4]
    again = {k: v[order] for k, v in batch.items()}
    again["index"] = torch.tensor(order)
    got = reference_sequence_logprob(ctx, again, "forget")
    torch.testing.assert_close(got, expected[order])
    assert calls["n"] == 1
    # another view of the same examples is its own value
    reference_sequence_logprob(ctx, again, "idk")
    assert calls["n"] == 2
    # without an index, it is computed every time
    reference_sequence_logprob(ctx, batch, "forget")
    assert calls["n"] == 3
