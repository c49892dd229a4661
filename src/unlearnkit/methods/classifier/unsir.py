"""UNSIR (Tarun et al., "Fast Yet Effective Machine Unlearning", arXiv:2111.08947).

Error-maximising noise is learnt against the trained model: images that, labelled with the
forget set's labels, the model gets as wrong as possible (a ‖noise‖ penalty keeps them
bounded). Impair: one pass on the noise (with the forget labels) mixed with a retain
subset, at a high lr; repair: a pass on the retain subset. The paper forgets whole
classes; for an instance request (every image of some people) each forget image gets its
own noise with its label, which is how instance-level evaluations (MUFAC) run it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.classifier.base import (
    ClassifierMethod,
    ClassifierUnlearnConfig,
    train_steps,
)
from unlearnkit.methods.classifier.losses import task_loss


@dataclass(frozen=True)
class UNSIRConfig(ClassifierUnlearnConfig):
    """noise_steps / noise_lr / noise_penalty: the noise's optimisation (maximise CE −
    penalty·mean ‖noise‖²). impair_lr / repair epochs: the two passes. retain_fraction:
    share of the retain set mixed in (seeded)."""

    epochs: int = param(1, ge=1)  # repair epochs
    lr: float = param(0.01, gt=0)  # repair lr
    impair_lr: float = param(0.02, gt=0)
    noise_steps: int = param(20, ge=1)
    noise_lr: float = param(0.1, gt=0)
    noise_penalty: float = param(0.1, ge=0)
    retain_fraction: float = param(0.3, gt=0, le=1)


@METHODS.register(
    "unsir",
    family="classifier",
    paper="arXiv:2111.08947 (Tarun et al., UNSIR)",
    description="Learn error-maximising noise for the forget labels; impair on it, repair.",
)
class UNSIR(ClassifierMethod):
    """noise = argmax CE(model(noise), y_f) − λ‖noise‖²; impair: CE on noise ∪ retain
    subset; repair: CE on the retain subset."""

    config_class = UNSIRConfig

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        model.eval()
        g = self.generator("noise")
        noise = (torch.randn(forget.images.shape, generator=g) * 0.1).requires_grad_(True)
        opt_noise = torch.optim.Adam([noise], lr=cfg.noise_lr)
        for p in model.parameters():
            p.requires_grad_(False)
        for _ in range(cfg.noise_steps):
            loss = -task_loss(model(noise), forget.labels) + cfg.noise_penalty * noise.pow(2).mean()
            opt_noise.zero_grad()
            loss.backward()
            opt_noise.step()
        for p in model.parameters():
            p.requires_grad_(True)
        noise = noise.detach()
        k = max(1, round(cfg.retain_fraction * len(retain)))
        r_sub = torch.randperm(len(retain), generator=self.generator("retain-subset"))[:k]
        images = torch.cat([noise, retain.images[r_sub]])
        labels = torch.cat([forget.labels, retain.labels[r_sub]])
        impair = torch.optim.SGD(model.parameters(), lr=cfg.impair_lr, momentum=cfg.momentum)
        n = train_steps(
            model,
            impair,
            self.batches(len(images), "impair", 0),
            lambda idx: task_loss(model(images[idx]), labels[idx]),
        )
        repair = self.optimiser(model.parameters())

        def steps():
            for epoch in range(cfg.epochs):
                yield from self.batches(k, "repair", epoch)

        n += train_steps(
            model,
            repair,
            steps(),
            lambda idx: task_loss(model(retain.images[r_sub][idx]), retain.labels[r_sub][idx]),
        )
        return {"steps": n, "noise_norm": float(noise.flatten(1).norm(dim=1).mean())}
