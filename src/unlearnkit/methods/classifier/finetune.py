"""Fine-tuning on the retain set only ("catastrophic forgetting" baseline; MUFAC, SalUn,
SCRUB all report it): the forget set is never touched, it fades while the model keeps
training on everything else."""

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
class FinetuneConfig(ClassifierUnlearnConfig):
    """epochs over the retain set at lr."""

    epochs: int = param(10, ge=1)
    lr: float = param(0.01, gt=0)


@METHODS.register(
    "finetune",
    family="classifier",
    paper="arXiv:2302.09880 (SCRUB's baseline; MUFAC, arXiv:2311.02240)",
    description="Fine-tune on the retain set only: the forget set fades.",
)
class Finetune(ClassifierMethod):
    """loss = CE(r), for ``epochs`` passes over the retain set."""

    config_class = FinetuneConfig
    uses_forget = False

    def run(self, model, forget, retain, n_classes):
        opt = self.optimiser(model.parameters())

        def steps():
            for epoch in range(self.config.epochs):
                yield from self.batches(len(retain), "retain", epoch)

        n = train_steps(
            model,
            opt,
            steps(),
            lambda idx: task_loss(model(retain.images[idx]), retain.labels[idx]),
        )
        return {"steps": n}
