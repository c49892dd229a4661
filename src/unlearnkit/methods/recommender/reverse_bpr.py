"""Reverse BPR (MMRecUn, arXiv:2405.15328): the forgotten interactions are ranked below
sampled negatives (BPR with positive and negative swapped) while forward BPR on the
retained interactions keeps everyone else's ranking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.recommender.base import (
    RecommenderMethod,
    RecUnlearnConfig,
    negatives_for,
    seen_of,
    train_loop,
)
from unlearnkit.methods.recommender.losses import reverse_bpr_loss
from unlearnkit.models.recommender import bpr_batch_loss, triple_scores


@dataclass(frozen=True)
class ReverseBPRConfig(RecUnlearnConfig):
    """epochs over the forget set, each forget batch paired with a retain batch (of
    batch_size); alpha: the weight of the reverse term; beta: of forward BPR on the retain
    batch. batch_share: each forget batch holds this share of the training interactions
    (forget + retain), so an epoch is about |forget| / (batch_share · N) steps and the steps
    follow the request's share of the data, not its absolute size (``share_batch_count``);
    ``None``: forget batches of batch_size (steps grow with the request's size)."""

    epochs: int = param(10, ge=1)
    alpha: float = param(1.0, ge=0)
    beta: float = param(1.0, ge=0)
    batch_share: float | None = param(0.025, gt=0, le=1)


@METHODS.register(
    "reverse_bpr",
    family="recommender",
    paper="MMRecUn arXiv:2405.15328",
    description="Rank forgotten interactions below negatives; forward BPR keeps the rest.",
)
class ReverseBPR(RecommenderMethod):
    """loss = α·(−log σ(s(u, j) − s(u, i_f))) + β·BPR(retain) + λ·‖batch embeddings‖²."""

    config_class = ReverseBPRConfig

    def run(self, model, forget, retain):
        cfg = self.config
        seen_all = seen_of(np.concatenate([forget, retain]), model.n_users)
        seen_kept = seen_of(retain, model.n_users)
        opt = self.optimiser(model.parameters())

        def steps():
            for epoch in range(cfg.epochs):
                rng = self.rng("negatives", epoch)
                for f_idx, r_idx in self.paired(len(forget), len(retain), epoch):
                    f, r = forget[f_idx], retain[r_idx]
                    yield (
                        f,
                        negatives_for(f, seen_all, model.n_items, rng),
                        r,
                        negatives_for(r, seen_kept, model.n_items, rng),
                    )

        def loss_of(item):
            f, f_neg, r, r_neg = item
            pos, neg = triple_scores(model, f[:, 0], f[:, 1], f_neg)
            forward = bpr_batch_loss(model, r[:, 0], r[:, 1], r_neg, cfg.weight_decay)
            return cfg.alpha * reverse_bpr_loss(pos, neg) + cfg.beta * forward

        return model, {"steps": train_loop(model, opt, steps(), loss_of)}
