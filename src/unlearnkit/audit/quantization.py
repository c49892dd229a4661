"""Quantization attack: round weights to a few bits and re-measure what the model knows.

Unlearning that lives in tiny weight deltas can vanish when the weights are rounded (Zhang
et al. 2024, arXiv:2410.16454: 4-bit quantization restores much of the forgotten
knowledge). Here: symmetric round-to-nearest per output channel, the simplest post-training
quantizer. For a weight row w and b bits, with q = 2^(b-1) - 1 and s = max|w| / q,
``Q(w) = s * clamp(round(w / s), -q, q)``; the model keeps float weights holding the
quantized values ("fake quantization"), so it runs anywhere, CPU included.
"""

from __future__ import annotations

import copy

import torch


def quantize_rtn(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric round-to-nearest quantization of each row (output channel) of ``weight``.

    Returns the dequantized tensor (same shape and dtype). Rows of zeros stay zero.
    """
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be between 2 and 16, got {bits}")
    if weight.ndim != 2:
        raise ValueError(f"expected a (out, in) weight matrix, got shape {tuple(weight.shape)}")
    w = weight.detach().float()
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1, keepdim=True) / qmax  # (out, 1)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(w / safe), -qmax, qmax)
    return (q * scale).to(weight.dtype)


def quantized_copy(model: torch.nn.Module, bits: int, embeddings: bool = False) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` and ``nn.Conv2d`` weight quantized to
    ``bits`` bits (per output channel; a convolution's kernel is one row per output channel).

    Embeddings tied to the output layer are quantized with it (they are one tensor); biases
    and norms stay in full precision, as in weight-only quantization. ``embeddings=True``
    also quantizes every ``nn.Embedding`` table per row (one user's or item's vector: a
    recommender is mostly embeddings).
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        for module in out.modules():
            embedding = embeddings and isinstance(module, torch.nn.Embedding)
            if embedding or isinstance(module, torch.nn.Linear):
                module.weight.copy_(quantize_rtn(module.weight, bits))
            elif isinstance(module, torch.nn.Conv2d):
                w = module.weight
                module.weight.copy_(quantize_rtn(w.reshape(w.shape[0], -1), bits).reshape(w.shape))
    return out


__all__ = ["quantize_rtn", "quantized_copy"]
