"""Losses and helpers of the classifier methods as pure functions (tensors in, tensors out).

| function | used by (paper) |
|---|---|
| distillation_kl | SCRUB (arXiv:2302.09880), Bad Teacher (arXiv:2205.08096) |
| l1_penalty | ℓ1-sparse (arXiv:2304.04934) |
| random_other_labels | random labels (Golatkar et al.), SalUn (arXiv:2310.12508) |
| saliency_mask | SalUn (arXiv:2310.12508) |
| task_loss | every method: cross-entropy, or binary cross-entropy for multi-label data |

Multi-label data (MUCAC-style attributes) has float (N, A) 0/1 labels; every function
here takes it where it makes sense (a Bernoulli per attribute instead of one softmax).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F

from unlearnkit.models.vision import is_multilabel, task_loss


def distillation_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    multilabel: bool = False,
) -> torch.Tensor:
    """``KL(p_teacher ‖ p_student)`` at temperature T, mean over the batch (SCRUB's and Bad
    Teacher's distance; scaled by T² as in knowledge distillation so that gradients keep
    their size across temperatures). Both (N, C); the teacher is not detached here.
    multilabel: a Bernoulli KL per output, summed over outputs."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    t = temperature
    if multilabel:
        ps = torch.sigmoid(student_logits.float() / t).clamp(1e-7, 1 - 1e-7)
        pt = torch.sigmoid(teacher_logits.float() / t).clamp(1e-7, 1 - 1e-7)
        kl = pt * (pt / ps).log() + (1 - pt) * ((1 - pt) / (1 - ps)).log()
        return kl.sum(-1).mean() * t * t
    log_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(-1)
    return kl.mean() * t * t


def l1_penalty(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """``Σ |θ|`` over the given parameters (ℓ1-sparse unlearning's regulariser)."""
    total = None
    for p in parameters:
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("no parameters")
    return total


def random_other_labels(
    labels: torch.Tensor, n_classes: int, generator: torch.Generator
) -> torch.Tensor:
    """A label drawn uniformly among the *other* classes for each example; for multi-label
    data another attribute vector (each attribute flipped with probability 1/2, and one
    chosen at random always)."""
    if is_multilabel(labels):
        flips = torch.rand(labels.shape, generator=generator) < 0.5
        forced = torch.randint(0, labels.shape[1], (labels.shape[0],), generator=generator)
        flips[torch.arange(labels.shape[0]), forced] = True
        return torch.where(flips, 1.0 - labels, labels)
    if n_classes < 2:
        raise ValueError("random other labels need at least two classes")
    shift = torch.randint(1, n_classes, labels.shape, generator=generator)
    return (labels + shift) % n_classes


def saliency_mask(
    gradients: Mapping[str, torch.Tensor], fraction: float
) -> dict[str, torch.Tensor]:
    """SalUn's weight saliency: 1 for the ``fraction`` of all weights with the largest
    ``|gradient|`` of the forget loss (one threshold across every tensor), else 0."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    flat = torch.cat([g.abs().flatten() for g in gradients.values()])
    k = max(1, round(fraction * flat.numel()))
    threshold = torch.topk(flat, k).values.min()
    return {name: (g.abs() >= threshold).float() for name, g in gradients.items()}


__all__ = [
    "distillation_kl",
    "is_multilabel",
    "l1_penalty",
    "random_other_labels",
    "saliency_mask",
    "task_loss",
]
