"""Parametric traces: did the weights that store the forgotten facts change?

Transformer MLPs write "value vectors" (the columns of the output projection, one per
hidden unit) into the residual stream; projected onto the vocabulary by the output
embedding, a value vector shows which tokens it promotes (Geva et al. 2022,
arXiv:2203.14680). The vectors that most promote the forgotten answers' tokens are the
facts' parametric traces ("concept vectors", Hong et al. 2024, arXiv:2406.11614): an
unlearning method that leaves them in place has only suppressed the facts elsewhere.

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

#: names of the MLP output projections whose columns are the value vectors
VALUE_PROJECTIONS = ("down_proj", "fc2", "c_proj", "dense_4h_to_h")


def value_matrices(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, (hidden, units) weight)`` of every MLP output projection, in order. Fused
    mixture-of-experts weights (a 3-D ``down_proj`` parameter, expert first, as in
    transformers' Mixtral) give one entry per expert, named ``<module>.down_proj[e]``."""
    out = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in VALUE_PROJECTIONS and ".mlp." in f".{name}":
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.ndim == 2:
                out.append((name, weight.detach()))
        fused = getattr(module, "down_proj", None)
        if isinstance(fused, torch.nn.Parameter) and fused.ndim == 3:
            out += [(f"{name}.down_proj[{e}]", fused[e].detach()) for e in range(fused.shape[0])]
    if not out:
        raise ValueError(
            f"no MLP output projection ({', '.join(VALUE_PROJECTIONS)}) found in "
            f"{type(model).__name__}; parametric traces need one"
        )
    return out


def concept_token_ids(tokenizer: Any, values: Iterable[str]) -> list[int]:
    """The token ids of the forgotten values, as they appear after a space in an answer."""
    ids: set[int] = set()
    for value in values:
        ids.update(tokenizer(" " + str(value), add_special_tokens=False)["input_ids"])
    return sorted(ids)


def _projection(model: torch.nn.Module, weight: torch.Tensor) -> torch.Tensor:
    unembed = model.get_output_embeddings().weight.detach().float()  # (V, H)
    return unembed @ weight.float()  # (V, units)


def concept_vectors(
    model: torch.nn.Module, token_ids: Sequence[int], k: int = 20
) -> list[tuple[float, str, int]]:
    """``(score, module name, unit)`` of the ``k`` value vectors of ``model`` whose vocabulary
    projection gives ``token_ids`` the highest mean logit, best first (ties by name, unit)."""
    if not token_ids:
        raise ValueError("no concept tokens: give the forgotten answers' token ids")
    ids = torch.tensor(sorted(set(token_ids)))
    scored: list[tuple[float, str, int]] = []
    for name, weight in value_matrices(model):
        promote = _projection(model, weight)[ids].mean(0)  # (units,)
        for unit, score in enumerate(promote.tolist()):
            scored.append((score, name, unit))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    return scored[: max(1, k)]


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
            ta = set(_projection(target, a[:, None])[:, 0].topk(top).indices.tolist())
            tb = set(_projection(other, b[:, None])[:, 0].topk(top).indices.tolist())
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


__all__ = [
    "VALUE_PROJECTIONS",
    "concept_token_ids",
    "concept_vectors",
    "parametric_traces",
    "value_matrices",
]
