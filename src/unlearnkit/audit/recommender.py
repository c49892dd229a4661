"""Robustness audit of a recommender after a forget request: is the request gone, or only
pushed down? Knowledge = the share of removed interactions whose item is back in the
user's top K (``forget/hit@K``), before and after each attack:

* ``int8`` / ``int4``: every embedding table quantized per row (round-to-nearest);
* ``noise <s>``: relative Gaussian weight noise of scale s;
* ``relearn@<n>``: n Adam steps of BPR on half of the removed interactions (half of each
  user's for a users request, of each item's for an items request, a random half
  otherwise), measured on the other half (``relearn@0``: that half before the attack).
  Only the parameters are attacked; a LightGCN's serving graph stays as it was.

The target's and the oracle's rows give the scale: knowledge that returns to the target's
level was suppressed, not removed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import torch

from unlearnkit.core.config import Config, param
from unlearnkit.core.seeding import derive_seed
from unlearnkit.evaluation.recommender import RecEvalConfig, RecommenderSplits, evaluate_recommender
from unlearnkit.models.recommender import (
    RecommenderAdapter,
    bpr_batch_loss,
    sample_negatives,
    seen_items,
)


@dataclass(frozen=True)
class RecommenderAuditConfig(Config):
    """relearn_steps: BPR steps on half of the removed interactions (Adam relearn_lr, batches
    of relearn_batch); bits: embedding quantization; noise: relative weight noise."""

    relearn_steps: tuple[int, ...] = (4, 16, 64)
    relearn_lr: float = param(0.01, gt=0)
    relearn_batch: int = param(64, ge=1)
    bits: tuple[int, ...] = (8, 4)
    noise: tuple[float, ...] = (0.01, 0.03)
    seed: int = 0


def halves(splits: RecommenderSplits, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(taught, measured) bool masks over ``splits.forget``: half of each user's removed
    interactions (users request), of each item's (items request), or a random half."""
    forget = splits.forget
    rng = np.random.default_rng(derive_seed(seed, "relearn-halves", splits.kind))
    taught = np.zeros(len(forget), dtype=bool)
    if splits.kind in ("users", "items"):
        column = forget[:, 0] if splits.kind == "users" else forget[:, 1]
        for unit in np.unique(column):
            idx = rng.permutation(np.flatnonzero(column == unit))
            taught[idx[: len(idx) // 2]] = True
    else:
        idx = rng.permutation(len(forget))
        taught[idx[: len(idx) // 2]] = True
    return taught, ~taught


def audit_recommender(
    model: RecommenderAdapter,
    splits: RecommenderSplits,
    config: RecommenderAuditConfig | None = None,
    k: int = 20,
) -> dict[str, float]:
    """Top-K hits of the removed interactions before and after each attack (module doc)."""
    from unlearnkit.audit.quantization import quantized_copy
    from unlearnkit.audit.tampering import noisy_copy

    cfg = config or RecommenderAuditConfig()
    eval_cfg = RecEvalConfig(k=k, seed=cfg.seed)
    key = f"forget/hit@{k}"

    def hits(adapter: RecommenderAdapter, on: RecommenderSplits = splits) -> float:
        return evaluate_recommender(adapter, on, config=eval_cfg)[key].aggregate

    out = {"forget": hits(model)}
    for b in cfg.bits:
        out[f"int{b}"] = hits(RecommenderAdapter(quantized_copy(model.model, b, embeddings=True)))
    for s in cfg.noise:
        out[f"noise {s}"] = hits(RecommenderAdapter(noisy_copy(model.model, s, seed=cfg.seed)))
    taught, measured = halves(splits, cfg.seed)
    if not taught.any() or not measured.any():
        return out
    teach = splits.forget[taught]
    # the attacker's model has seen the taught half: it is left out of the rankings
    on = replace(
        splits,
        forget=splits.forget[measured],
        retain=np.concatenate([splits.retain, teach]),
    )
    out["relearn@0"] = hits(model, on)
    net = copy.deepcopy(model.model)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg.relearn_lr)
    # negatives: what the attacker does not know the user had (kept + taught left out)
    seen = seen_items(on.retain[:, 0], on.retain[:, 1], splits.n_users)
    rng = np.random.default_rng(derive_seed(cfg.seed, "relearn"))
    done = 0
    net.train()
    for steps in sorted(cfg.relearn_steps):
        while done < steps:
            pick = teach[rng.integers(0, len(teach), size=min(cfg.relearn_batch, len(teach)))]
            neg = sample_negatives(pick[:, 0], seen, splits.n_items, rng)
            loss = bpr_batch_loss(net, pick[:, 0], pick[:, 1], neg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
        net.eval()
        out[f"relearn@{steps}"] = hits(RecommenderAdapter(net), on)
        net.train()
    net.eval()
    return out


__all__ = ["RecommenderAuditConfig", "audit_recommender", "halves"]
