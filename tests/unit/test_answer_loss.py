"""answer_loss: HF's causal-LM loss, with the output layer applied only to labelled tokens."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from unlearnkit.models.training import answer_loss


def test_answer_loss_equals_hf_loss_and_its_gradients():
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    model = LlamaForCausalLM(cfg)
    ids = torch.randint(0, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[2, 7:] = 0  # right padding
    labels = ids.clone()
    labels[:, :4] = -100  # the prompt
    labels[2, 7:] = -100
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    ours = answer_loss(model, batch)
    ours.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    theirs = model(**batch).loss
    theirs.backward()
    assert torch.allclose(ours, theirs, atol=1e-6)
    for n, p in model.named_parameters():
        assert torch.allclose(grads[n], p.grad, atol=1e-6), n
