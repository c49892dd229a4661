"""ℓ1-sparse unlearning (Jia et al., "Model Sparsity Can Simplify Machine Unlearning",
arXiv:2304.04934): fine-tune on the retain set with an ℓ1 penalty on the weights whose
weight γ decays linearly to 0 over the run (the paper's schedule)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.classifier.base import (
    ClassifierMethod,
    ClassifierUnlearnConfig,
    train_steps,
)
from unlearnkit.methods.classifier.losses import l1_penalty, task_loss


@dataclass(frozen=True)
class L1SparseConfig(ClassifierUnlearnConfig):
    """gamma: initial ℓ1 weight (linearly to 0 at the last step)."""

    epochs: int = param(10, ge=1)
    lr: float = param(0.01, gt=0)
    gamma: float = param(5e-4, ge=0)


@METHODS.register(
    "l1_sparse",
    family="classifier",
    paper="arXiv:2304.04934 (Jia et al., l1-sparse unlearning)",
    description="Fine-tune on the retain set with a decaying l1 penalty on the weights.",
)
class L1Sparse(ClassifierMethod):
    """loss_t = CE(r) + γ·(1 − t/T)·‖θ‖₁."""

    config_class = L1SparseConfig
    uses_forget = False

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        opt = self.optimiser(model.parameters())
        per_epoch = -(-len(retain) // cfg.batch_size)
        total = per_epoch * cfg.epochs
        step = {"t": 0}

        def steps():
            for epoch in range(cfg.epochs):
                yield from self.batches(len(retain), "retain", epoch)

        def loss(idx):
            weight = cfg.gamma * (1 - step["t"] / total)
            step["t"] += 1
            ce = task_loss(model(retain.images[idx]), retain.labels[idx])
            return ce + weight * l1_penalty(
                p for n, p in model.named_parameters() if n.endswith("weight")
            )

        return {"steps": train_steps(model, opt, steps(), loss)}
