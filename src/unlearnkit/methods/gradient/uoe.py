"""UOE: unlearning one expert is enough (Zhuang et al. 2024, arXiv:2411.18797).

On a mixture-of-experts model, gradient unlearning of all weights shifts the routing: the
router sends the forget tokens to other experts and the knowledge stays in them. UOE
attributes the forget set to one expert, the (layer, expert) with the highest mean routing
probability on the forget tokens, unlearns only that expert's weights with a gradient
objective, and adds a **router anchor loss**, the cross-entropy of that layer's router
toward the chosen expert on the forget tokens, so that the forget data keeps going through
the expert being unlearned. Only the expert and that layer's router are trained; the record
counts the parameters changed.

Works with transformers' Mixtral-style blocks: a module with a router ``gate`` (weight
experts × hidden) and fused ``experts`` (``gate_up_proj`` and ``down_proj`` with the expert
as their first dimension).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, RetainConfig
from unlearnkit.methods.gradient._terms import (
    logits,
    reference_sequence_logprob,
    retain_nll,
)
from unlearnkit.methods.losses import ascent_loss, npo_loss, sequence_logprob, simnpo_loss


@dataclass(frozen=True)
class UOEConfig(RetainConfig):
    """objective: the forget objective on the chosen expert (grad_ascent, grad_diff, npo,
    simnpo; the retain NLL weight alpha applies to grad_diff, npo and simnpo). beta: NPO /
    SimNPO inverse temperature. anchor: weight of the router anchor loss. layer: force the
    MoE layer (null: the one whose top expert has the highest affinity)."""

    lr: float = param(3e-3, gt=0)
    epochs: int = param(10, ge=1)
    objective: Literal["grad_ascent", "grad_diff", "npo", "simnpo"] = "npo"
    beta: float = param(0.1, gt=0)
    alpha: float = param(1.0, ge=0)
    anchor: float = param(1.0, ge=0)
    layer: int | None = param(None, ge=0)


def moe_blocks(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, block) of every sparse MoE block: a router ``gate`` with a 2-D weight and
    fused ``experts`` with ``gate_up_proj`` / ``down_proj``, in layer order."""
    return [
        (n, m)
        for n, m in model.named_modules()
        if hasattr(m, "gate")
        and hasattr(m, "experts")
        and getattr(getattr(m.gate, "weight", None), "ndim", 0) == 2
        and hasattr(m.experts, "gate_up_proj")
    ]


def expert_affinity(model: torch.nn.Module, batches) -> torch.Tensor:
    """(layers, experts) mean routing probability over the non-padding tokens of
    ``batches`` (dicts with input_ids and attention_mask)."""
    blocks = moe_blocks(model)
    logits_seen: list[list[torch.Tensor]] = [[] for _ in blocks]
    hooks = [
        block.gate.register_forward_hook(
            lambda mod, args, out, i=i: logits_seen[i].append(out[0].detach())
        )
        for i, (_, block) in enumerate(blocks)
    ]
    total = torch.zeros(len(blocks), blocks[0][1].gate.weight.shape[0])
    count = 0
    try:
        with torch.no_grad():
            for batch in batches:
                for seen in logits_seen:
                    seen.clear()
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                keep = batch["attention_mask"].reshape(-1).bool()
                for i, seen in enumerate(logits_seen):
                    probs = seen[0].float().softmax(-1)[keep.to(seen[0].device)]
                    total[i] += probs.sum(0).cpu()
                count += int(keep.sum())
    finally:
        for h in hooks:
            h.remove()
    return total / max(count, 1)


@METHODS.register(
    "uoe",
    paper="arXiv:2411.18797 (Zhuang et al., UOE: unlearning one expert is enough for MoE LLMs)",
    description="MoE: unlearn only the expert most routed to on f (any gradient objective) "
    "plus a router anchor loss.",
)
class UOE(Method):
    """objective(f) on the top-affinity expert only + anchor · CE(router, expert) on f."""

    config_class = UOEConfig
    uses_retain = True
    uses_reference = True  # the NPO objective's reference
    supports_lora = False  # the experts are fused 3-D tensors, not nn.Linear
    requires_moe = True

    def setup(self, ctx) -> None:
        model = ctx.accelerator.unwrap_model(ctx.model)
        blocks = moe_blocks(model)
        if not blocks:
            raise ValueError(
                "uoe needs a mixture-of-experts model (blocks with a router `gate` and fused "
                "`experts`, e.g. Mixtral); build one with model.num_experts > 0"
            )
        if ctx.data is None:
            raise ValueError("uoe needs the data pass of the loop")
        affinity = expert_affinity(model, (views["forget"] for views in ctx.data("forget")))
        if self.config.layer is not None:
            if self.config.layer >= len(blocks):
                raise ValueError(f"uoe: layer={self.config.layer}; the model has {len(blocks)}")
            layer = self.config.layer
        else:
            layer = int(affinity.max(-1).values.argmax())
        expert = int(affinity[layer].argmax())
        block = blocks[layer][1]
        for p in model.parameters():
            p.requires_grad_(False)
        hooks = []
        for weight in (block.experts.gate_up_proj, block.experts.down_proj):
            mask = torch.zeros_like(weight)
            mask[expert] = 1.0
            weight.requires_grad_(True)
            hooks.append(weight.register_hook(lambda g, m=mask: g * m))
        block.gate.weight.requires_grad_(True)
        router_seen: list[torch.Tensor] = []
        hooks.append(
            block.gate.register_forward_hook(lambda mod, args, out: router_seen.append(out[0]))
        )
        ctx.state.update(hooks=hooks, router_seen=router_seen, expert=expert)
        ctx.state["details"] = {
            "layer": layer,
            "expert": expert,
            "affinity": [[round(v, 4) for v in row] for row in affinity.tolist()],
        }

    def finish(self, ctx) -> None:
        for handle in ctx.state.pop("hooks", []):
            handle.remove()

    def loss(self, ctx, forget, retain):
        cfg, state = self.config, ctx.state
        f = forget["forget"]
        seen = state["router_seen"]
        seen.clear()
        out, labels = logits(ctx.model, f)
        router = seen[0]  # the chosen layer's router logits on this forget batch
        keep = f["attention_mask"].reshape(-1).bool().to(router.device)
        target = torch.full((int(keep.sum()),), state["expert"], device=router.device)
        anchor = F.cross_entropy(router[keep].float(), target)
        if cfg.objective == "npo":
            ref = reference_sequence_logprob(ctx, f, "forget")
            forget_term = npo_loss(sequence_logprob(out, labels), ref, cfg.beta)
        elif cfg.objective == "simnpo":
            forget_term = simnpo_loss(sequence_logprob(out, labels, average=True), cfg.beta)
        else:
            forget_term = ascent_loss(out, labels)
        seen.clear()
        total = forget_term + cfg.anchor * anchor
        terms = {"forget_" + cfg.objective: forget_term, "router_anchor": anchor}
        if cfg.objective != "grad_ascent" and retain is not None:
            r = retain_nll(ctx, retain)
            total = total + cfg.alpha * r
            terms["retain_nll"] = r
        return {"loss": total, **terms}
