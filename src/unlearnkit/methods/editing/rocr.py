"""ROCR: rank-one concept redirection, Ye et al. 2025, arXiv:2506.07795 ("LLM Unlearning
Should Be Form-Independent").

Training-free: one MLP layer is edited in closed form so that the *key* the model forms for
a forgotten concept (the input of the MLP output projection at the concept's last token)
is mapped to the *value* the layer produces for a harmless concept. Every later layer then
sees the harmless concept where the forgotten one was named, whatever the form of the
question, which is the point of the paper: the edit targets the concept, not the trained
question form.

The edit is the ROME closed form (Meng et al. 2022, arXiv:2202.05262), solved jointly for
several concepts: with K the forgotten concepts' keys (one column each), V* the values the
layer gives the harmless concept in the same contexts and C the second moment of keys on
retain text (plus a ridge), ``ΔW = (V* − W K)(Kᵀ C⁻¹ K)⁻¹ Kᵀ C⁻¹``, the smallest change in
the C⁻¹-norm (small on retain keys) that gives ``(W + ΔW) K = V*``.

The concepts (subjects) are found in the forget questions: for each question, the longest
run of words that recurs in another forget question and in no retain question (a
person's name in TOFU-style data), else the longest run of words that no retain question
uses; ``subjects=[...]`` names them instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, EditConfig, EditMethod
from unlearnkit.methods.concepts import find_subjects


@dataclass(frozen=True)
class ROCRConfig(EditConfig):
    """layer: the edited block's MLP (null: the middle block). harmless: the concept the
    forgotten ones are redirected to. subjects: the forgotten concepts as they appear in
    the questions (null: found automatically). ridge: added to C's diagonal, as a share of
    its mean diagonal. max_retain: retain prompts used to estimate C."""

    layer: int | None = param(None, ge=0)
    harmless: str = "the person"
    subjects: tuple[str, ...] | None = None
    ridge: float = param(0.01, ge=0)
    max_retain: int = param(400, ge=1)


def _mlp_down(model: torch.nn.Module, layer: int) -> torch.nn.Linear:
    blocks = model.model.layers if hasattr(model, "model") else None
    if blocks is None or not hasattr(blocks[layer].mlp, "down_proj"):
        raise ValueError(
            f"rocr edits model.layers[i].mlp.down_proj (Llama-style); {type(model).__name__} "
            "has no such module"
        )
    return blocks[layer].mlp.down_proj


def _keys(model, tokenizer, down, texts: Sequence[str], ends: Sequence[int | None]):
    """(n, d_ff) keys: the input of ``down`` at the token covering character ``ends[i] - 1``
    of ``texts[i]`` (every token when ``ends[i]`` is None: then the rows of all texts)."""
    captured: list[torch.Tensor] = []
    handle = down.register_forward_pre_hook(lambda m, args: captured.append(args[0].detach()))
    rows = []
    try:
        for text, end in zip(texts, ends, strict=True):
            enc = tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping")[0].tolist()
            captured.clear()
            model(input_ids=enc["input_ids"].to(down.weight.device))
            keys = captured[0][0].float()  # (T, d_ff)
            if end is None:
                rows.append(keys)
                continue
            pos = max(i for i, (a, b) in enumerate(offsets) if a < end and b > a)
            rows.append(keys[pos : pos + 1])
    finally:
        handle.remove()
    return torch.cat(rows)


def redirect(
    weight: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, second_moment: torch.Tensor
) -> torch.Tensor:
    """The update ΔW (out × in) with ``(weight + ΔW) @ keys.T = values.T`` and the smallest
    ``tr(ΔW C⁻¹ ... )``-norm: ``ΔW = (V* − W K)(Kᵀ C⁻¹ K)⁻¹ Kᵀ C⁻¹``.

    keys: (n, in); values: (n, out); second_moment: C, (in, in), positive definite."""
    k = keys.T.double()  # (in, n)
    c_inv_k = torch.linalg.solve(second_moment.double(), k)  # C⁻¹ K, (in, n)
    residual = values.T.double() - weight.double() @ k  # (out, n)
    gram = k.T @ c_inv_k  # Kᵀ C⁻¹ K, (n, n)
    return (residual @ torch.linalg.solve(gram, c_inv_k.T)).to(weight.dtype)


@METHODS.register(
    "rocr",
    paper="arXiv:2506.07795 (Ye et al., ROCR: rank-one concept redirection)",
    description="Closed-form MLP edit redirecting each forgotten concept's key to a harmless "
    "concept's value (no training).",
)
class ROCR(EditMethod):
    """W ← W + (V* − W K)(Kᵀ C⁻¹ K)⁻¹ Kᵀ C⁻¹ on one MLP output projection."""

    config_class = ROCRConfig
    uses_retain = True  # the key statistics C

    def edit(self, model, tokenizer, forget, retain, prompt_format) -> dict[str, Any]:
        cfg = self.config
        n_layers = model.config.num_hidden_layers
        layer = cfg.layer if cfg.layer is not None else min(n_layers // 2, n_layers - 1)
        if layer >= n_layers:
            raise ValueError(f"rocr: layer={layer} but the model has {n_layers} blocks")
        down = _mlp_down(model, layer)
        questions = [q for q, _ in forget]
        if cfg.subjects:
            subjects = [next((s for s in cfg.subjects if s in q), None) for q in questions]
        else:
            subjects = find_subjects(questions, [q for q, _ in retain])
        by_subject: dict[str, list[str]] = {}
        for q, s in zip(questions, subjects, strict=True):
            if s is not None:
                by_subject.setdefault(s, []).append(prompt_format.prompt(q))
        if not by_subject:
            raise ValueError(
                "rocr found no concept in the forget questions (every word of them is in a "
                "retain question); name the concepts with subjects=[...]"
            )
        keys, values = [], []
        for subject, prompts in by_subject.items():
            starts = [p.index(subject) for p in prompts]
            ends = [i + len(subject) for i in starts]
            k = _keys(model, tokenizer, down, prompts, ends).mean(0)
            swapped = [p.replace(subject, cfg.harmless, 1) for p in prompts]
            h_ends = [i + len(cfg.harmless) for i in starts]
            kh = _keys(model, tokenizer, down, swapped, h_ends).mean(0)
            keys.append(k)
            values.append(down.weight.float() @ kh)
        retain_text = [
            prompt_format.prompt(q) + prompt_format.continuation(a)
            for q, a in retain[: cfg.max_retain]
        ]
        stats = _keys(model, tokenizer, down, retain_text, [None] * len(retain_text))
        c = stats.T.double() @ stats.double() / stats.shape[0]
        c += cfg.ridge * c.diagonal().mean() * torch.eye(c.shape[0], dtype=c.dtype)
        k, v = torch.stack(keys), torch.stack(values)

        def residual() -> float:  # how far the layer is from giving the harmless values
            return float((v - k @ down.weight.float().T).norm() / v.norm())

        before = residual()
        delta = redirect(down.weight.float(), k, v, c)
        down.weight += delta.to(down.weight.dtype)
        return {
            "objective_before": before,
            "objective_after": residual(),
            "layer": layer,
            "concepts": len(by_subject),
            "questions_without_concept": sum(s is None for s in subjects),
            "relative_change": float(delta.norm() / down.weight.float().norm()),
            "subjects": sorted(by_subject)[:50],
        }
