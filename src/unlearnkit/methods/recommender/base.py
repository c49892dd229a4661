"""The recommender-method contract: a config + a class with ``run``, in the one ``METHODS``
registry (meta ``family="recommender"``), and :func:`unlearn_recommender`, their entry
point.

A recommender method gets the model (a copy of the target, or of the model after earlier
requests), the forgotten interactions and the retained ones as ``(K, 2)`` arrays of (user,
item), and returns the unlearned model (the same object trained in place, or a new one)
with ``details``. Before any method runs, the serving graph of a graph model (LightGCN) is
set to the retained interactions: deleting the data from the database is part of every
request; what differs between methods is what they do to the parameters.

Some methods prepare once per deployed model (RecEraser trains its shards, UnlearnRec
pre-trains its influence encoder). That one-off cost is ``details["setup_time_s"]``, kept
out of the request's ``wall_time_s``; a method instance keeps what it prepared, so a
sequence of requests given to the same instance pays it once.
"""

from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from unlearnkit.core.config import Config, param
from unlearnkit.core.io import atomic_write_json
from unlearnkit.core.seeding import derive_seed
from unlearnkit.methods.base import METHODS
from unlearnkit.methods.loop import UnlearningError, UnlearnRecord
from unlearnkit.methods.optim import train_steps
from unlearnkit.models.recommender import (
    LightGCN,
    RecommenderAdapter,
    load_recommender,
    sample_negatives,
    seen_items,
)
from unlearnkit.models.training import peak_memory_mb


@dataclass(frozen=True)
class RecUnlearnConfig(Config):
    """Settings every recommender method has: epochs (passes over the set it trains on),
    batch_size, Adam lr, weight_decay (BPR's λ on the batch's embeddings), seed (order,
    negatives, initialisation). Each method's defaults were selected on a held-out tuning
    world (benchmarks/tune_recommender.py: closest to the oracle keeping ≥ 0.95 of the
    target's NDCG@20; docs/recommenders.md)."""

    epochs: int = param(5, ge=1)
    batch_size: int = param(256, ge=1)
    lr: float = param(0.01, gt=0)
    weight_decay: float = param(1e-4, ge=0)
    seed: int = 0


