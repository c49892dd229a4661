"""Recommenders in plain torch: BPR matrix factorisation and LightGCN (sparse propagation
over the user-item graph), trained from scratch with the BPR loss, RecEraser's sharded
ensemble, save / load (``config.json`` + ``model.safetensors``), and the recommender
adapter (scores for users × items, top-K with the seen items left out, embeddings).

LightGCN (He et al., arXiv:2002.02126) keeps the graph of the interactions it was trained
on as a buffer; a model's graph is part of what unlearning changes (the oracle's graph has
no forgotten edge), so :meth:`LightGCN.set_graph` replaces it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from unlearnkit.core.config import Config, param
from unlearnkit.core.seeding import derive_seed
from unlearnkit.models.adapters.base import model_fingerprint


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
        index, torch.as_tensor(vals, dtype=torch.float32), (n, n), check_invariants=True
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

    def ego(self) -> torch.Tensor:
        """(U + I, d) the trained embeddings, users first."""
        return torch.cat([self.user_emb.weight, self.item_emb.weight])

    def embeddings_of(
        self, ego: torch.Tensor, graph: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (users, items) embeddings computed from ``ego`` embeddings (over ``graph``
        for a graph model; the model's own graph by default)."""
        return ego[: self.n_users], ego[self.n_users :]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u, i = self.embeddings()
        return (u[users] * i[items]).sum(-1)


