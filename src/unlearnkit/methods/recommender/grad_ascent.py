"""Gradient ascent on the forgotten interactions' BPR loss: the classic baseline, which
pushes them down with nothing holding the rest in place."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.loop import UnlearningError
from unlearnkit.methods.recommender.base import (
    RecommenderMethod,
    RecUnlearnConfig,
    negatives_for,
    seen_of,
    train_loop,
)
from unlearnkit.models.recommender import bpr_loss, triple_scores


@dataclass(frozen=True)
class RecGradAscentConfig(RecUnlearnConfig):
    """epochs over the forget set at lr (no retain term: keep both small). batch_share: each
    forget batch holds this share of the training interactions (forget + retain), so an
    epoch is about |forget| / (batch_share · N) steps and the steps follow the request's share
    of the data, not its absolute size (``share_batch_count``); ``None``: batches of
    batch_size (steps grow with the request's size: tune at your data's size). Defaults
    selected on a held-out tuning world (benchmarks/tune_recommender.py;
    docs/recommenders.md)."""

    epochs: int = param(5, ge=1)
    lr: float = param(0.02, gt=0)
    batch_share: float | None = param(0.025, gt=0, le=1)


@METHODS.register(
    "rec_grad_ascent",
    family="recommender",
    paper="baseline of MMRecUn arXiv:2405.15328 (gradient ascent on the forget set)",
    description="Ascend the BPR loss of the forgotten interactions.",
)
class RecGradAscent(RecommenderMethod):
    """loss = −BPR(forgotten positive over a never-seen negative), ``epochs`` passes over
    the forget set in batches of ``batch_share`` of the training set (it reads the retain
    set's size, not its interactions)."""

    config_class = RecGradAscentConfig
    uses_retain = False

    def run(self, model, forget, retain):
        if self.config.batch_share is not None and len(retain) == 0:
            raise UnlearningError(
                "rec_grad_ascent sizes its batches by the training set (batch_share): give "
                "the retain set (the kept training interactions), or set batch_share=null "
                "for batches of batch_size"
            )
        seen = seen_of(np.concatenate([forget, retain]), model.n_users)
        opt = self.optimiser(model.parameters())
        n_train = len(forget) + len(retain)

        def steps():
            for epoch in range(self.config.epochs):
                rng = self.rng("negatives", epoch)
                for idx in self.forget_batches(len(forget), n_train, epoch):
                    yield forget[idx], negatives_for(forget[idx], seen, model.n_items, rng)

        def loss_of(item):
            pairs, neg = item
            pos, negs = triple_scores(model, pairs[:, 0], pairs[:, 1], neg)
            return -bpr_loss(pos, negs)

        return model, {"steps": train_loop(model, opt, steps(), loss_of)}
