"""Parametric traces: did the weights that store the forgotten facts change?

Transformer MLPs write "value vectors" (the columns of the output projection, one per
hidden unit) into the residual stream; projected onto the vocabulary by the output
embedding, a value vector shows which tokens it promotes (Geva et al. 2022,
arXiv:2203.14680). The vectors that most promote the forgotten answers' tokens are the
facts' parametric traces ("concept vectors", Hong et al. 2024, arXiv:2406.11614): an
unlearning method that leaves them in place has only suppressed the facts elsewhere.
(Finding them is model anatomy: :mod:`unlearnkit.models.value_vectors`.)

:func:`parametric_traces` picks, in the target, the ``k`` value vectors whose vocabulary
projection gives the forget answers' tokens the highest mean logit, then compares each with
the same vector in the unlearned model and in the oracle: cosine similarity, and the overlap
(Jaccard) of their top-``top`` projected tokens. ``moved`` puts the unlearned model's change
on the oracle's scale: (1 - cos(target, unlearned)) / (1 - cos(target, oracle)); 0 = the
traces are untouched, 1 = they moved as far as retraining without the forget set moves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from unlearnkit.models.value_vectors import concept_vectors, value_matrices, vocabulary_projection


def concept_token_ids(tokenizer: Any, values: Iterable[str]) -> list[int]:
    """The token ids of the forgotten values, as they appear after a space in an answer."""
    ids: set[int] = set()
    for value in values:
        ids.update(tokenizer(" " + str(value), add_special_tokens=False)["input_ids"])
    return sorted(ids)


def parametric_traces(
    target: torch.nn.Module,
    unlearned: torch.nn.Module,
    oracle: torch.nn.Module | None,
    token_ids: Sequence[int],
    *,
    k: int = 20,
    top: int = 20,
) -> dict[str, Any]:
    """Cosine and top-token overlap of the ``k`` value vectors that most encode
    ``token_ids`` in ``target``, between target and unlearned (and target and oracle)."""
    if not token_ids:
        raise ValueError("no concept tokens: give the forgotten answers' token ids")
    mats = {m: dict(value_matrices(m)) for m in (target, unlearned)}
    if oracle is not None:
        mats[oracle] = dict(value_matrices(oracle))
    picked = concept_vectors(target, token_ids, k)

    def compare(other: torch.nn.Module) -> dict[str, float]:
        cos, overlap = [], []
        for _, name, unit in picked:
            a = mats[target][name][:, unit].float()
            b = mats[other][name][:, unit].float()
            cos.append(float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
            ta = set(vocabulary_projection(target, a[:, None])[:, 0].topk(top).indices.tolist())
            tb = set(vocabulary_projection(other, b[:, None])[:, 0].topk(top).indices.tolist())
            overlap.append(len(ta & tb) / len(ta | tb))
        return {"cosine": sum(cos) / len(cos), "overlap": sum(overlap) / len(overlap)}

    out: dict[str, Any] = {
        "vectors": [{"module": n, "unit": u, "score": s} for s, n, u in picked],
        "unlearned": compare(unlearned),
    }
    if oracle is not None:
        out["oracle"] = compare(oracle)
        gap = 1.0 - out["oracle"]["cosine"]
        out["moved"] = (1.0 - out["unlearned"]["cosine"]) / gap if gap > 1e-9 else float("nan")
    return out


__all__ = ["concept_token_ids", "parametric_traces"]
