"""task_vector: θ − s·(θ_reinforced − θ), on full weights and through LoRA adapters."""

from __future__ import annotations

import pytest
import torch

from tests.conformance.test_methods import _adapter, _data, _nll
from unlearnkit.methods import unlearn


def _delta(adapter, base) -> dict[str, torch.Tensor]:
    before = dict(base.named_parameters())
    return {n: p.detach() - before[n].detach() for n, p in adapter.model.named_parameters()}


@pytest.mark.parametrize("lora", [False, True])
def test_the_update_is_minus_s_times_the_task_vector(tiny_lm, lora):
    forget, retain = _data()
    kw = {"max_steps": 3, "batch_size": 2, "progress": False, "seed": 1, "lora": lora}
    one, _ = unlearn(_adapter(tiny_lm), forget, retain, "task_vector", scale=1.0, **kw)
    two, _ = unlearn(_adapter(tiny_lm), forget, retain, "task_vector", scale=2.0, **kw)
    d1, d2 = _delta(one, tiny_lm.model), _delta(two, tiny_lm.model)
    assert any(float(v.abs().max()) > 0 for v in d1.values())
    for name in d1:
        torch.testing.assert_close(d2[name], 2 * d1[name], rtol=1e-4, atol=1e-6)


def test_negating_the_reinforcement_raises_the_forget_nll(tiny_lm):
    forget, retain = _data()
    base = _adapter(tiny_lm)
    f0 = _nll(base, forget)
    out, record = unlearn(
        base, forget, retain, "task_vector", max_steps=6, batch_size=2, progress=False
    )
    assert record.final_losses["forget_nll"] < 0.1  # the reinforced model knew it well
    assert _nll(out, forget) > f0
