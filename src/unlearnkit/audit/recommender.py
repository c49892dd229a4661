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

:func:`audit_recommender` returns ``{attack: Result}`` (per removed interaction: hit or not,
the ``forget/hit@K`` metric's values); :func:`summary` gives ``{attack: share of hits}``,
the numbers a run's audit rows carry. The audit is also the registered metric
``recommender_audit`` (``audit=True``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

from unlearnkit.core.config import Config, param
from unlearnkit.core.results import Result
from unlearnkit.core.seeding import derive_seed
from unlearnkit.evaluation.metrics.base import register_metric
from unlearnkit.evaluation.recommender import (
    ForgetHit,
    RecommenderInputs,
    RecommenderMetric,
    RecommenderSplits,
)
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


@dataclass(frozen=True)
class RecommenderAuditMetricConfig(RecommenderAuditConfig):
    """The audit as a registered metric: its settings and k, the top-K cut-off of a hit."""

    k: int = param(20, ge=1)


def audit_recommender(
    model: RecommenderAdapter,
    splits: RecommenderSplits,
    config: RecommenderAuditConfig | None = None,
    k: int = 20,
) -> dict[str, Result]:
    """Top-K hits of the removed interactions before and after each attack (module doc):
    ``forget``, ``int<b>``, ``noise <s>``, and when both halves of the request are
    non-empty ``relearn@0`` and ``relearn@<n>`` per step count."""
    from unlearnkit.audit.quantization import quantized_copy
    from unlearnkit.audit.tampering import noisy_copy

    cfg = config or RecommenderAuditConfig()
    hit = ForgetHit(k=k)

    def hits(attack: str, adapter: RecommenderAdapter, on: RecommenderSplits = splits) -> Result:
        res = hit.compute(adapter, on)[f"forget/hit@{k}"]
        extra = {"measure": f"forget hit@{k}", "attack": attack}
        return replace(res, name=f"audit/{attack}", extra=extra)

    out = {"forget": hits("forget", model)}
    for b in cfg.bits:
        quantized = RecommenderAdapter(quantized_copy(model.model, b, embeddings=True))
        out[f"int{b}"] = hits(f"int{b}", quantized)
    for s in cfg.noise:
        noisy = RecommenderAdapter(noisy_copy(model.model, s, seed=cfg.seed))
        out[f"noise {s}"] = hits(f"noise {s}", noisy)
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
    out["relearn@0"] = hits("relearn@0", model, on)
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
        out[f"relearn@{steps}"] = hits(f"relearn@{steps}", RecommenderAdapter(net), on)
        net.train()
    net.eval()
    return out


def summary(results: Mapping[str, Result]) -> dict[str, float]:
    """``{attack: share of hits}``: the audit's numbers as a run's audit rows carry them."""
    return {k: r.aggregate for k, r in results.items()}


@register_metric("recommender_audit", paper="arXiv:2406.13356", audit=True)
class RecommenderAudit(RecommenderMetric):
    """Top-K hits of the removed interactions after quantization, weight noise and
    relearning on half of them (the recommender's robustness audit; keys: the attacks)."""

    config_class = RecommenderAuditMetricConfig
    higher_is_better = False

    def measure(self, x: RecommenderInputs) -> dict[str, Result]:
        cfg = self.config
        assert isinstance(cfg, RecommenderAuditMetricConfig)
        return audit_recommender(x.model.model, x.splits, cfg, cfg.k)


__all__ = [
    "RecommenderAudit",
    "RecommenderAuditConfig",
    "RecommenderAuditMetricConfig",
    "audit_recommender",
    "halves",
    "summary",
]
