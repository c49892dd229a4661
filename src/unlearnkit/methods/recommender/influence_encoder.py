"""UnlearnRec's influence encoder (arXiv:2505.22649): pre-train, once per deployed model, a
network that maps an unlearning request to an update of the model's embeddings; a real
request is then one forward pass plus a short fine-tune, instead of retraining.

The encoder reads the target's embeddings E₀ (users and items) and, for each node, the
share of its interactions the request removes; graph-convolution layers over the
normalised interaction graph (with self-loops) carry that signal to the neighbours the
removal influences, and a linear head gives ΔE (zero-initialised: no request, no change).
The unlearned model's embeddings are E₀ + ΔE.

Pre-training draws simulated requests of the three kinds (a share of the interactions,
every interaction of a few users, of a few items) from the training interactions and
minimises, for the model with E₀ + ΔE on the graph without the request,

    BPR(kept interactions) + α·reverse BPR(requested ones) + γ·mean ‖ΔE‖²

(fidelity to the remaining data, unlearning, preservation), with the recommender frozen.
For a real request the same loss is then minimised over the embeddings themselves for
``finetune_steps``. The pre-training is the method's one-off setup (``setup_time_s``),
kept by the method instance for the next requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from unlearnkit.core.config import param
from unlearnkit.core.seeding import derive_seed
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.loop import UnlearningError
from unlearnkit.methods.recommender.base import (
    RecommenderMethod,
    RecUnlearnConfig,
    negatives_for,
    seen_of,
    train_loop,
)
from unlearnkit.methods.recommender.losses import embedding_shift, reverse_bpr_loss
from unlearnkit.models.recommender import BPRMF, LightGCN, bpr_loss, normalised_adjacency


@dataclass(frozen=True)
class InfluenceEncoderConfig(RecUnlearnConfig):
    """pretrain_steps / pretrain_lr: the encoder's pre-training on simulated requests
    (request_fraction of the interactions, or every interaction of request_users users /
    request_items items); hidden / layers: the encoder; alpha: weight of the unlearning
    term, gamma: of the preservation term; finetune_steps at lr on the real request.
    alpha / gamma / finetune_steps were selected on a held-out tuning world
    (benchmarks/tune_recommender.py)."""

    pretrain_steps: int = param(300, ge=1)
    pretrain_lr: float = param(0.005, gt=0)
    hidden: int = param(64, ge=1)
    layers: int = param(2, ge=1)
    alpha: float = param(0.3, ge=0)
    gamma: float = param(10.0, ge=0)
    request_fraction: float = param(0.05, gt=0, lt=1)
    request_users: int = param(10, ge=1)
    request_items: int = param(5, ge=1)
    finetune_steps: int = param(30, ge=0)
    lr: float = param(0.005, gt=0)


class InfluenceEncoderNet(nn.Module):
    """ΔE = head(GCN layers over Â of tanh(W [E₀ ‖ removed share]))."""

    def __init__(self, n_factors: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.inp = nn.Linear(n_factors + 1, hidden)
        self.convs = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.head = nn.Linear(hidden, n_factors)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, ego: torch.Tensor, removed: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(torch.cat([ego, removed.unsqueeze(-1)], dim=-1)))
        for conv in self.convs:
            h = h + torch.tanh(conv(torch.sparse.mm(adj, h)))
        return self.head(h)


def with_self_loops(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
    """Normalised adjacency of the interaction graph plus the identity (sparse)."""
    adj = normalised_adjacency(users, items, n_users, n_items)
    n = n_users + n_items
    eye = torch.sparse_coo_tensor(
        torch.arange(n).repeat(2, 1), torch.ones(n), (n, n), check_invariants=True
    )
    return (adj + eye).coalesce()


def removed_share(pairs: np.ndarray, removed: np.ndarray, n_users: int, n_items: int):
    """(U + I,) share of each node's interactions that ``removed`` (bool over pairs) takes."""
    nodes = np.concatenate([pairs[:, 0], pairs[:, 1] + n_users])
    both = np.concatenate([removed, removed]).astype(np.float64)
    deg = np.bincount(nodes, minlength=n_users + n_items)
    out = np.bincount(nodes, weights=both, minlength=n_users + n_items)
    return torch.as_tensor(out / np.maximum(deg, 1), dtype=torch.float32)


