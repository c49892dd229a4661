"""CF-k: catastrophically forget by fine-tuning only the last k blocks (and the head) on
the retain set; the earlier blocks stay frozen (Goel et al., "Towards Adversarial
Evaluation of Machine Unlearning", arXiv:2201.06640)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.classifier.base import (
    ClassifierMethod,
    ClassifierUnlearnConfig,
    train_steps,
)
from unlearnkit.methods.classifier.losses import task_loss


@dataclass(frozen=True)
class CFkConfig(ClassifierUnlearnConfig):
    """k: how many of the last blocks train (the head always trains)."""

    k: int = param(2, ge=0)
    epochs: int = param(10, ge=1)
    lr: float = param(0.01, gt=0)


@METHODS.register(
    "cf_k",
    family="classifier",
    paper="arXiv:2201.06640 (Goel et al., CF-k / EU-k)",
    description="Fine-tune only the last k blocks and the head on the retain set.",
)
class CFk(ClassifierMethod):
    """loss = CE(r) with every block but the last k frozen."""

    config_class = CFkConfig
    uses_forget = False

    def run(self, model, forget, retain, n_classes):
        k = min(self.config.k, len(model.blocks))
        trained = list(model.head.parameters())
        for block in list(model.blocks)[len(model.blocks) - k :]:
            trained += list(block.parameters())
        ids = {id(p) for p in trained}
        for p in model.parameters():
            p.requires_grad_(id(p) in ids)
        opt = self.optimiser(trained)

        def steps():
            for epoch in range(self.config.epochs):
                yield from self.batches(len(retain), "retain", epoch)

        # frozen blocks keep their batch-norm statistics too (eval mode inside the step)
        frozen = list(model.blocks)[: len(model.blocks) - k]

        def loss(idx):
            for b in frozen:
                b.eval()
            return task_loss(model(retain.images[idx]), retain.labels[idx])

        n = train_steps(model, opt, steps(), loss)
        for p in model.parameters():
            p.requires_grad_(True)
        return {"steps": n, "trained_blocks": k}
