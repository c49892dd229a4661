"""Training an image classifier from scratch (or fine-tuning one): a short seeded loop.

SGD with momentum and a cosine schedule, cross-entropy, random horizontal shifts of up to
``augment_shift`` pixels as the only augmentation. Batch order comes from a generator
seeded by ``derive_seed(seed, epoch)``; the global RNG is never used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from unlearnkit.core.config import Config, param
from unlearnkit.core.progress import bar_kwargs
from unlearnkit.core.seeding import derive_seed
from unlearnkit.models.vision import task_loss


@dataclass(frozen=True)
class ClassifierTrainConfig(Config):
    """epochs, batch_size, lr (peak, cosine to 0), momentum, weight_decay: SGD.
    augment_shift: random translation in pixels (0: none). seed: batch order and shifts."""

    epochs: int = param(30, ge=1)
    batch_size: int = param(32, ge=1)
    lr: float = param(0.05, gt=0)
    momentum: float = param(0.9, ge=0, lt=1)
    weight_decay: float = param(5e-4, ge=0)
    augment_shift: int = param(2, ge=0)
    seed: int = 0


@dataclass(frozen=True)
class ClassifierTrainRecord:
    steps: int
    epochs: int
    examples: int
    final_loss: float
    wall_time_s: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def shift_batch(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Each image rolled by a random (dy, dx) in [-max_shift, max_shift] (edges wrap)."""
    if max_shift == 0:
        return x
    shifts = torch.randint(-max_shift, max_shift + 1, (len(x), 2), generator=g)
    return torch.stack(
        [
            torch.roll(img, (int(dy), int(dx)), dims=(1, 2))
            for img, (dy, dx) in zip(x, shifts, strict=True)
        ]
    )


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: ClassifierTrainConfig | None = None,
    *,
    progress: bool = False,
    desc: str = "train",
) -> ClassifierTrainRecord:
    """Train ``model`` in place on (images, labels); returns what it did."""
    cfg = config or ClassifierTrainConfig()
    if len(labels) == 0:
        raise ValueError("no training examples")
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    steps_per_epoch = math.ceil(len(labels) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    model.train()
    t0, step, loss = time.perf_counter(), 0, torch.tensor(float("nan"))
    bar = tqdm(total=total, desc=desc, disable=not progress, **bar_kwargs())
    for epoch in range(cfg.epochs):
        g = torch.Generator().manual_seed(derive_seed(cfg.seed, "classifier", epoch))
        order = torch.randperm(len(labels), generator=g)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            x = shift_batch(images[idx], cfg.augment_shift, g)
            loss = task_loss(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            bar.update(1)
    bar.close()
    model.eval()
    return ClassifierTrainRecord(
        steps=step,
        epochs=cfg.epochs,
        examples=len(labels),
        final_loss=float(loss.detach()),
        wall_time_s=time.perf_counter() - t0,
    )
