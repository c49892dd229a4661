"""LoKU's Fisher-weighted LoRA initialisation (FILA): it keeps the model's function and
starts the adapters on the forget-important directions."""

from __future__ import annotations

import copy

import pytest
import torch
from accelerate import Accelerator

from tests.conformance.test_methods import _adapter, _data
from unlearnkit.methods.base import UnlearnContext
from unlearnkit.methods.gradient.loku import LoKU, LoKUConfig, fila_factors
from unlearnkit.methods.loop import apply_lora
from unlearnkit.models.encoding import collate, encode_pair


def test_fila_factors_reconstruct_the_weight_and_follow_the_importance():
    torch.manual_seed(0)
    w = torch.randn(6, 5)
    a, b, base = fila_factors(w, torch.ones(6, 5), rank=2, scaling=2.0)
    assert a.shape == (2, 5) and b.shape == (6, 2)
    torch.testing.assert_close(base + 2.0 * b @ a, w)
    # uniform importance: scaling * B A is the best rank-2 approximation of W (SVD)
    u, s, v = torch.linalg.svd(w, full_matrices=False)
    torch.testing.assert_close(
        2.0 * b @ a, u[:, :2] @ torch.diag(s[:2]) @ v[:2], atol=1e-4, rtol=1e-4
    )
    # one row far more important than the rest: the adapters reproduce that row exactly
    imp = torch.full((6, 5), 1e-4)
    imp[3] = 100.0
    a, b, _ = fila_factors(w, imp, rank=1, scaling=1.0)
    torch.testing.assert_close((b @ a)[3], w[3], atol=1e-3, rtol=1e-3)
    # a rank above the weight's: the extra directions start at zero
    a, b, base = fila_factors(w[:2], torch.ones(2, 5), rank=4, scaling=1.0)
    assert a.shape == (4, 5) and b.shape == (2, 4) and float(a[2:].abs().sum()) == 0.0
    torch.testing.assert_close(base + b @ a, w[:2])


@pytest.mark.slow
def test_fila_setup_keeps_the_function_and_moves_the_base_weights(tiny_lm):
    forget, retain = _data()
    adapter = _adapter(tiny_lm)
    cfg = LoKUConfig(lora_rank=4)
    model = apply_lora(copy.deepcopy(adapter.model), cfg)
    fmt, tok = adapter.prompt_format, adapter.tokenizer

    def batch(pairs):
        enc = [encode_pair(tok, fmt.prompt(q), fmt.continuation(a)) for q, a in pairs]
        b = collate(enc, tok.pad_token_id or 0)
        return {"input_ids": b.input_ids, "attention_mask": b.attention_mask, "labels": b.labels}

    fb, rb = batch(forget), batch(retain)

    def data(kind):
        yield {"forget": fb} if kind == "forget" else rb

    before = model(input_ids=rb["input_ids"], attention_mask=rb["attention_mask"]).logits
    base_before = {n: p.clone() for n, p in model.named_parameters() if "base_layer" in n}
    ctx = UnlearnContext(
        model=model,
        tokenizer=tok,
        accelerator=Accelerator(cpu=True),
        reference=None,
        generator=torch.Generator(),
        state={},
        data=data,
    )
    LoKU(cfg).setup(ctx)
    after = model(input_ids=rb["input_ids"], attention_mask=rb["attention_mask"]).logits
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    moved = [
        n
        for n, p in model.named_parameters()
        if "base_layer" in n and not torch.equal(p, base_before[n])
    ]
    assert moved and all(
        not p.requires_grad for n, p in model.named_parameters() if "base_layer" in n
    )
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert all(float(p.detach().abs().sum()) > 0 for p in lora_b)  # not peft's zero init