class RecommenderMethod(ABC):
    """Base class of recommender methods. uses_forget / uses_retain: which sets it reads."""

    family: ClassVar[str] = "recommender"
    config_class: ClassVar[type[RecUnlearnConfig]] = RecUnlearnConfig
    uses_forget: ClassVar[bool] = True
    uses_retain: ClassVar[bool] = True
    uses_reference: ClassVar[bool] = False

    def __init__(self, config: RecUnlearnConfig | Mapping[str, Any] | None = None) -> None:
        self.config = self.config_class.coerce(config, type(self).__name__)

    @abstractmethod
    def run(
        self, model: nn.Module, forget: np.ndarray, retain: np.ndarray
    ) -> tuple[nn.Module, dict[str, Any]]:
        """Unlearn ``forget`` ((K, 2) user, item); return (model, details with ``steps``)."""

    # -- helpers ----------------------------------------------------------------------------
    def rng(self, *keys: object) -> np.random.Generator:
        return np.random.default_rng(derive_seed(self.config.seed, *keys))

    def optimiser(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in params if p.requires_grad], lr=self.config.lr)

    def batches(self, n: int, key: str, epoch: int) -> Iterator[np.ndarray]:
        """Shuffled index batches of ``range(n)`` for one epoch (seeded by key and epoch)."""
        order = self.rng(key, epoch).permutation(n)
        for i in range(0, n, self.config.batch_size):
            yield order[i : i + self.config.batch_size]

    def forget_batches(self, n_forget: int, n_train: int, epoch: int) -> Iterator[np.ndarray]:
        """Shuffled index batches of the forget set for one epoch. With a ``batch_share`` in
        the config, their number follows the request's share of the training set: about
        n_forget / (batch_share · n_train) batches of (nearly) equal size (see
        :func:`share_batch_count`); without one, batches of ``batch_size``."""
        share = getattr(self.config, "batch_share", None)
        if share is None:
            yield from self.batches(n_forget, "forget", epoch)
            return
        order = self.rng("forget", epoch).permutation(n_forget)
        yield from np.array_split(order, share_batch_count(n_forget, n_train, share))

    def paired(
        self, n_forget: int, n_retain: int, epoch: int, n_train: int | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """(forget batch, retain batch) pairs for one epoch over the forget set, the retain
        batches (of ``batch_size``) cycled (the forget set is the small one). n_train: the
        training set's size, for the forget batches' share (default: forget + retain)."""
        total = n_forget + n_retain if n_train is None else n_train
        retain_batches: Iterator[np.ndarray] = iter(())
        cycle = 0
        for f_idx in self.forget_batches(n_forget, total, epoch):
            r_idx = next(retain_batches, None)
            if r_idx is None:
                retain_batches = self.batches(n_retain, f"retain-{epoch}", cycle)
                cycle += 1
                r_idx = next(retain_batches)
            yield f_idx, r_idx


def share_batch_count(n_forget: int, n_train: int, batch_share: float) -> int:
    """How many optimiser steps one epoch over a request of ``n_forget`` of ``n_train``
    training interactions takes when each batch holds about ``batch_share`` of the
    training set: n_forget / (batch_share · n_train) rounded to the nearest whole number
    (halves up), at least 1 and at most n_forget. (Rounded, not ceiled: a request drawn as
    5% of the training set is 5.001% or 4.999% of it after rounding its size, and must not
    take one step more or less for that.)

    Why: Adam moves every embedding row that has a gradient by about lr per step whatever
    the batch holds, so how far a request moves the model is set by its number of steps.
    With batches of a fixed size that number grows with the request's absolute size (a 5%
    request is 2 batches of 256 on a 5,000-interaction world, 8 on MovieLens-100K), and
    the same defaults over-forget on larger data. Counted in shares of the training set,
    the steps follow the request's share of the data, which is what the first-order
    influence of removing it scales with (|F| / N)."""
    if n_forget <= 0:
        return 0
    if n_train < n_forget:
        raise UnlearningError(
            f"the training set ({n_train}) is smaller than the request ({n_forget})"
        )
    per_batch = batch_share * n_train
    return max(1, min(n_forget, math.floor(n_forget / per_batch + 0.5)))


def negatives_for(
    pairs: np.ndarray, seen: list[set[int]], n_items: int, rng: np.random.Generator
) -> np.ndarray:
    """One never-seen item per (user, item) pair."""
    return sample_negatives(pairs[:, 0], seen, n_items, rng)


def seen_of(pairs: np.ndarray, n_users: int) -> list[set[int]]:
    return seen_items(pairs[:, 0], pairs[:, 1], n_users)


#: the step loop every recommender method runs (shared with the classifier methods)
train_loop = train_steps


def as_pairs(pairs: Any, what: str) -> np.ndarray:
    """A (K, 2) int64 array of (user, item) pairs, or a clear error."""
    arr = np.asarray(pairs, dtype=np.int64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise UnlearningError(f"{what} must be (K, 2) (user, item) pairs, got shape {arr.shape}")
    return arr


def _check_ids(pairs: np.ndarray, model: nn.Module, what: str) -> None:
    if len(pairs) == 0:
        return
    if pairs.min() < 0 or pairs[:, 0].max() >= model.n_users or pairs[:, 1].max() >= model.n_items:
        raise UnlearningError(
            f"{what} has ids outside the model's {model.n_users} users × {model.n_items} items"
        )


def unlearn_recommender(
    model,
    forget,
    retain,
    method: str | RecommenderMethod,
    *,
    config: RecUnlearnConfig | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    **overrides: Any,
) -> tuple[RecommenderAdapter, UnlearnRecord]:
    """Unlearn ``forget`` from a recommender and return ``(adapter, record)``.

    model: a :class:`~unlearnkit.models.recommender.RecommenderAdapter`, a model, or a saved
    recommender directory (a copy is changed; the given model is not). forget / retain:
    (K, 2) arrays of (user, item) training interactions. method: a registered recommender
    method's name, or a method instance (which keeps what it prepared for the next request).
    ``record.wall_time_s`` is the request's own time, without the method's one-off setup
    (``record.details["setup_time_s"]``). With ``out_dir`` the model and ``record.json``
    are saved there.
    """
    from unlearnkit.methods.api import method_config, register_builtin_methods

    register_builtin_methods()
    if isinstance(method, RecommenderMethod):
        instance, name = method, _name_of(method)
        if config is not None or overrides:
            raise UnlearningError("give a config with a method name, not with an instance")
    else:
        cls = METHODS.get(method)
        if not (isinstance(cls, type) and issubclass(cls, RecommenderMethod)):
            raise UnlearningError(
                f"{method!r} is not a recommender method; recommender methods: "
                f"{recommender_methods()}"
            )
        instance, name = cls(method_config(method, config, **overrides)), method
    if isinstance(model, str | Path):
        net = load_recommender(model)
    else:
        net = copy.deepcopy(model.model if isinstance(model, RecommenderAdapter) else model)
    forget_pairs, retain_pairs = as_pairs(forget, "forget"), as_pairs(retain, "retain")
    if instance.uses_forget and len(forget_pairs) == 0:
        raise UnlearningError("the forget set is empty: nothing to unlearn")
    if instance.uses_retain and len(retain_pairs) == 0:
        raise UnlearningError(f"method {name!r} uses retain data: the retain set is empty")
    _check_ids(forget_pairs, net, "forget")
    _check_ids(retain_pairs, net, "retain")
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    if isinstance(net, LightGCN):
        net.set_graph(retain_pairs[:, 0], retain_pairs[:, 1])
    t0 = time.perf_counter()
    net, details = instance.run(net, forget_pairs, retain_pairs)
    wall = time.perf_counter() - t0 - float(details.get("setup_time_s", 0.0))
    params = dict(net.named_parameters())
    changed = sum(
        int((params[k] != v).sum()) if k in params and params[k].shape == v.shape else v.numel()
        for k, v in before.items()
    )
    total = sum(p.numel() for p in net.parameters())
    record = UnlearnRecord(
        method=name,
        config=instance.config.to_dict(),
        steps=int(details.get("steps", 0)),
        forget_examples=len(forget_pairs),
        retain_examples=len(retain_pairs),
        wall_time_s=max(wall, 0.0),
        peak_memory_mb=peak_memory_mb(),
        parameters_total=total,
        parameters_trainable=total,
        parameters_changed=min(changed, total),
        final_losses={},
        resumed_from_step=None,
        log_path=None,
        details=details,
    )
    result = RecommenderAdapter(net.eval())
    if out_dir is not None:
        out = Path(out_dir)
        result.save(out / "model", extra={"unlearned_with": name})
        atomic_write_json(out / "record.json", record.to_dict())
    return result, record


def _name_of(method: RecommenderMethod) -> str:
    for name in METHODS.names():
        if METHODS.get(name) is type(method):
            return name
    return type(method).__name__


def recommender_methods() -> list[str]:
    """The registered recommender methods' names."""
    from unlearnkit.methods.api import register_builtin_methods

    register_builtin_methods()
    return [
        n
        for n in METHODS.names()
        if isinstance(METHODS.get(n), type) and issubclass(METHODS.get(n), RecommenderMethod)
    ]
