"""The classifier adapter: the one door to an image classifier for metrics, attacks and
methods (batched logits, per-example losses, features at a block, predictions).

Evaluation runs in ``eval`` mode under ``torch.no_grad()`` in fixed batches, so results
do not depend on who asked first; the adapter never changes the model's weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.models.vision import SmallClassifier, load_classifier, save_classifier


class ClassifierAdapter:
    """Wraps a :class:`~unlearnkit.models.vision.SmallClassifier` (or any module with
    ``features(x, layer)``, ``blocks`` and ``head``). batch_size: images per forward pass."""

    def __init__(self, model: nn.Module, batch_size: int = 256) -> None:
        self.model = model
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, path: str | Path, batch_size: int = 256) -> ClassifierAdapter:
        return cls(load_classifier(path), batch_size=batch_size)

    def save(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        return save_classifier(self.model, out_dir, extra=extra)

    def like(self, model: nn.Module) -> ClassifierAdapter:
        """An adapter of the same kind around another model (attacked copies)."""
        return ClassifierAdapter(model, batch_size=self.batch_size)

    @property
    def n_layers(self) -> int:
        return len(self.model.blocks)

    def fingerprint(self) -> str:
        """A content hash of the weights and buffers."""
        h = hashlib.sha256()
        for name, t in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

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
        return self.logits(images).softmax(-1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(images).argmax(-1)

    def losses(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N,) cross-entropy of each example."""
        return F.cross_entropy(self.logits(images), labels, reduction="none")

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        if len(labels) == 0:
            return float("nan")
        return float((self.predict(images) == labels).float().mean())

    def features(self, images: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """(N, channels) pooled features after block ``layer`` (default: the last)."""
        return self._batched(images, lambda x: self.model.features(x, layer))


def copy_classifier(model: SmallClassifier) -> SmallClassifier:
    import copy

    return copy.deepcopy(model)
