"""Small image classifiers in plain torch (no torchvision): a CNN and a ResNet, trained
from scratch in seconds on the identity world, saved as ``config.json`` +
``model.safetensors``.

Both expose their blocks as ``model.blocks`` (an ``nn.ModuleList``) followed by a linear
``model.head``, so methods that retrain the last k blocks (CF-k), saliency masks (SalUn)
and representation metrics (features after block ℓ) treat them alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError, UnlearnkitError

CLASSIFIER_FORMAT = "unlearnkit.classifier"


@dataclass(frozen=True)
class ClassifierConfig(Config):
    """arch: ``cnn`` (conv-BN-ReLU-pool blocks) or ``resnet`` (a stem and residual blocks,
    a stride-2 stage per block after the first). width: channels of the first block
    (doubled each block). depth: number of blocks. n_classes: outputs. in_channels: 3.
    multilabel: the outputs are independent binary attributes (sigmoid, binary
    cross-entropy; the MUCAC-style variant) instead of one class (softmax). (Left out of
    ``to_dict`` when false, so single-label cache keys do not change.)"""

    arch: Literal["cnn", "resnet"] = "cnn"
    width: int = param(16, ge=4)
    depth: int = param(3, ge=1, le=5)
    n_classes: int = param(4, ge=1)
    in_channels: int = param(3, ge=1)
    multilabel: bool = False

    def to_dict(self) -> dict:
        data = super().to_dict()
        if not self.multilabel:
            data.pop("multilabel")
        return data

    def validate(self) -> None:
        if not self.multilabel and self.n_classes < 2:
            self.fail("n_classes", self.n_classes, "at least 2 classes (or multilabel=true)")


CLASSIFIER_PRESETS = {
    "cnn-test": lambda: ClassifierConfig(arch="cnn", width=8, depth=2),
    "cnn": lambda: ClassifierConfig(arch="cnn", width=16, depth=3),
    "resnet-test": lambda: ClassifierConfig(arch="resnet", width=8, depth=2),
    "resnet": lambda: ClassifierConfig(arch="resnet", width=16, depth=3),
}


def classifier_preset(name: str) -> ClassifierConfig:
    if name not in CLASSIFIER_PRESETS:
        raise UnknownNameError("classifier preset", name, CLASSIFIER_PRESETS)
    return CLASSIFIER_PRESETS[name]()


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.bn(self.conv(x))))


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.skip(x))


class SmallClassifier(nn.Module):
    """``blocks`` then global average pooling then ``head`` (see the module doc)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.width * 2**i for i in range(config.depth)]
        blocks: list[nn.Module] = []
        cin = config.in_channels
        if config.arch == "cnn":
            for w in widths:
                blocks.append(_ConvBlock(cin, w))
                cin = w
        else:
            stem = nn.Sequential(
                nn.Conv2d(cin, widths[0], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(),
            )
            blocks.append(nn.Sequential(stem, _ResBlock(widths[0], widths[0], 1)))
            cin = widths[0]
            for w in widths[1:]:
                blocks.append(_ResBlock(cin, w, 2))
                cin = w
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(cin, config.n_classes)

    def features(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """Pooled features after block ``layer`` (default: the last), (N, channels)."""
        last = len(self.blocks) - 1 if layer is None else layer
        if not 0 <= last < len(self.blocks):
            raise ValueError(f"layer must be in 0..{len(self.blocks) - 1}; got {layer}")
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == last:
                break
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def is_multilabel(labels: torch.Tensor) -> bool:
    """Float (N, A) labels are multi-label attributes; (N,) integers are classes."""
    return labels.ndim == 2 and labels.is_floating_point()


def task_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of class labels, or for multi-label data the binary cross-entropy
    averaged over the attributes of each example (then ``reduction`` over examples)."""
    if is_multilabel(labels):
        per = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1)
        if reduction == "none":
            return per
        return per.mean() if reduction == "mean" else per.sum()
    return F.cross_entropy(logits, labels, reduction=reduction)


def build_classifier(config: ClassifierConfig, seed: int = 0) -> SmallClassifier:
    """A freshly initialised classifier (weights seeded, the global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SmallClassifier(config)


def save_classifier(model: SmallClassifier, out_dir: str | Path, extra: dict | None = None) -> Path:
    """``out_dir/config.json`` (format, config, extra) and ``model.safetensors``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
    meta = {"format": CLASSIFIER_FORMAT, "config": model.config.to_dict(), **(extra or {})}
    (out / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def load_classifier(path: str | Path) -> SmallClassifier:
    """A classifier saved by :func:`save_classifier` (eval mode)."""
    root = Path(path)
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise UnlearnkitError(f"{root} holds no classifier: config.json is missing")
    meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    if meta.get("format") != CLASSIFIER_FORMAT:
        raise UnlearnkitError(
            f"{cfg_path} is not an unlearnkit classifier (format {meta.get('format')!r})"
        )
    model = SmallClassifier(ClassifierConfig.from_dict(meta["config"]))
    model.load_state_dict(load_file(root / "model.safetensors"))
    return model.eval()


def is_classifier_dir(path: str | Path) -> bool:
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("format") == CLASSIFIER_FORMAT
    except (json.JSONDecodeError, OSError):
        return False
