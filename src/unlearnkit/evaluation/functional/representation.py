"""Representation comparisons as pure functions of feature matrices."""

from __future__ import annotations

import torch


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al. 2019) of two (n, d) representations of the same n
    inputs: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring each column; 1 = the same up to a
    rotation and scale, NaN when one representation is constant."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"need the same inputs: {x.shape[0]} vs {y.shape[0]} rows")
    x = x.double() - x.double().mean(0, keepdim=True)
    y = y.double() - y.double().mean(0, keepdim=True)
    cross = (y.T @ x).square().sum()
    norm = torch.sqrt((x.T @ x).square().sum() * (y.T @ y).square().sum())
    return float(cross / norm) if norm > 0 else float("nan")


def knn_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    k: int = 5,
) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine similarity) of ``test_x`` among
    ``train_x``; ties go to the smallest label. Multi-label (float (N, A) 0/1 labels): a
    majority vote per attribute (ties to 1), accuracy averaged over the attributes."""
    if len(test_y) == 0:
        return float("nan")
    a = torch.nn.functional.normalize(train_x.double(), dim=1)
    b = torch.nn.functional.normalize(test_x.double(), dim=1)
    k = min(k, len(train_y))
    nearest = (b @ a.T).topk(k, dim=1).indices
    if train_y.ndim == 2:
        vote = (train_y[nearest].double().mean(1) >= 0.5).double()  # (N, A)
        return float((vote == test_y.double()).double().mean())
    votes = train_y[nearest]
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    counts = torch.zeros(len(test_y), n_classes, dtype=torch.long)
    counts.scatter_add_(1, votes, torch.ones_like(votes))
    return float((counts.argmax(1) == test_y).double().mean())
