"""Sharded retraining (RecEraser, arXiv:2201.06820; SISA for recommenders): the training
interactions are divided into K shards, one sub-model is trained per shard and an attention
network aggregates their embeddings. A request retrains only the shards that held a
forgotten interaction (from scratch, on what they keep) and then the aggregator.

Partition (RecEraser's user-based balanced partition): users are clustered by the target's
user embeddings with k-means under equal shard sizes, and every interaction goes to its
user's shard, so a user's request touches one shard. ``partition="random"`` assigns each
interaction to a random shard (no locality: most requests touch every shard).

Given the partition (drawn once, from the target's embeddings, and kept), the result is
exact: the touched shards and the attention are retrained from scratch on kept data only,
so the model equals a deployment built on the kept interactions with that partition.

Training the shards and the aggregator the first time is the method's one-off setup
(``setup_time_s``), paid before any request; the returned model keeps its shards, so the
next request given to it retrains only the shards it touches.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from unlearnkit.core.config import param
from unlearnkit.core.seeding import derive_seed
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.recommender.base import (
    RecommenderMethod,
    RecUnlearnConfig,
    negatives_for,
    seen_of,
    train_loop,
)
from unlearnkit.models.recommender import (
    BPRMF,
    RecTrainConfig,
    ShardedRecommender,
    bpr_batch_loss,
    build_recommender,
    train_recommender,
)


@dataclass(frozen=True)
class ShardedRetrainConfig(RecUnlearnConfig):
    """n_shards: K. partition: ``user`` (balanced k-means on user embeddings) or
    ``random``. epochs: each shard's training (the target's recipe); aggregator_epochs:
    BPR epochs of the attention aggregator (sub-models frozen); attention_size. n_shards = 2
    and one aggregator epoch were selected on a held-out tuning world
    (benchmarks/tune_recommender.py): 4 shards lose a quarter of NDCG there, 2 shards a
    tenth; 5 aggregator epochs do no better."""

    n_shards: int = param(2, ge=1)
    partition: Literal["user", "random"] = "user"
    epochs: int = param(40, ge=1)
    aggregator_epochs: int = param(1, ge=1)
    attention_size: int = param(16, ge=1)
    kmeans_iterations: int = param(10, ge=1)


def balanced_kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int) -> np.ndarray:
    """Cluster of each row of ``x`` by k-means with at most ⌈n / k⌉ rows per cluster (each
    round assigns the closest (row, centroid) pairs first while clusters have room)."""
    n = len(x)
    k = min(k, n)
    cap = math.ceil(n / k)
    centroids = x[rng.choice(n, size=k, replace=False)]
    assign = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        dist = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
        assign[:] = -1
        counts = np.zeros(k, dtype=np.int64)
        for flat in np.argsort(dist, axis=None, kind="stable"):
            row, c = divmod(int(flat), k)
            if assign[row] < 0 and counts[c] < cap:
                assign[row] = c
                counts[c] += 1
        centroids = np.stack(
            [x[assign == c].mean(0) if (assign == c).any() else centroids[c] for c in range(k)]
        )
    return assign


@METHODS.register(
    "sharded_retrain",
    family="recommender",
    paper="RecEraser arXiv:2201.06820",
    description="Retrain only the shards that held the request; re-fit the aggregator.",
)
class ShardedRetrain(RecommenderMethod):
    """K shard sub-models + attention aggregation; a request retrains the touched shards."""

    config_class = ShardedRetrainConfig

    def _recipe(self, epochs: int, key: object) -> RecTrainConfig:
        cfg = self.config
        return RecTrainConfig(
            epochs=epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=derive_seed(cfg.seed, "shard", key),
        )

    def _fresh_shard(self, like: ShardedRecommender | BPRMF, shard: int, pairs: np.ndarray):
        cfg = self.config
        sub = build_recommender(
            like.config, like.n_users, like.n_items, seed=derive_seed(cfg.seed, "init", shard)
        )
        stats = train_recommender(sub, pairs[:, 0], pairs[:, 1], self._recipe(cfg.epochs, shard))
        return sub, int(stats["steps"])

    def shard(self, model: BPRMF, pairs: np.ndarray) -> tuple[ShardedRecommender, int]:
        """The sharded deployment of ``model``'s recipe on ``pairs``: (model, steps)."""
        cfg = self.config
        rng = self.rng("partition")
        if cfg.partition == "user":
            with torch.no_grad():
                users, _ = model.embeddings()
            of_user = balanced_kmeans(
                users.detach().numpy(), cfg.n_shards, rng, cfg.kmeans_iterations
            )
            shard_of = of_user[pairs[:, 0]]
        else:
            shard_of = rng.integers(0, cfg.n_shards, size=len(pairs))
        subs, steps = [], 0
        for k in range(cfg.n_shards):
            sub, n = self._fresh_shard(model, k, pairs[shard_of == k])
            subs.append(sub)
            steps += n
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, "attention"))
            sharded = ShardedRecommender(subs, attention_size=cfg.attention_size)
        sharded.set_shards(pairs[:, 0], pairs[:, 1], shard_of)
        return sharded, steps + self.fit_aggregator(sharded, pairs)

    def reset_aggregator(self, model: ShardedRecommender) -> None:
        """The attention re-initialised (seeded): it was fitted on data that included the
        request, so it is trained again from scratch on what is kept."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.config.seed, "attention"))
            fresh = ShardedRecommender(list(model.submodels), model.attention_size)
        model.attention.load_state_dict(fresh.attention.state_dict())
        with torch.no_grad():
            model.query.copy_(fresh.query)

    def fit_aggregator(self, model: ShardedRecommender, pairs: np.ndarray) -> int:
        """BPR on ``pairs`` for the attention parameters only (sub-models frozen)."""
        cfg = self.config
        for p in model.submodels.parameters():
            p.requires_grad_(False)
        params = [p for n, p in model.named_parameters() if not n.startswith("submodels.")]
        opt = torch.optim.Adam(params, lr=cfg.lr)
        seen = seen_of(pairs, model.n_users)

        def steps():
            for epoch in range(cfg.aggregator_epochs):
                rng = self.rng("aggregator", epoch)
                for idx in self.batches(len(pairs), "aggregator", epoch):
                    yield pairs[idx], negatives_for(pairs[idx], seen, model.n_items, rng)

        def loss_of(item):
            b, neg = item
            return bpr_batch_loss(model, b[:, 0], b[:, 1], neg)

        n = train_loop(model, opt, steps(), loss_of)
        for p in model.submodels.parameters():
            p.requires_grad_(True)
        return n

    def run(self, model, forget, retain):
        setup, setup_steps = 0.0, 0
        if not isinstance(model, ShardedRecommender):
            t0 = time.perf_counter()
            model, setup_steps = self.shard(model, np.concatenate([forget, retain]))
            setup = time.perf_counter() - t0
        users, items = model.edge_users.numpy(), model.edge_items.numpy()
        shard_of = model.shard_of.numpy()
        index = {(int(u), int(i)): j for j, (u, i) in enumerate(zip(users, items, strict=True))}
        hit = [index[(int(u), int(i))] for u, i in forget if (int(u), int(i)) in index]
        keep = np.ones(len(users), dtype=bool)
        keep[hit] = False
        touched = sorted(set(shard_of[hit].tolist()))
        steps = 0
        for k in touched:
            mine = keep & (shard_of == k)
            pairs = np.stack([users[mine], items[mine]], axis=1)
            sub, n = self._fresh_shard(model, k, pairs)
            model.submodels[k] = sub
            steps += n
        model.set_shards(users[keep], items[keep], shard_of[keep])
        kept = np.stack([users[keep], items[keep]], axis=1)
        if touched:
            self.reset_aggregator(model)
            steps += self.fit_aggregator(model, kept)
        return model, {
            "steps": steps,
            "setup_time_s": setup,
            "setup_steps": setup_steps,
            "n_shards": model.n_shards,
            "shards_retrained": touched,
            "not_found": len(forget) - len(hit),
        }
