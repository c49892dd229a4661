"""Fine-tuning on the retained interactions only: the forgotten ones are never shown again
and become ordinary negatives, so they fade as training goes on."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.recommender.base import RecommenderMethod, RecUnlearnConfig
from unlearnkit.models.recommender import RecTrainConfig, train_recommender


@dataclass(frozen=True)
class RecFinetuneConfig(RecUnlearnConfig):
    """epochs of BPR over the retain set at lr."""

    epochs: int = param(5, ge=1)


@METHODS.register(
    "rec_finetune",
    family="recommender",
    paper="baseline of UnlearnRec arXiv:2505.22649 and CURE4Rec arXiv:2408.14393",
    description="Fine-tune the recommender with BPR on the retained interactions.",
)
class RecFinetune(RecommenderMethod):
    """BPR on the retain set (negatives: items the user has not kept), ``epochs`` passes."""

    config_class = RecFinetuneConfig
    uses_forget = False

    def run(self, model, forget, retain):
        cfg = self.config
        stats = train_recommender(
            model,
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
        return model, {"steps": int(stats["steps"])}