@METHODS.register(
    "influence_encoder",
    family="recommender",
    paper="UnlearnRec arXiv:2505.22649",
    description="A pre-trained influence encoder maps the request to an embedding update.",
)
class InfluenceEncoder(RecommenderMethod):
    """Pre-trained request → ΔE encoder, one pass, then ``finetune_steps`` on the request."""

    config_class = InfluenceEncoderConfig

    def __init__(self, config: InfluenceEncoderConfig | None = None) -> None:
        super().__init__(config)
        self.encoder: InfluenceEncoderNet | None = None

    def _simulated(self, pairs: np.ndarray, n_users: int, n_items: int, rng) -> np.ndarray:
        cfg = self.config
        kind = int(rng.integers(3))
        if kind == 0:
            return rng.random(len(pairs)) < cfg.request_fraction
        if kind == 1:
            who = rng.choice(n_users, size=min(cfg.request_users, n_users), replace=False)
            return np.isin(pairs[:, 0], who)
        what = rng.choice(n_items, size=min(cfg.request_items, n_items), replace=False)
        return np.isin(pairs[:, 1], what)

    def _loss(self, model, ego, base, delta, kept, gone, seen_kept, seen_all, rng):
        cfg = self.config
        graph = (
            normalised_adjacency(kept[:, 0], kept[:, 1], model.n_users, model.n_items)
            if isinstance(model, LightGCN)
            else None  # BPR-MF has no graph
        )
        users, items = model.embeddings_of(base + delta, graph)
        b = kept[rng.choice(len(kept), size=min(cfg.batch_size, len(kept)), replace=False)]
        j = negatives_for(b, seen_kept, model.n_items, rng)
        tu, ti, tj = (torch.as_tensor(a) for a in (b[:, 0], b[:, 1], j))
        loss = bpr_loss((users[tu] * items[ti]).sum(-1), (users[tu] * items[tj]).sum(-1))
        if cfg.weight_decay:
            loss = loss + cfg.weight_decay * (
                ego[tu].pow(2).sum()
                + ego[ti + model.n_users].pow(2).sum()
                + ego[tj + model.n_users].pow(2).sum()
            ) / len(b)
        if len(gone):
            g = gone[rng.choice(len(gone), size=min(cfg.batch_size, len(gone)), replace=False)]
            gj = negatives_for(g, seen_all, model.n_items, rng)
            gu, gi, gn = (torch.as_tensor(a) for a in (g[:, 0], g[:, 1], gj))
            loss = loss + cfg.alpha * reverse_bpr_loss(
                (users[gu] * items[gi]).sum(-1), (users[gu] * items[gn]).sum(-1)
            )
        return loss + cfg.gamma * embedding_shift(delta)

    def pretrain(self, model: BPRMF, pairs: np.ndarray) -> int:
        """Train the encoder on simulated requests over ``pairs`` (the model frozen)."""
        cfg = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, "encoder"))
            net = InfluenceEncoderNet(model.config.n_factors, cfg.hidden, cfg.layers)
        adj = with_self_loops(pairs[:, 0], pairs[:, 1], model.n_users, model.n_items)
        with torch.no_grad():
            base = model.ego().detach().clone()
        seen_all = seen_of(pairs, model.n_users)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.pretrain_lr)

        def steps():
            for step in range(cfg.pretrain_steps):
                rng = self.rng("pretrain", step)
                gone = self._simulated(pairs, model.n_users, model.n_items, rng)
                yield gone, rng

        def loss_of(item):
            gone, rng = item
            kept = pairs[~gone]
            delta = net(base, removed_share(pairs, gone, model.n_users, model.n_items), adj)
            return self._loss(
                model,
                base,
                base,
                delta,
                kept,
                pairs[gone],
                seen_of(kept, model.n_users),
                seen_all,
                rng,
            )

        n = train_loop(net, opt, steps(), loss_of)
        self.encoder = net.eval()
        return n

    def run(self, model, forget, retain):
        if not isinstance(model, BPRMF):
            raise UnlearningError("influence_encoder works on BPR-MF and LightGCN models")
        cfg = self.config
        pairs = np.concatenate([forget, retain])
        setup, setup_steps = 0.0, 0
        if self.encoder is None:
            t0 = time.perf_counter()
            setup_steps = self.pretrain(model, pairs)
            setup = time.perf_counter() - t0
        gone = np.zeros(len(pairs), dtype=bool)
        gone[: len(forget)] = True
        adj = with_self_loops(pairs[:, 0], pairs[:, 1], model.n_users, model.n_items)
        with torch.no_grad():
            delta = self.encoder(
                model.ego(), removed_share(pairs, gone, model.n_users, model.n_items), adj
            )
            model.user_emb.weight += delta[: model.n_users]
            model.item_emb.weight += delta[model.n_users :]
        seen_kept, seen_all = seen_of(retain, model.n_users), seen_of(pairs, model.n_users)
        opt = self.optimiser(model.parameters())
        start = {k: v.detach().clone() for k, v in model.named_parameters()}

        def loss_of(step):
            ego = model.ego()
            base = torch.cat([start["user_emb.weight"], start["item_emb.weight"]])
            return self._loss(
                model,
                ego,
                base,
                ego - base,
                retain,
                forget,
                seen_kept,
                seen_all,
                self.rng("finetune", step),
            )

        n = train_loop(model, opt, iter(range(cfg.finetune_steps)), loss_of)
        return model, {
            "steps": n + 1,
            "setup_time_s": setup,
            "setup_steps": setup_steps,
            "update_norm": float(delta.norm()),
        }
