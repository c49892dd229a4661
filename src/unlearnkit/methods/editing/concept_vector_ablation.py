"""Concept-vector ablation: unlearn by changing only the MLP value vectors that encode the
forgotten answers (Hong et al. 2024, arXiv:2406.11614, "Intrinsic Evaluation of Unlearning
Using Parametric Knowledge Traces": the ConceptVectors benchmark and its "Needle" baseline).

The value vectors (columns of the MLP output projections) whose vocabulary projection
promotes the forget answers' tokens the most are the facts' parametric traces
(:func:`unlearnkit.models.value_vectors.concept_vectors`). This method locates the ``k`` of them,
perturbs them with relative Gaussian noise, and trains only those columns with gradient
difference (−CE on forget + α·CE on retain); every other weight stays frozen. The concept
tokens are the forget answers' tokens that no retain answer uses (the facts' values, not
the answer templates); all forget-answer tokens when there are none.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import logits, retain_nll
from unlearnkit.methods.losses import ascent_loss
from unlearnkit.models.encoding import IGNORE_INDEX
from unlearnkit.models.value_vectors import concept_vectors


@dataclass(frozen=True)
class ConceptVectorAblationConfig(RetainConfig):
    """k: value vectors located and trained. noise: relative std of the Gaussian
    perturbation of those vectors at the start (0: none). alpha: retain NLL weight."""

    lr: float = param(3e-3, gt=0)
    epochs: int = param(10, ge=1)
    k: int = param(100, ge=1)
    noise: float = param(0.5, ge=0)
    alpha: float = param(1.0, ge=0)

    def validate(self) -> None:
        super().validate()
        if self.weight_decay:
            self.fail(
                "weight_decay",
                self.weight_decay,
                "0: decoupled weight decay would shrink the frozen columns of the trained "
                "output projections too",
            )


def answer_tokens(batches) -> set[int]:
    """The token ids scored (labels != -100) in ``batches``."""
    found: set[int] = set()
    for batch in batches:
        labels = batch["labels"]
        found.update(labels[labels != IGNORE_INDEX].tolist())
    return found


@METHODS.register(
    "concept_vector_ablation",
    paper="arXiv:2406.11614 (Hong et al., ConceptVectors: parametric knowledge traces)",
    description="Locate the k MLP value vectors that promote the forget answers; perturb and "
    "train only them (GradDiff).",
)
class ConceptVectorAblation(Method):
    """Locate k concept vectors by vocabulary projection; perturb; −CE(f) + α CE(r) on them."""

    config_class = ConceptVectorAblationConfig
    uses_retain = True
    supports_lora = False  # it trains located columns of the full weights

    def setup(self, ctx) -> None:
        if ctx.data is None:
            raise ValueError("concept_vector_ablation needs the data pass of the loop")
        model = ctx.accelerator.unwrap_model(ctx.model)
        forget = answer_tokens(views["forget"] for views in ctx.data("forget"))
        retain = answer_tokens(ctx.data("retain"))
        tokens = sorted(forget - retain) or sorted(forget)
        picked = concept_vectors(model, tokens, self.config.k)
        if any("[" in name for _, name, _ in picked):
            raise ValueError(
                "concept_vector_ablation trains columns of dense MLP output projections; this "
                "model's value vectors are fused experts (use uoe for mixtures of experts)"
            )
        modules = dict(model.named_modules())
        columns: dict[str, list[int]] = {}
        for _, name, unit in picked:
            columns.setdefault(name, []).append(unit)
        for p in model.parameters():
            p.requires_grad_(False)
        hooks = ctx.state.setdefault("hooks", [])
        for name, units in columns.items():
            weight = modules[name].weight  # (hidden, units)
            mask = torch.zeros_like(weight)
            mask[:, units] = 1.0
            if self.config.noise > 0:
                with torch.no_grad():
                    cols = weight[:, units]
                    draw = torch.randn(
                        cols.shape, generator=ctx.generator, device=ctx.generator.device
                    ).to(cols)
                    weight[:, units] = cols + self.config.noise * cols.std(0, keepdim=True) * draw
            weight.requires_grad_(True)
            hooks.append(weight.register_hook(lambda g, m=mask: g * m))
        ctx.state["details"] = {
            "concept_tokens": len(tokens),
            "vectors": [{"module": n, "unit": u, "score": round(s, 4)} for s, n, u in picked],
        }

    def finish(self, ctx) -> None:
        for handle in ctx.state.pop("hooks", []):
            handle.remove()

    def loss(self, ctx, forget, retain):
        ga = ascent_loss(*logits(ctx.model, forget["forget"]))
        if retain is None:
            return {"loss": ga, "forget_ascent": ga}
        r = retain_nll(ctx, retain)
        return {"loss": ga + self.config.alpha * r, "forget_ascent": ga, "retain_nll": r}
