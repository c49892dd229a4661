"""concept_vector_ablation changes only the located value vectors; concept_vectors finds the
columns that promote given tokens."""

from __future__ import annotations

import torch

from tests.conformance.test_methods import _adapter, _data
from unlearnkit.methods import unlearn
from unlearnkit.models.value_vectors import concept_vectors, value_matrices


def test_concept_vectors_rank_columns_by_their_vocabulary_projection(tiny_lm):
    model = _adapter(tiny_lm).model
    token = 7
    picked = concept_vectors(model, [token], k=5)
    assert len(picked) == 5 and picked == sorted(picked, key=lambda t: -t[0])
    unembed = model.get_output_embeddings().weight.detach()
    best = max(
        (float(unembed[token] @ w[:, u]), name, u)
        for name, w in value_matrices(model)
        for u in range(w.shape[1])
    )
    assert (picked[0][1], picked[0][2]) == (best[1], best[2])
    assert abs(picked[0][0] - best[0]) < 1e-4


def test_only_the_located_columns_move(tiny_lm):
    forget, retain = _data()
    adapter = _adapter(tiny_lm)
    before = {n: p.detach().clone() for n, p in adapter.model.named_parameters()}
    out, record = unlearn(
        adapter,
        forget,
        retain,
        "concept_vector_ablation",
        max_steps=3,
        batch_size=2,
        k=4,
        progress=False,
    )
    moved_columns = 0
    for name, p in out.model.named_parameters():
        diff = p.detach() != before[name]
        if not diff.any():
            continue
        assert name.endswith("mlp.down_proj.weight"), name
        columns = diff.any(0).nonzero().flatten().tolist()
        moved_columns += len(columns)
    assert 1 <= moved_columns <= 4
    assert record.parameters_changed <= 4 * out.model.config.hidden_size
    # the gradient masks are gone: a later backward reaches every column again
    model = out.model.train()
    model.requires_grad_(True)
    ids = torch.tensor([[1, 2, 3, 4]])
    model(input_ids=ids, labels=ids).loss.backward()
    grad = model.model.layers[0].mlp.down_proj.weight.grad
    assert int((grad.abs().sum(0) > 0).sum()) > 4
