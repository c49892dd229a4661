"""Pure parts of the audit: quantization by hand, normalisations, CKA laws, splits."""

from __future__ import annotations

import math

import pytest
import torch

from unlearnkit.audit.knowledge import forgetting_left, recovered_fraction
from unlearnkit.audit.probes import linear_cka
from unlearnkit.audit.quantization import quantize_rtn, quantized_copy
from unlearnkit.audit.relearning import RelearnConfig, RelearnCurve, split_records, steps_to_recover
from unlearnkit.audit.tampering import noisy_copy
from unlearnkit.core.errors import ConfigError


def test_rtn_by_hand():
    w = torch.tensor([[1.0, -0.45, 0.26], [0.0, 0.0, 0.0], [-2.0, 0.9, 0.1]])
    # 4 bits: q = 7. Row 0: s = 1/7 -> round(7, -3.15, 1.82) = (7, -3, 2); row 1 stays 0;
    # row 2: s = 2/7 -> round(-7, 3.15, 0.35) = (-7, 3, 0)
    q = quantize_rtn(w, 4)
    expected = torch.tensor([[1.0, -3 / 7, 2 / 7], [0.0, 0.0, 0.0], [-2.0, 3 * 2 / 7, 0.0]])
    torch.testing.assert_close(q, expected)
    # 8 bits: q = 127; the largest entry of each row is exact, the error is at most s / 2
    q8 = quantize_rtn(w, 8)
    assert q8[0, 0] == 1.0 and q8[2, 0] == -2.0
    assert (q8 - w).abs().max() <= 2.0 / 127 / 2 + 1e-7
    with pytest.raises(ValueError, match="bits"):
        quantize_rtn(w, 1)
    with pytest.raises(ValueError, match="matrix"):
        quantize_rtn(torch.ones(3), 8)


def test_quantized_and_noisy_copies_leave_the_original(tiny_lm):
    before = {k: v.clone() for k, v in tiny_lm.model.state_dict().items()}
    q = quantized_copy(tiny_lm.model, 4)
    n = noisy_copy(tiny_lm.model, 0.1, seed=0)
    for k, v in tiny_lm.model.state_dict().items():
        assert torch.equal(v, before[k])
    lin = next(m for m in q.modules() if isinstance(m, torch.nn.Linear))
    assert lin.weight.unique(dim=None).numel() <= 15 * lin.weight.shape[0]  # <= 2q+1 per row
    assert not torch.equal(next(n.parameters()), next(tiny_lm.model.parameters()))
    same = noisy_copy(tiny_lm.model, 0.1, seed=0)
    for a, b in zip(n.parameters(), same.parameters(), strict=True):
        assert torch.equal(a, b)  # seeded
    zero = noisy_copy(tiny_lm.model, 0.0)
    for a, b in zip(zero.parameters(), tiny_lm.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_normalisations_by_hand():
    assert forgetting_left(0.4, target=1.0, oracle=0.4) == pytest.approx(1.0)
    assert forgetting_left(1.0, target=1.0, oracle=0.4) == pytest.approx(0.0)
    assert forgetting_left(0.7, target=1.0, oracle=0.4) == pytest.approx(0.5)
    assert forgetting_left(0.1, target=1.0, oracle=0.4) == pytest.approx(1.5)  # over-forgot
    assert math.isnan(forgetting_left(0.5, target=0.5, oracle=0.5))
    assert recovered_fraction(0.6, unlearned=0.2, target=1.0) == pytest.approx(0.5)
    assert math.isnan(recovered_fraction(0.6, unlearned=1.0, target=1.0))


def test_steps_to_recover():
    curve = RelearnCurve([0, 1, 4, 16], [0.2, 0.3, 0.7, 0.9])
    assert steps_to_recover(curve, unlearned=0.2, target=1.0) == 4  # goal 0.6
    assert steps_to_recover(curve, unlearned=0.2, target=1.0, share=0.9) is None  # goal 0.92
    assert steps_to_recover(curve, unlearned=1.0, target=1.0) == 0
    assert curve.at(4) == 0.7


def test_split_records_is_seeded_and_disjoint():
    records = [{"i": i} for i in range(10)]
    a, b = split_records(records, 0.3, seed=1)
    assert len(a) == 3 and len(b) == 7
    assert {r["i"] for r in a}.isdisjoint({r["i"] for r in b})
    assert split_records(records, 0.3, seed=1) == (a, b)
    assert split_records(records, 0.3, seed=2) != (a, b)
    assert [len(x) for x in split_records(records[:2], 0.9, seed=0)] == [1, 1]
    with pytest.raises(ValueError, match="at least two"):
        split_records(records[:1], 0.5, seed=0)


def test_relearn_config_errors():
    with pytest.raises(ConfigError, match="steps"):
        RelearnConfig(steps=(0, 4))
    with pytest.raises(ConfigError, match="fraction"):
        RelearnConfig(fraction=1.0)


def test_linear_cka_laws():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=g)
    assert linear_cka(x, x) == pytest.approx(1.0)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    assert linear_cka(x, 3.0 * x @ rotation + 1.0) == pytest.approx(1.0)  # rotation, scale, shift
    independent = torch.randn(50, 8, generator=g)
    assert linear_cka(x, independent) < 0.5
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(x, x[:10])


def test_parametric_traces_laws(tiny_lm):
    import copy

    from unlearnkit.audit.traces import concept_token_ids, parametric_traces
    from unlearnkit.models.value_vectors import value_matrices

    model = tiny_lm.model
    assert [n.rsplit(".", 1)[-1] for n, _ in value_matrices(model)] == ["down_proj"] * 2
    tokens = concept_token_ids(tiny_lm.tokenizer, ["three", "seven"])
    assert tokens
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    same = parametric_traces(model, model, other, tokens, k=5, top=10)
    assert same["unlearned"]["cosine"] == pytest.approx(1.0)
    assert same["unlearned"]["overlap"] == 1.0 and same["moved"] == pytest.approx(0.0, abs=1e-5)
    as_oracle = parametric_traces(model, other, other, tokens, k=5, top=10)
    assert as_oracle["moved"] == pytest.approx(1.0)
    assert as_oracle["unlearned"]["cosine"] < 1.0
    scores = [v["score"] for v in same["vectors"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 5
    with pytest.raises(ValueError, match="no concept tokens"):
        parametric_traces(model, model, None, [])
    with pytest.raises(ValueError, match="no MLP output projection"):
        value_matrices(torch.nn.Linear(2, 2))


def test_value_matrices_split_fused_experts(tiny_moe):
    from unlearnkit.audit.traces import parametric_traces
    from unlearnkit.models.value_vectors import value_matrices

    model = tiny_moe.model
    mats = dict(value_matrices(model))
    assert "model.layers.0.mlp.experts.down_proj[3]" in mats
    assert mats["model.layers.1.mlp.experts.down_proj[0]"].shape == (64, 64)
    assert len(mats) == 2 * 4
    same = parametric_traces(model, model, None, [5, 6], k=3)
    assert same["unlearned"]["cosine"] == pytest.approx(1.0)
