"""SCRUB (Kurmanji et al., "Towards Unbounded Machine Unlearning", arXiv:2302.09880).

The original model is the teacher. Each epoch starts with max-steps (for the first
``max_epochs`` epochs): move the student *away* from the teacher on the forget set
(maximise KL); then min-steps: stay close to the teacher on the retain set while fitting
its labels (CE + α·KL). The paper's "rewinding" (picking the checkpoint whose forget error
matches a validation set's) is not done here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.classifier.base import (
    ClassifierMethod,
    ClassifierUnlearnConfig,
    train_steps,
)
from unlearnkit.methods.classifier.losses import distillation_kl, is_multilabel, task_loss


@dataclass(frozen=True)
class SCRUBConfig(ClassifierUnlearnConfig):
    """max_epochs: epochs that begin with the forget-set (max) pass (the first
    min(max_epochs, epochs) epochs). alpha: weight of the
    retain KL, gamma: of the retain CE. temperature: of the KL."""

    epochs: int = param(4, ge=1)
    max_epochs: int = param(2, ge=0)
    lr: float = param(0.005, gt=0)
    alpha: float = param(1.0, ge=0)
    gamma: float = param(1.0, ge=0)
    temperature: float = param(4.0, gt=0)


@METHODS.register(
    "scrub",
    family="classifier",
    paper="arXiv:2302.09880 (Kurmanji et al., SCRUB)",
    description="Alternate: away from the original on forget (max KL), close on retain.",
)
class SCRUB(ClassifierMethod):
    """max: −KL(teacher ‖ student) on f; min: γ·CE(r) + α·KL(teacher ‖ student) on r."""

    config_class = SCRUBConfig
    uses_reference = True

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
        opt = self.optimiser(model.parameters())
        multilabel = is_multilabel(retain.labels)

        @torch.no_grad()
        def teach(x):
            return teacher(x)

        def max_loss(idx):
            x = forget.images[idx]
            return -distillation_kl(model(x), teach(x), cfg.temperature, multilabel)

        def min_loss(idx):
            x = retain.images[idx]
            logits = model(x)
            ce = task_loss(logits, retain.labels[idx])
            kl = distillation_kl(logits, teach(x), cfg.temperature, multilabel)
            return cfg.gamma * ce + cfg.alpha * kl

        steps = {"max": 0, "min": 0}
        for epoch in range(cfg.epochs):
            if epoch < cfg.max_epochs:
                steps["max"] += train_steps(
                    model, opt, self.batches(len(forget), "forget", epoch), max_loss
                )
            steps["min"] += train_steps(
                model, opt, self.batches(len(retain), "retain", epoch), min_loss
            )
        return {
            "steps": steps["max"] + steps["min"],
            "max_steps": steps["max"],
            "min_steps": steps["min"],
        }
