"""Recommenders in plain torch: BPR matrix factorisation and LightGCN (sparse propagation
over the user-item graph), trained from scratch with the BPR loss, and the recommender
adapter (scores for users × items, top-K with the seen items left out, embeddings).

LightGCN (He et al., arXiv:2002.02126) keeps the graph of the interactions it was trained
on as a buffer; a model's graph is part of what unlearning changes (the oracle's graph has
no forgotten edge), so :meth:`LightGCN.set_graph` replaces it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.core.config import Config, param
from unlearnkit.core.seeding import derive_seed


@dataclass(frozen=True)
class RecommenderConfig(Config):
    """arch: ``bpr_mf`` or ``lightgcn``. n_factors: embedding size. n_layers: LightGCN's
    propagation layers."""

    arch: Literal["bpr_mf", "lightgcn"] = "bpr_mf"
    n_factors: int = param(32, ge=1)
    n_layers: int = param(2, ge=1)


def normalised_adjacency(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
) -> torch.Tensor:
    """The symmetric-normalised bipartite adjacency D^-1/2 A D^-1/2 (sparse, (U+I)²)."""
    rows = np.concatenate([users, items + n_users])
    cols = np.concatenate([items + n_users, users])
    n = n_users + n_items
    deg = np.bincount(rows, minlength=n).astype(np.float64)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1)), 0.0)
    vals = inv[rows] * inv[cols]
    index = torch.as_tensor(np.stack([rows, cols]), dtype=torch.long)
    return torch.sparse_coo_tensor(
        index, torch.as_tensor(vals, dtype=torch.float32), (n, n)
    ).coalesce()


class BPRMF(nn.Module):
    """score(u, i) = e_u · e_i."""

    def __init__(self, n_users: int, n_items: int, config: RecommenderConfig) -> None:
        super().__init__()
        self.config = config
        self.n_users, self.n_items = n_users, n_items
        self.user_emb = nn.Embedding(n_users, config.n_factors)
        self.item_emb = nn.Embedding(n_items, config.n_factors)
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u, i = self.embeddings()
        return (u[users] * i[items]).sum(-1)


class LightGCN(BPRMF):
    """Embeddings averaged over K propagation layers of the normalised graph."""

    def __init__(self, n_users: int, n_items: int, config: RecommenderConfig) -> None:
        super().__init__(n_users, n_items, config)
        empty = torch.zeros(2, 0, dtype=torch.long)
        size = (n_users + n_items,) * 2
        graph = torch.sparse_coo_tensor(empty, torch.zeros(0), size, check_invariants=True)
        self.register_buffer("graph", graph)

    def set_graph(self, users: np.ndarray, items: np.ndarray) -> None:
        self.graph = normalised_adjacency(users, items, self.n_users, self.n_items)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.user_emb.weight, self.item_emb.weight])
        layers = [x]
        for _ in range(self.config.n_layers):
            x = torch.sparse.mm(self.graph, x)
            layers.append(x)
        out = torch.stack(layers).mean(0)
        return out[: self.n_users], out[self.n_users :]


def build_recommender(
    config: RecommenderConfig, n_users: int, n_items: int, seed: int = 0
) -> BPRMF:
    """A freshly initialised recommender (seeded; the global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cls = LightGCN if config.arch == "lightgcn" else BPRMF
        return cls(n_users, n_items, config)


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean −log σ(s⁺ − s⁻) (Rendle et al. 2009)."""
    return -F.logsigmoid(pos - neg).mean()


def sample_negatives(
    users: np.ndarray, seen: list[set[int]], n_items: int, rng: np.random.Generator
) -> np.ndarray:
    """One item per user that the user has not interacted with (rejection sampling)."""
    out = rng.integers(0, n_items, size=len(users))
    for j, u in enumerate(users):
        while int(out[j]) in seen[u]:
            out[j] = rng.integers(0, n_items)
    return out


@dataclass(frozen=True)
class RecTrainConfig(Config):
    """epochs over the interactions, batch_size, Adam lr, weight_decay (L2 of the batch's
    embeddings, as BPR's λ), seed (order and negatives)."""

    epochs: int = param(40, ge=1)
    batch_size: int = param(256, ge=1)
    lr: float = param(0.01, gt=0)
    weight_decay: float = param(1e-4, ge=0)
    seed: int = 0


def seen_items(users: np.ndarray, items: np.ndarray, n_users: int) -> list[set[int]]:
    seen: list[set[int]] = [set() for _ in range(n_users)]
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        seen[u].add(i)
    return seen


def train_recommender(
    model: BPRMF, users: np.ndarray, items: np.ndarray, config: RecTrainConfig | None = None
) -> dict[str, float]:
    """BPR training on (users, items) interactions (LightGCN's graph is set to them)."""
    cfg = config or RecTrainConfig()
    if isinstance(model, LightGCN):
        model.set_graph(users, items)
    seen = seen_items(users, items, model.n_users)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    t0, steps, loss = time.perf_counter(), 0, math.nan
    model.train()
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng(derive_seed(cfg.seed, "bpr", epoch))
        order = rng.permutation(len(users))
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            u, i = users[idx], items[idx]
            j = sample_negatives(u, seen, model.n_items, rng)
            ue, ie = model.embeddings()
            tu, ti, tj = (torch.as_tensor(a) for a in (u, i, j))
            pos = (ue[tu] * ie[ti]).sum(-1)
            neg = (ue[tu] * ie[tj]).sum(-1)
            reg = (
                model.user_emb(tu).pow(2).sum()
                + model.item_emb(ti).pow(2).sum()
                + model.item_emb(tj).pow(2).sum()
            ) / len(idx)
            loss_t = bpr_loss(pos, neg) + cfg.weight_decay * reg
            opt.zero_grad(set_to_none=True)
            loss_t.backward()
            opt.step()
            steps += 1
            loss = float(loss_t.detach())
    model.eval()
    return {"steps": steps, "final_loss": loss, "wall_time_s": time.perf_counter() - t0}


class RecommenderAdapter:
    """The one door to a recommender: scores, top-K (seen items left out), embeddings."""

    def __init__(self, model: BPRMF) -> None:
        self.model = model

    @torch.no_grad()
    def scores(self, users: np.ndarray | None = None) -> torch.Tensor:
        """(U, I) scores of ``users`` (default: every user) for every item."""
        ue, ie = self.model.embeddings()
        if users is not None:
            ue = ue[torch.as_tensor(users)]
        return ue @ ie.T

    @torch.no_grad()
    def pair_scores(self, users: np.ndarray, items: np.ndarray) -> torch.Tensor:
        return self.model(torch.as_tensor(users), torch.as_tensor(items))

    def top_k(self, users: np.ndarray, k: int, exclude: list[set[int]] | None = None) -> np.ndarray:
        """(len(users), k) best items per user, the items in ``exclude[u]`` left out."""
        s = self.scores(users).clone()
        if exclude is not None:
            for row, u in enumerate(users.tolist()):
                if exclude[u]:
                    s[row, list(exclude[u])] = -math.inf
        return s.topk(k, dim=1).indices.numpy()

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.embeddings()
