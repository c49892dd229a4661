"""Retraining from scratch on the retained interactions: the exact oracle, run as a method
so that its cost sits in the same table as everyone else's."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.recommender.base import RecommenderMethod, RecUnlearnConfig
from unlearnkit.models.recommender import RecTrainConfig, build_recommender, train_recommender


@dataclass(frozen=True)
class RetrainConfig(RecUnlearnConfig):
    """The target's recipe: epochs, batch_size, lr, weight_decay; seed initialises the new
    model and orders its batches."""

    epochs: int = param(40, ge=1)


@METHODS.register(
    "rec_retrain",
    family="recommender",
    paper="exact unlearning (the oracle; RecEraser arXiv:2201.06820 reports it)",
    description="Retrain the recommender from scratch on the retained interactions.",
)
class Retrain(RecommenderMethod):
    """A fresh model (same architecture) trained with BPR on the retain set only."""

    config_class = RetrainConfig
    uses_forget = False

    def run(self, model, forget, retain):
        cfg = self.config
        fresh = build_recommender(model.config, model.n_users, model.n_items, seed=cfg.seed)
        stats = train_recommender(
            fresh,
            retain[:, 0],
            retain[:, 1],
            RecTrainConfig(
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                weight_decay=cfg.weight_decay,
                seed=cfg.seed,
            ),
        )
        return fresh, {"steps": int(stats["steps"])}
