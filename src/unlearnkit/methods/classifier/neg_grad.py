"""NegGrad and NegGrad+: gradient ascent on the forget set, alone or balanced by descent on
the retain set (Kurmanji et al., SCRUB, arXiv:2302.09880, §5 baselines; MUFAC)."""

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
class NegGradConfig(ClassifierUnlearnConfig):
    """epochs over the forget set; a small lr (ascent diverges)."""

    epochs: int = param(3, ge=1)
    lr: float = param(0.005, gt=0)


@METHODS.register(
    "neg_grad",
    family="classifier",
    paper="arXiv:2302.09880 (NegGrad baseline)",
    description="Gradient ascent on the forget set: loss = -CE(f).",
)
class NegGrad(ClassifierMethod):
    """loss = −CE(f)."""

    config_class = NegGradConfig
    uses_retain = False

    def run(self, model, forget, retain, n_classes):
        opt = self.optimiser(model.parameters())

        def steps():
            for epoch in range(self.config.epochs):
                yield from self.batches(len(forget), "forget", epoch)

        n = train_steps(
            model,
            opt,
            steps(),
            lambda idx: -task_loss(model(forget.images[idx]), forget.labels[idx]),
        )
        return {"steps": n}


@dataclass(frozen=True)
class NegGradPlusConfig(ClassifierUnlearnConfig):
    """beta: weight of the retain term; the forget term gets 1 − β (Kurmanji et al.)."""

    epochs: int = param(5, ge=1)
    lr: float = param(0.005, gt=0)
    beta: float = param(0.9, gt=0, lt=1)


@METHODS.register(
    "neg_grad_plus",
    family="classifier",
    paper="arXiv:2302.09880 (NegGrad+)",
    description="Ascent on the forget set balanced by descent on the retain set.",
)
class NegGradPlus(ClassifierMethod):
    """loss = β·CE(r) − (1 − β)·CE(f); each step a retain batch and a forget batch (the
    forget batches cycled over an epoch of the retain set)."""

    config_class = NegGradPlusConfig

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        opt = self.optimiser(model.parameters())

        def steps():
            for epoch in range(cfg.epochs):
                yield from self.paired(len(forget), len(retain), epoch)

        def loss(pair):
            f_idx, r_idx = pair
            f = task_loss(model(forget.images[f_idx]), forget.labels[f_idx])
            r = task_loss(model(retain.images[r_idx]), retain.labels[r_idx])
            return cfg.beta * r - (1 - cfg.beta) * f

        return {"steps": train_steps(model, opt, steps(), loss)}
