"""Weight-noise tampering: perturb every weight a little and re-measure.

Knowledge that is suppressed rather than removed can resurface when the weights are
shaken (model tampering attacks, Che et al. 2025, arXiv:2502.05209). Each floating tensor
gets independent Gaussian noise scaled to its own spread: ``w + scale * std(w) * N(0, 1)``,
seeded, so a scale means the same for every layer and every model.
"""

from __future__ import annotations

import copy

import torch


def noisy_copy(model: torch.nn.Module, scale: float, seed: int = 0) -> torch.nn.Module:
    """A copy of ``model`` with relative Gaussian noise of ``scale`` on every parameter."""
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    out = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(out.named_parameters(), key=lambda kv: kv[0]):
            if not p.dtype.is_floating_point or p.numel() < 2:
                continue
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            p.add_((scale * p.float().std() * noise).to(p.dtype).to(p.device))
    return out


__all__ = ["noisy_copy"]
