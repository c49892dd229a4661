"""The classifier adapter: the one door to an image classifier for metrics, attacks and
methods (batched logits, per-example losses, features at a block, predictions).

Evaluation runs in ``eval`` mode under ``torch.no_grad()`` in fixed batches, so results
do not depend on who asked first; the adapter never changes the model's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from unlearnkit.models.adapters.base import model_fingerprint
from unlearnkit.models.vision import SmallClassifier, load_classifier, save_classifier, task_loss


class ClassifierAdapter:
    """Wraps a :class:`~unlearnkit.models.vision.SmallClassifier` (or any module with
    ``features(x, layer)``, ``blocks`` and ``head``). batch_size: images per forward pass.
    Satisfies :class:`~unlearnkit.models.adapters.base.ModelAdapter`."""

    family: ClassVar[str] = "classifier"

    def __init__(self, model: nn.Module, batch_size: int = 256) -> None:
        self.model = model
        self.batch_size = batch_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @classmethod
    def from_pretrained(cls, path: str | Path, batch_size: int = 256) -> ClassifierAdapter:
        return cls(load_classifier(path), batch_size=batch_size)

    def save(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        return save_classifier(self.model, out_dir, extra=extra)

    def like(self, model: nn.Module) -> ClassifierAdapter:
        """An adapter of the same kind around another model (attacked copies)."""
        return ClassifierAdapter(model, batch_size=self.batch_size)

    @property
    def multilabel(self) -> bool:
        """Whether the outputs are independent binary attributes (sigmoid) rather than one
        class (softmax)."""
        return bool(getattr(getattr(self.model, "config", None), "multilabel", False))

    @property
    def n_layers(self) -> int:
        return len(self.model.blocks)

    def fingerprint(self) -> str:
        """A content hash of the weights and buffers (names and bytes, any dtype)."""
        return model_fingerprint(self.model, layout=False)

    @torch.no_grad()
    def _batched(self, images: torch.Tensor, fn) -> torch.Tensor:
        was = self.model.training
        self.model.eval()
        try:
            outs = [
                fn(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)
            ]
        finally:
            self.model.train(was)
        return torch.cat(outs) if outs else torch.empty(0)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, classes) logits."""
        return self._batched(images, self.model)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C) softmax, or (N, A) sigmoid of multi-label outputs."""
        logits = self.logits(images)
        return torch.sigmoid(logits) if self.multilabel else logits.softmax(-1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) classes, or (N, A) 0/1 attributes."""
        logits = self.logits(images)
        return (logits > 0).float() if self.multilabel else logits.argmax(-1)

    def correct(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N,) 1 for a right prediction (multi-label: the share of right attributes)."""
        right = (self.predict(images) == labels).float()
        return right.mean(1) if right.ndim == 2 else right

    def losses(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N,) cross-entropy of each example (multi-label: binary cross-entropy averaged
        over the attributes)."""
        return task_loss(self.logits(images), labels, reduction="none")

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        if len(labels) == 0:
            return float("nan")
        return float(self.correct(images, labels).mean())

    def features(self, images: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """(N, channels) pooled features after block ``layer`` (default: the last)."""
        return self._batched(images, lambda x: self.model.features(x, layer))


def copy_classifier(model: SmallClassifier) -> SmallClassifier:
    import copy

    return copy.deepcopy(model)
