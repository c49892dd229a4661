"""Random labels: train the forget images toward labels drawn among the other classes,
while descending on the retain set (Golatkar et al. / Hayase et al.; the SalUn paper's
"RL" baseline, arXiv:2310.12508)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.classifier.base import (
    ClassifierMethod,
    ClassifierUnlearnConfig,
    train_steps,
)
from unlearnkit.methods.classifier.losses import random_other_labels, task_loss


@dataclass(frozen=True)
class RandomLabelConfig(ClassifierUnlearnConfig):
    """alpha: weight of the retain CE (0: forget images only)."""

    epochs: int = param(4, ge=1)
    lr: float = param(0.002, gt=0)
    alpha: float = param(1.0, ge=0)


def random_label_loss(model, forget, retain, f_idx, r_idx, n_classes, generator, alpha):
    """CE(f with random other labels) + α·CE(r) on one forget and one retain batch."""
    wrong = random_other_labels(forget.labels[f_idx], n_classes, generator)
    loss = task_loss(model(forget.images[f_idx]), wrong)
    if alpha:
        loss = loss + alpha * task_loss(model(retain.images[r_idx]), retain.labels[r_idx])
    return loss


@METHODS.register(
    "random_label",
    family="classifier",
    paper="arXiv:2310.12508 (SalUn's RL baseline; Golatkar et al. 2020)",
    description="CE toward random other labels on the forget set + CE on the retain set.",
)
class RandomLabel(ClassifierMethod):
    """loss = CE(f, random other labels) + α·CE(r)."""

    config_class = RandomLabelConfig

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        g = self.generator("random-labels")
        opt = self.optimiser(model.parameters())

        def steps():
            for epoch in range(cfg.epochs):
                yield from self.paired(len(forget), len(retain), epoch)

        n = train_steps(
            model,
            opt,
            steps(),
            lambda pair: random_label_loss(model, forget, retain, *pair, n_classes, g, cfg.alpha),
        )
        return {"steps": n}
