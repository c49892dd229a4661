"""MLP value vectors, and the ones that encode given tokens ("concept vectors").

Transformer MLPs write "value vectors" (the columns of the output projection, one per
hidden unit) into the residual stream; projected onto the vocabulary by the output
embedding, a value vector shows which tokens it promotes (Geva et al. 2022,
arXiv:2203.14680). The vectors that most promote a fact's tokens are its parametric traces
("concept vectors", Hong et al. 2024, arXiv:2406.11614).

This is model anatomy, kept in the models layer so that both the method that edits these
vectors (:mod:`unlearnkit.methods.editing.concept_vector_ablation`) and the audit that
checks whether they moved (:mod:`unlearnkit.audit.traces`) read them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def vocabulary_projection(model: torch.nn.Module, weight: torch.Tensor) -> torch.Tensor:
    """(V, units): the logit each column of ``weight`` (hidden, units) gives every token of
    the vocabulary through ``model``'s output embedding (float32)."""
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
        promote = vocabulary_projection(model, weight)[ids].mean(0)  # (units,)
        for unit, score in enumerate(promote.tolist()):
            scored.append((score, name, unit))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    return scored[: max(1, k)]


__all__ = ["VALUE_PROJECTIONS", "concept_vectors", "value_matrices", "vocabulary_projection"]