class LightGCN(BPRMF):
    """Embeddings averaged over K propagation layers of the normalised graph. The graph's
    edges are kept (``edge_users`` / ``edge_items``, saved with the weights); the sparse
    adjacency is rebuilt from them."""

    def __init__(self, n_users: int, n_items: int, config: RecommenderConfig) -> None:
        super().__init__(n_users, n_items, config)
        none = np.zeros(0, dtype=np.int64)
        self.register_buffer("edge_users", torch.zeros(0, dtype=torch.long))
        self.register_buffer("edge_items", torch.zeros(0, dtype=torch.long))
        self.register_buffer(
            "graph", normalised_adjacency(none, none, n_users, n_items), persistent=False
        )

    def set_graph(self, users: np.ndarray, items: np.ndarray) -> None:
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        self.edge_users = torch.as_tensor(users.copy())
        self.edge_items = torch.as_tensor(items.copy())
        self.graph = normalised_adjacency(users, items, self.n_users, self.n_items)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """The (users, items) of the graph's edges."""
        return self.edge_users.numpy(), self.edge_items.numpy()

    def embeddings_of(
        self, ego: torch.Tensor, graph: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        graph = self.graph if graph is None else graph
        x, layers = ego, [ego]
        for _ in range(self.config.n_layers):
            x = torch.sparse.mm(graph, x)
            layers.append(x)
        out = torch.stack(layers).mean(0)
        return out[: self.n_users], out[self.n_users :]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embeddings_of(self.ego())


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
    """One item per user that the user has not interacted with (rejection sampling). A user
    who has interacted with every item has no negative: an error naming them."""
    full = next((int(u) for u in set(users.tolist()) if len(seen[u]) >= n_items), None)
    if full is not None:
        raise ValueError(
            f"user {full} has interacted with all {n_items} items: no negative to sample "
            "(drop such users from the data)"
        )
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


def triple_scores(
    model: nn.Module, users: np.ndarray, items: np.ndarray, negatives: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """(s(u, i), s(u, j)) of a batch of (user, positive, negative) triples, differentiable
    (one propagation for the batch)."""
    ue, ie = model.embeddings()
    tu, ti, tj = (torch.as_tensor(a) for a in (users, items, negatives))
    return (ue[tu] * ie[ti]).sum(-1), (ue[tu] * ie[tj]).sum(-1)


def embedding_l2(model: nn.Module, users: np.ndarray, *item_sets: np.ndarray) -> torch.Tensor:
    """BPR's λ term: squared norms of the batch's ego embeddings per triple (every
    sub-model's for a sharded model)."""
    parts = list(getattr(model, "submodels", [model]))
    total = torch.zeros(())
    for m in parts:
        total = total + m.user_emb(torch.as_tensor(users)).pow(2).sum()
        for items in item_sets:
            total = total + m.item_emb(torch.as_tensor(items)).pow(2).sum()
    return total / max(len(users), 1)


def bpr_batch_loss(
    model: nn.Module,
    users: np.ndarray,
    items: np.ndarray,
    negatives: np.ndarray,
    weight_decay: float = 0.0,
) -> torch.Tensor:
    """BPR on a batch of triples + λ·(squared norms of the batch's embeddings)."""
    pos, neg = triple_scores(model, users, items, negatives)
    loss = bpr_loss(pos, neg)
    if weight_decay:
        loss = loss + weight_decay * embedding_l2(model, users, items, negatives)
    return loss


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
            loss_t = bpr_batch_loss(model, u, i, j, cfg.weight_decay)
            opt.zero_grad(set_to_none=True)
            loss_t.backward()
            opt.step()
            steps += 1
            loss = float(loss_t.detach())
    model.eval()
    return {"steps": steps, "final_loss": loss, "wall_time_s": time.perf_counter() - t0}


class ShardedRecommender(nn.Module):
    """K sub-models (one per shard of the training data) and an attention aggregation in
    the spirit of RecEraser (arXiv:2201.06820): for every user, weights over the shards
    α_{u,k} = softmax_k(q · tanh(W e_u^k + b)), and

        s(u, i) = Σ_k α_{u,k} · e_u^k · e_i^k.

    The scores are aggregated rather than the embeddings, because sub-models trained apart
    have unrelated embedding bases; :meth:`embeddings` gives the equivalent concatenation
    ([α_{u,k} e_u^k]_k, [e_i^k]_k) so that everything that reads embeddings works.
    ``shard_of``: (M,) shard of each training interaction, with ``edge_users`` /
    ``edge_items`` the interactions themselves (what a later request is matched against).
    """

    def __init__(self, submodels: list[BPRMF], attention_size: int = 16) -> None:
        super().__init__()
        if not submodels:
            raise ValueError("a sharded recommender needs at least one sub-model")
        first = submodels[0]
        self.config = first.config
        self.n_users, self.n_items = first.n_users, first.n_items
        self.submodels = nn.ModuleList(submodels)
        d = first.config.n_factors
        self.attention = nn.Sequential(nn.Linear(d, attention_size), nn.Tanh())
        self.query = nn.Parameter(torch.zeros(attention_size))
        self.register_buffer("shard_of", torch.zeros(0, dtype=torch.long))
        self.register_buffer("edge_users", torch.zeros(0, dtype=torch.long))
        self.register_buffer("edge_items", torch.zeros(0, dtype=torch.long))

    @property
    def n_shards(self) -> int:
        return len(self.submodels)

    @property
    def attention_size(self) -> int:
        return self.query.numel()

    def set_shards(self, users: np.ndarray, items: np.ndarray, shard_of: np.ndarray) -> None:
        self.edge_users = torch.as_tensor(np.asarray(users, dtype=np.int64).copy())
        self.edge_items = torch.as_tensor(np.asarray(items, dtype=np.int64).copy())
        self.shard_of = torch.as_tensor(np.asarray(shard_of, dtype=np.int64).copy())

    def _parts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        us, its = zip(*(m.embeddings() for m in self.submodels), strict=True)
        users, items = torch.stack(us), torch.stack(its)  # (K, U, d), (K, I, d)
        weights = torch.softmax(self.attention(users) @ self.query, dim=0)  # (K, U)
        return users, items, weights

    def shard_weights(self) -> torch.Tensor:
        """(K, U) every user's attention weights over the shards."""
        return self._parts()[2]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, weights = self._parts()
        u = (weights.unsqueeze(-1) * users).permute(1, 0, 2).reshape(self.n_users, -1)
        return u, items.permute(1, 0, 2).reshape(self.n_items, -1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u, i = self.embeddings()
        return (u[users] * i[items]).sum(-1)


def save_recommender(model: nn.Module, out_dir: str | Path, extra: dict | None = None) -> Path:
    """``out_dir/config.json`` (arch, sizes, config, shards) + ``model.safetensors``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sharded = isinstance(model, ShardedRecommender)
    meta = {
        "format": "unlearnkit.recommender",
        "arch": "sharded" if sharded else model.config.arch,
        "n_users": model.n_users,
        "n_items": model.n_items,
        "config": model.config.to_dict(),
        "n_shards": model.n_shards if sharded else 0,
        "attention_size": model.attention_size if sharded else 0,
        **(extra or {}),
    }
    (out / "config.json").write_text(json.dumps(meta, indent=2))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
    return out


def load_recommender(path: str | Path) -> nn.Module:
    """A recommender saved by :func:`save_recommender` (eval mode, graphs rebuilt)."""
    root = Path(path)
    if not (root / "config.json").is_file():
        raise FileNotFoundError(f"{root} holds no recommender (config.json missing)")
    meta = json.loads((root / "config.json").read_text())
    if meta.get("format") != "unlearnkit.recommender":
        raise ValueError(f"{root}/config.json is not an unlearnkit recommender")
    state = load_file(root / "model.safetensors")
    config = RecommenderConfig.from_dict(meta["config"])
    n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
    model: nn.Module
    if meta["arch"] == "sharded":
        subs = [build_recommender(config, n_users, n_items) for _ in range(int(meta["n_shards"]))]
        with torch.random.fork_rng(devices=[]):  # the weights come from the file
            model = ShardedRecommender(subs, attention_size=int(meta["attention_size"]))
        model.set_shards(
            state["edge_users"].numpy(), state["edge_items"].numpy(), state["shard_of"].numpy()
        )
        prefixes = [f"submodels.{k}." for k in range(len(subs))]
    else:
        model = build_recommender(config, n_users, n_items)
        subs, prefixes = [model], [""]
    for sub, prefix in zip(subs, prefixes, strict=True):
        if isinstance(sub, LightGCN):
            sub.set_graph(
                state[f"{prefix}edge_users"].numpy(), state[f"{prefix}edge_items"].numpy()
            )
    model.load_state_dict(state)
    return model.eval()


class RecommenderAdapter:
    """The one door to a recommender: scores, top-K (seen items left out), embeddings.
    Satisfies :class:`~unlearnkit.models.adapters.base.ModelAdapter`."""

    family: ClassVar[str] = "recommender"

    def __init__(self, model: BPRMF) -> None:
        self.model = model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

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

    def fingerprint(self) -> str:
        """A hash of the weights and buffers (the graph's edges too): names and bytes."""
        return model_fingerprint(self.model, layout=False)

    def save(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        return save_recommender(self.model, out_dir, extra)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> RecommenderAdapter:
        return cls(load_recommender(path))
