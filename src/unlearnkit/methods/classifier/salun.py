"""SalUn: saliency unlearning (Fan et al., arXiv:2310.12508). The weights whose gradient
of the forget loss is largest (the top ``fraction`` of |∇θ CE(f)| over the whole model) are
the only ones updated, with the random-label objective; every other weight is frozen by a
0/1 mask on the gradients."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.classifier.base import (
    ClassifierMethod,
    ClassifierUnlearnConfig,
    train_steps,
)
from unlearnkit.methods.classifier.losses import saliency_mask, task_loss
from unlearnkit.methods.classifier.random_label import random_label_loss


@dataclass(frozen=True)
class SalUnConfig(ClassifierUnlearnConfig):
    """fraction: share of the weights the saliency mask keeps (the paper: 0.5). alpha:
    retain CE weight."""

    epochs: int = param(4, ge=1)
    lr: float = param(0.005, gt=0)
    fraction: float = param(0.5, gt=0, le=1)
    alpha: float = param(1.0, ge=0)


@METHODS.register(
    "salun",
    family="classifier",
    paper="arXiv:2310.12508 (Fan et al., SalUn)",
    description="Random-label unlearning restricted to the most forget-salient weights.",
)
class SalUn(ClassifierMethod):
    """mask = top-fraction |∇θ CE(f)|; loss = CE(f, random other labels) + α·CE(r), masked."""

    config_class = SalUnConfig

    def run(self, model, forget, retain, n_classes):
        cfg = self.config
        model.eval()  # the saliency of the trained model, without updating batch statistics
        model.zero_grad(set_to_none=True)
        task_loss(model(forget.images), forget.labels).backward()
        grads = {
            n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None
        }
        model.zero_grad(set_to_none=True)
        mask = saliency_mask(grads, cfg.fraction)
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
            mask=mask,
        )
        kept = sum(int(m.sum()) for m in mask.values())
        total = sum(m.numel() for m in mask.values())
        return {"steps": n, "salient_weights": kept, "weights": total}
