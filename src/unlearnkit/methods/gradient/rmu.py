"""Representation Misdirection for Unlearning (RMU), Li et al. 2024 (WMDP), arXiv:2403.03218.

At one layer ℓ, push the forget inputs' hidden states toward a fixed random direction c·u
and keep the retain inputs' hidden states equal to the frozen original's; only the MLP
output projections of a few layers up to ℓ are trained (the WMDP code trains
``mlp.down_proj`` of layers ℓ-2..ℓ).

``layer`` counts decoder blocks from 0; its output is ``hidden_states[layer + 1]`` in
Hugging Face's numbering. ``steering_coeff`` null = automatic: ``auto_coeff_scale`` times the
mean per-token norm of the forget hidden states at ℓ before unlearning (the paper tunes c by
hand per model; the automatic rule makes the default portable across model sizes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig, UnlearnContext
from unlearnkit.methods.losses import rmu_control_vector, rmu_forget_loss, rmu_retain_loss


@dataclass(frozen=True)
class RMUConfig(RetainConfig):
    """layer: block whose output is steered (null = block ``num_layers // 2``). trained_layers:
    blocks whose ``trained_module`` is trained (null = layer-2..layer). steering_coeff: c
    (null = automatic, see module doc). alpha: retain weight. positions: which tokens count
    ("answer": answer tokens only, "all": every real token, as in WMDP's documents)."""

    lr: float = param(5e-3, gt=0)
    epochs: int = param(10, ge=1)
    alpha: float = param(10.0, ge=0)
    layer: int | None = param(None, ge=0)
    trained_layers: tuple[int, ...] | None = None
    trained_module: str = "mlp.down_proj"
    steering_coeff: float | None = param(None, gt=0)
    auto_coeff_scale: float = param(20.0, gt=0)
    positions: Literal["answer", "all"] = "answer"


def _positions(batch: dict[str, torch.Tensor], which: str) -> torch.Tensor:
    if which == "all":
        return batch["attention_mask"].bool()
    return batch["labels"] != -100  # (B, T)


@METHODS.register(
    "rmu",
    paper="arXiv:2403.03218 (Li et al., The WMDP Benchmark: RMU)",
    description="Steer layer-l activations of f to a random direction; keep r's unchanged.",
)
class RMU(Method):
    """loss = MSE(h_ℓ(f), c·u) + α MSE(h_ℓ(r), h_ℓ^ref(r)), training a few MLP matrices."""

    config_class = RMUConfig
    uses_retain = True
    uses_reference = True

    def setup(self, ctx: UnlearnContext) -> None:
        n_layers = ctx.base_model.config.num_hidden_layers
        layer = (
            self.config.layer if self.config.layer is not None else min(n_layers // 2, n_layers - 1)
        )
        if layer >= n_layers:
            raise ValueError(f"rmu: layer={layer} but the model has {n_layers} blocks (0-based)")
        trained = self.config.trained_layers or tuple(range(max(0, layer - 2), layer + 1))
        pattern = re.compile(
            rf"layers\.({'|'.join(map(str, trained))})\.{re.escape(self.config.trained_module)}\."
        )
        kept = 0
        for name, p in ctx.model.named_parameters():
            keep = p.requires_grad and bool(pattern.search(name))
            p.requires_grad_(keep)
            kept += keep
        if not kept:
            raise ValueError(
                f"rmu: no trainable parameter matches {self.config.trained_module!r} in layers "
                f"{trained}; set trained_module / trained_layers (or lora_target_modules)"
            )
        ctx.state["layer"] = layer

    def _hidden(self, model, batch, layer: int) -> torch.Tensor:
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
        )
        return out.hidden_states[layer + 1]  # (B, T, H)

    def loss(self, ctx, forget, retain):
        layer = ctx.state["layer"]
        f = forget["forget"]
        hf = self._hidden(ctx.model, f, layer)
        fmask = _positions(f, self.config.positions)
        if "control" not in ctx.state:  # drawn once, from the seeded generator
            coeff = self.config.steering_coeff
            if coeff is None:
                norms = hf.detach().float().norm(dim=-1)[fmask]
                coeff = self.config.auto_coeff_scale * float(norms.mean())
            u = rmu_control_vector(hf.shape[-1], coeff, ctx.generator)
            ctx.state["control"] = u.to(hf.device, hf.dtype)
            ctx.state["steering_coeff"] = coeff
        forget_term = rmu_forget_loss(hf, ctx.state["control"], fmask)
        if retain is None:  # the forget part alone (smoothing asks for it)
            return {"loss": forget_term, "forget_rmu": forget_term}
        hr = self._hidden(ctx.model, retain, layer)
        with torch.no_grad():
            href = self._hidden(ctx.reference, retain, layer)
        retain_term = rmu_retain_loss(hr, href, _positions(retain, self.config.positions))
        return {
            "loss": forget_term + self.config.alpha * retain_term,
            "forget_rmu": forget_term,
            "retain_rmu": retain_term,
        }
