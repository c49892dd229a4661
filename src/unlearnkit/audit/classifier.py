"""Robustness audit of an image classifier after an identity-level forget request: is the
forgotten people's recognition gone, or only pushed down? Knowledge = accuracy on the forget
images, before and after each attack:

* ``int8`` / ``int4``: every convolution and linear weight quantized per output channel
  (round-to-nearest; Zhang et al. 2024, arXiv:2410.16454);
* ``noise <s>``: relative Gaussian weight noise of scale s (Che et al. 2025,
  arXiv:2502.05209);
* ``relearn@<n>``: n SGD steps (momentum 0.9, batches of 16) on half of each forgotten
  person's images, measured on the other half (``relearn@0``: that half before the attack;
  Hu et al. 2024, arXiv:2406.13356). Batch-norm statistics stay frozen: the attack is about
  the weights.

:func:`audit_classifier` returns ``{attack: Result}`` (per image: right or not; the
aggregate is the adapter's accuracy); :func:`summary` gives ``{attack: accuracy}``, the
numbers a run's audit rows carry. The audit is also the registered metric
``classifier_audit`` (``audit=True``). The target's and the oracle's rows give the scale:
accuracy that returns to the target's level was suppressed, not removed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from unlearnkit.core.config import Config, param
from unlearnkit.core.results import Result
from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.classifier.metrics import (
    ClassifierInputs,
    ClassifierMetric,
    example_ids,
)
from unlearnkit.evaluation.metrics.base import register_metric
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.vision import task_loss


@dataclass(frozen=True)
class ClassifierAuditConfig(Config):
    """relearn_steps: SGD steps on half of each forgotten person's images (lr relearn_lr),
    measured on the other half. bits / noise: quantization and relative weight noise."""

    relearn_steps: tuple[int, ...] = (4, 16)
    relearn_lr: float = param(0.01, gt=0)
    bits: tuple[int, ...] = (8, 4)
    noise: tuple[float, ...] = (0.01, 0.03)
    seed: int = 0


def forget_accuracy(
    adapter: ClassifierAdapter, forget: ClassificationData, attack: str, index: torch.Tensor | None
) -> Result:
    """``audit/<attack>``: right or not per forget image (``index``: only those), the
    aggregate the adapter's accuracy (its float32 mean; NaN on no image)."""
    images, labels = forget.images, forget.labels
    ids = example_ids(forget)
    if index is not None:
        images, labels = images[index], labels[index]
        ids = [ids[i] for i in index.tolist()]
    right = adapter.correct(images, labels)
    return Result.from_values(
        f"audit/{attack}",
        right.tolist(),
        higher_is_better=False,
        ids=ids,
        aggregate=float(right.mean()) if len(labels) else float("nan"),
        extra={"measure": "forget accuracy", "attack": attack},
    )


def audit_classifier(
    model: ClassifierAdapter,
    forget: ClassificationData,
    config: ClassifierAuditConfig | None = None,
) -> dict[str, Result]:
    """Forget accuracy after each attack (module doc): ``forget``, ``int<b>``,
    ``noise <s>``, ``relearn@0`` and ``relearn@<n>`` per step count."""
    from unlearnkit.audit.quantization import quantized_copy
    from unlearnkit.audit.tampering import noisy_copy

    cfg = config or ClassifierAuditConfig()
    out = {"forget": forget_accuracy(model, forget, "forget", None)}
    for b in cfg.bits:
        attacked = model.like(quantized_copy(model.model, b))
        out[f"int{b}"] = forget_accuracy(attacked, forget, f"int{b}", None)
    for scale in cfg.noise:
        attacked = model.like(noisy_copy(model.model, scale, seed=cfg.seed))
        out[f"noise {scale}"] = forget_accuracy(attacked, forget, f"noise {scale}", None)
    rng = np.random.default_rng(cfg.seed)
    people = forget.identity.numpy()
    taught = np.zeros(len(people), bool)
    for p in np.unique(people):
        idx = np.flatnonzero(people == p)
        taught[rng.permutation(idx)[: len(idx) // 2]] = True
    t_idx, m_idx = torch.as_tensor(np.flatnonzero(taught)), torch.as_tensor(np.flatnonzero(~taught))
    net = copy.deepcopy(model.model)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.relearn_lr, momentum=0.9)
    g = torch.Generator().manual_seed(cfg.seed)
    done = 0
    out["relearn@0"] = forget_accuracy(model, forget, "relearn@0", m_idx)
    # batch-norm statistics stay frozen (eval mode): batches of one person's few images
    # would otherwise rewrite them, and the attack is about the weights
    net.eval()
    for target_steps in sorted(cfg.relearn_steps):
        while done < target_steps:
            pick = t_idx[torch.randint(len(t_idx), (min(16, len(t_idx)),), generator=g)]
            loss = task_loss(net(forget.images[pick]), forget.labels[pick])
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
        key = f"relearn@{target_steps}"
        out[key] = forget_accuracy(model.like(net), forget, key, m_idx)
    return out


def summary(results: Mapping[str, Result]) -> dict[str, float]:
    """``{attack: forget accuracy}``: the audit's numbers as a run's audit rows carry them."""
    return {k: r.aggregate for k, r in results.items()}


@register_metric("classifier_audit", paper="arXiv:2406.13356", audit=True)
class ClassifierAudit(ClassifierMetric):
    """Forget accuracy after quantization, weight noise and relearning on half of each
    forgotten person's images (the classifier's robustness audit; keys: the attacks)."""

    config_class = ClassifierAuditConfig
    higher_is_better = False
    splits = ("forget",)

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        cfg = self.config
        assert isinstance(cfg, ClassifierAuditConfig)
        return audit_classifier(x.model.model, x.splits["forget"], cfg)


__all__ = ["ClassifierAudit", "ClassifierAuditConfig", "audit_classifier", "summary"]
