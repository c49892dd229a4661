"""The classifier-method contract: a config + a class with ``run``, in the one ``METHODS``
registry (meta ``family="classifier"``), and :func:`unlearn_classifier`, their entry point.

A classifier method trains the model in place on a forget request (every image of the
forgotten people, :class:`~unlearnkit.data.images.ClassificationData`) and the retain set,
and returns what it did (``details``). Shared pieces: seeded batches, the SGD optimiser of
the config, and the step loop :func:`~unlearnkit.methods.optim.train_steps` (shared with
the recommender methods).
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnkit.core.config import Config, param
from unlearnkit.core.io import atomic_write_json
from unlearnkit.core.seeding import derive_seed
from unlearnkit.data.images import ClassificationData
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.loop import UnlearningError, UnlearnRecord
from unlearnkit.methods.optim import train_steps as train_steps
from unlearnkit.models.training import peak_memory_mb


@dataclass(frozen=True)
class ClassifierUnlearnConfig(Config):
    """Settings every classifier method has: epochs (passes over the set it trains on),
    batch_size, SGD lr / momentum / weight_decay, seed (batch order, random labels, noise).
    Each method's defaults were selected on a held-out tuning identity world
    (benchmarks/tune_classifier.py; docs/classifiers.md)."""

    epochs: int = param(5, ge=1)
    batch_size: int = param(32, ge=1)
    lr: float = param(0.01, gt=0)
    momentum: float = param(0.9, ge=0, lt=1)
    weight_decay: float = param(5e-4, ge=0)
    seed: int = 0


class ClassifierMethod(ABC):
    """Base class of classifier methods. uses_forget / uses_retain: which sets it reads.
    uses_reference: it keeps a frozen copy of the original model (a teacher)."""

    family: ClassVar[str] = "classifier"
    config_class: ClassVar[type[ClassifierUnlearnConfig]] = ClassifierUnlearnConfig
    uses_forget: ClassVar[bool] = True
    uses_retain: ClassVar[bool] = True
    uses_reference: ClassVar[bool] = False

    def __init__(self, config: ClassifierUnlearnConfig | Mapping[str, Any] | None = None) -> None:
        self.config = self.config_class.coerce(config, type(self).__name__)

    @abstractmethod
    def run(
        self,
        model: nn.Module,
        forget: ClassificationData,
        retain: ClassificationData,
        n_classes: int,
    ) -> dict[str, Any]:
        """Unlearn in place; return ``details`` (at least ``steps``)."""

    # -- helpers ----------------------------------------------------------------------------
    def generator(self, *keys: object) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.config.seed, *keys))

    def optimiser(self, params) -> torch.optim.Optimizer:
        cfg = self.config
        return torch.optim.SGD(
            [p for p in params if p.requires_grad],
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )

    def batches(self, n: int, key: str, epoch: int) -> Iterator[torch.Tensor]:
        """Shuffled index batches of ``range(n)`` for one epoch (seeded by key and epoch)."""
        order = torch.randperm(n, generator=self.generator(key, epoch))
        for i in range(0, n, self.config.batch_size):
            yield order[i : i + self.config.batch_size]

    def paired(
        self, n_forget: int, n_retain: int, epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(forget batch, retain batch) pairs for one epoch: one per retain batch, the
        forget batches cycled (the forget set is the small one)."""
        forget_batches: Iterator[torch.Tensor] = iter(())
        cycle = 0
        for r_idx in self.batches(n_retain, "retain", epoch):
            f_idx = next(forget_batches, None)
            if f_idx is None:
                forget_batches = self.batches(n_forget, f"forget-{epoch}", cycle)
                cycle += 1
                f_idx = next(forget_batches)
            yield f_idx, r_idx


def unlearn_classifier(
    model,
    forget: ClassificationData,
    retain: ClassificationData,
    method: str,
    *,
    n_classes: int | None = None,
    config: ClassifierUnlearnConfig | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    **overrides: Any,
):
    """Unlearn ``forget`` from a classifier with ``method`` and return ``(adapter, record)``.

    model: a :class:`~unlearnkit.models.adapters.classifier.ClassifierAdapter`, a model, or
    a saved classifier directory (a copy is trained; the given model is not changed).
    n_classes: the task's classes (default: the model's output size). With ``out_dir``
    the unlearned model and ``record.json`` are saved there.
    """
    from unlearnkit.methods.api import method_config, register_builtin_methods
    from unlearnkit.models.adapters.classifier import ClassifierAdapter

    register_builtin_methods()
    cls = METHODS.get(method)
    if not (isinstance(cls, type) and issubclass(cls, ClassifierMethod)):
        raise UnlearningError(
            f"{method!r} is not a classifier method; classifier methods: {classifier_methods()}"
        )
    cfg = method_config(method, config, **overrides)
    if isinstance(model, str | Path):
        adapter = ClassifierAdapter.from_pretrained(model)
    elif isinstance(model, ClassifierAdapter):
        adapter = model
    else:
        adapter = ClassifierAdapter(model)
    if cls.uses_forget and len(forget) == 0:
        raise UnlearningError("the forget set is empty: nothing to unlearn")
    if cls.uses_retain and len(retain) == 0:
        raise UnlearningError(f"method {method!r} uses retain data: the retain set is empty")
    net = copy.deepcopy(adapter.model)
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    n_classes = n_classes or int(net.head.out_features)
    t0 = time.perf_counter()
    details = cls(cfg).run(net, forget, retain, n_classes)
    wall = time.perf_counter() - t0
    after = net.state_dict()
    changed = sum(
        int((after[k] != before[k]).sum()) for k in before if after[k].is_floating_point()
    )
    total = sum(p.numel() for p in net.parameters())
    record = UnlearnRecord(
        method=method,
        config=cfg.to_dict(),
        steps=int(details.get("steps", 0)),
        forget_examples=len(forget),
        retain_examples=len(retain),
        wall_time_s=wall,
        peak_memory_mb=peak_memory_mb(),
        parameters_total=total,
        parameters_trainable=total,
        parameters_changed=changed,
        final_losses={},
        resumed_from_step=None,
        log_path=None,
        details=details,
    )
    result = adapter.like(net.eval())
    if out_dir is not None:
        out = Path(out_dir)
        result.save(out / "model", extra={"unlearned_with": method})
        atomic_write_json(out / "record.json", record.to_dict())
    return result, record


def classifier_methods() -> list[str]:
    """The registered classifier methods' names."""
    from unlearnkit.methods.api import register_builtin_methods

    register_builtin_methods()
    return [
        n
        for n in METHODS.names()
        if isinstance(METHODS.get(n), type) and issubclass(METHODS.get(n), ClassifierMethod)
    ]
