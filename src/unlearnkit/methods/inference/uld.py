"""ULD: unlearning from logit difference, Ji et al. 2024, arXiv:2406.08607 ("Reversing the
Forget-Retain Objectives").

No change to the target's weights. An *assistant* is built from the target's first
``layers`` blocks (its embeddings and output layer kept) and trained, with LoRA, on the
reversed objectives: cross-entropy on the forget answers (remember them) and cross-entropy
toward the uniform distribution on the retain answers (know nothing there). Serving
``target − alpha·assistant`` on the target's plausible tokens then removes the forget
knowledge and leaves the rest (:mod:`unlearnkit.models.adapters.logit_difference`). The
assistant is saved next to the target; the cost is the assistant's training plus one
smaller forward pass per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, EditConfig, InferenceMethod, Method, RetainConfig
from unlearnkit.methods.forward import logits
from unlearnkit.methods.losses import nll_loss, uniform_ce_loss
from unlearnkit.models.adapters.logit_difference import LogitDifference, ULDAdapter, truncated_copy


@dataclass(frozen=True)
class ULDConfig(EditConfig):
    """layers: target blocks the assistant keeps. alpha: weight of the assistant's logits.
    tau: a token is plausible when its target probability is at least tau × the top one's.
    assistant_*: the assistant's training (LoRA by default); retain_weight multiplies the
    uniform cross-entropy on retain answers. (The target itself is never trained.)"""

    layers: int = param(1, ge=1)
    alpha: float = param(1.0, gt=0)
    tau: float = param(0.1, gt=0, le=1)
    assistant_lr: float = param(3e-3, gt=0)
    assistant_epochs: int = param(20, ge=1)
    assistant_batch_size: int = param(16, ge=1)
    assistant_lora: bool = True
    assistant_lora_rank: int = param(8, ge=1)
    retain_weight: float = param(1.0, ge=0)


class _ReversedObjectives(Method):
    """The assistant's loss: CE(forget) + alpha · CE(uniform; retain)."""

    config_class = RetainConfig
    uses_retain = True

    def loss(self, ctx, forget, retain):
        remember = nll_loss(*logits(ctx.model, forget["forget"]))
        if retain is None:
            return {"loss": remember, "forget_nll": remember}
        flat = uniform_ce_loss(*logits(ctx.model, retain))
        total = remember + self.config.alpha * flat
        return {"loss": total, "forget_nll": remember, "retain_uniform_ce": flat}


@METHODS.register(
    "uld",
    paper="arXiv:2406.08607 (Ji et al., ULD: unlearning from logit difference)",
    description="Serve target - alpha * assistant logits on plausible tokens; the assistant "
    "(first layers + LoRA) learns forget and unlearns retain (target weights untouched).",
)
class ULD(InferenceMethod):
    """logits = target − α·assistant on plausible tokens; assistant trained reversed."""

    config_class = ULDConfig
    uses_retain = True

    def wrap(self, adapter, forget, retain) -> tuple[Any, dict[str, Any]]:
        from unlearnkit.methods.loop import run_unlearning

        cfg = self.config
        assistant = truncated_copy(adapter.model, cfg.layers)
        loop = RetainConfig(
            lr=cfg.assistant_lr,
            epochs=cfg.assistant_epochs,
            batch_size=cfg.assistant_batch_size,
            lora=cfg.assistant_lora,
            lora_rank=cfg.assistant_lora_rank,
            alpha=cfg.retain_weight,
            seed=cfg.seed,
        )
        assistant, record = run_unlearning(
            _ReversedObjectives(loop),
            assistant,
            adapter.tokenizer,
            forget,
            retain,
            method_name="uld-assistant",
            prompt_format=adapter.prompt_format,
            progress=False,
        )
        model = LogitDifference(adapter.model, assistant, cfg.alpha, cfg.tau)
        wrapped = ULDAdapter.around(adapter, model=model)
        details = {
            "assistant_layers": cfg.layers,
            "assistant_steps": record.steps,
            "assistant_seconds": round(record.wall_time_s, 2),
            "assistant_final_losses": record.final_losses,
        }
        return wrapped, details
