"""Bad Teacher (Chundawat et al., "Can Bad Teaching Induce Forgetting?", arXiv:2205.08096).

The student (the model) distils from two teachers at once: the *competent* teacher (the
original model) on retain examples and an *incompetent* teacher (a randomly initialised
model of the same shape) on forget examples. The paper uses a subset of the retain set
(``retain_fraction``, 30%).
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
from unlearnkit.methods.classifier.losses import distillation_kl, is_multilabel
from unlearnkit.models.vision import build_classifier


@dataclass(frozen=True)
class BadTeacherConfig(ClassifierUnlearnConfig):
    """retain_fraction: share of the retain set distilled (seeded). temperature: KL's."""

    epochs: int = param(1, ge=1)
    lr: float = param(0.002, gt=0)
    retain_fraction: float = param(0.3, gt=0, le=1)
    temperature: float = param(1.0, gt=0)


@METHODS.register(
    "bad_teacher",
    family="classifier",
    paper="arXiv:2205.08096 (Chundawat et al., Bad Teacher)",
    description="Distil from the original on retain and from a random model on forget.",
)
class BadTeacher(ClassifierMethod):
    """loss = KL(T_good ‖ S) on retain examples + KL(T_bad ‖ S) on forget examples, in one
    shuffled stream of both."""

    config_class = BadTeacherConfig
    uses_reference = True

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        good = copy.deepcopy(model).eval().requires_grad_(False)
        config = getattr(model, "config", None)
        if config is None:
            raise TypeError(
                "bad_teacher needs a SmallClassifier (its config builds the bad teacher)"
            )
        bad = build_classifier(config, seed=cfg.seed + 1).eval().requires_grad_(False)
        g = self.generator("retain-subset")
        k = max(1, round(cfg.retain_fraction * len(retain)))
        r_sub = torch.randperm(len(retain), generator=g)[:k]
        images = torch.cat([forget.images, retain.images[r_sub]])
        is_forget = torch.cat([torch.ones(len(forget)), torch.zeros(k)]).bool()
        opt = self.optimiser(model.parameters())
        multilabel = is_multilabel(forget.labels)

        def loss(idx):
            x, f = images[idx], is_forget[idx]
            with torch.no_grad():
                target = torch.where(f.unsqueeze(1), bad(x), good(x))
            return distillation_kl(model(x), target, cfg.temperature, multilabel)

        def steps():
            for epoch in range(cfg.epochs):
                yield from self.batches(len(images), "stream", epoch)

        return {"steps": train_steps(model, opt, steps(), loss), "retain_used": k}
