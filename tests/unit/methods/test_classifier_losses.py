"""The classifier methods' losses on hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from unlearnkit.methods.classifier.losses import (
    distillation_kl,
    l1_penalty,
    random_other_labels,
    saliency_mask,
)


def test_distillation_kl_by_hand() -> None:
    # teacher (0.5, 0.5), student (0.25, 0.75): KL = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75)
    student = torch.tensor([[math.log(0.25), math.log(0.75)]])
    teacher = torch.tensor([[0.0, 0.0]])
    want = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert float(distillation_kl(student, teacher)) == pytest.approx(want, abs=1e-6)
    assert float(distillation_kl(teacher, teacher)) == pytest.approx(0.0, abs=1e-7)
    # temperature: softened logits, scaled by T^2
    t = 2.0
    s_t = torch.softmax(student / t, -1)[0]
    p_t = torch.softmax(teacher / t, -1)[0]
    want_t = float((p_t * (p_t / s_t).log()).sum()) * t * t
    assert float(distillation_kl(student, teacher, t)) == pytest.approx(want_t, abs=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        distillation_kl(student, teacher, 0.0)


def test_l1_penalty_by_hand() -> None:
    assert float(l1_penalty([torch.tensor([1.0, -2.0]), torch.tensor([[0.5]])])) == 3.5
    with pytest.raises(ValueError, match="no parameters"):
        l1_penalty([])


def test_random_other_labels_are_never_the_true_one() -> None:
    labels = torch.arange(4).repeat(50)
    g = torch.Generator().manual_seed(0)
    wrong = random_other_labels(labels, 4, g)
    assert not bool((wrong == labels).any())
    assert set(wrong.tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="two classes"):
        random_other_labels(labels, 1, g)


def test_saliency_mask_keeps_the_largest_gradients_across_tensors() -> None:
    grads = {"a": torch.tensor([0.1, -3.0, 0.2]), "b": torch.tensor([[2.0, -0.05]])}
    mask = saliency_mask(grads, 0.4)  # 2 of 5 weights: |−3| and |2|
    assert mask["a"].tolist() == [0.0, 1.0, 0.0]
    assert mask["b"].tolist() == [[1.0, 0.0]]
    assert sum(int(m.sum()) for m in saliency_mask(grads, 1.0).values()) == 5
    with pytest.raises(ValueError, match="fraction"):
        saliency_mask(grads, 0.0)


def test_multilabel_task_loss_by_hand() -> None:
    from unlearnkit.methods.classifier.losses import task_loss

    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = 0.5 and 0.75
    labels = torch.tensor([[1.0, 0.0]])
    want = 0.5 * (-math.log(0.5) - math.log(0.25))
    assert float(task_loss(logits, labels)) == pytest.approx(want)
    assert task_loss(logits, labels, reduction="none").shape == (1,)
    # class labels: plain cross-entropy
    assert float(task_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))) == pytest.approx(
        math.log(2)
    )


def test_multilabel_distillation_kl_by_hand() -> None:
    teacher = torch.tensor([[0.0]])  # p = 0.5
    student = torch.tensor([[math.log(3.0)]])  # q = 0.75
    want = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert float(distillation_kl(student, teacher, multilabel=True)) == pytest.approx(
        want, abs=1e-6
    )


def test_random_other_attribute_vectors() -> None:
    labels = (torch.rand(200, 4, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    wrong = random_other_labels(labels, 4, torch.Generator().manual_seed(0))
    assert bool(((wrong != labels).sum(1) >= 1).all())
    assert set(wrong.unique().tolist()) == {0.0, 1.0}
