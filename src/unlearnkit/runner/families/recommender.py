"""The recommender family: forget interactions, users or items (UnlearnRec / MMRecUn /
RecEraser-style).

The interaction world (or a MovieLens-style ratings file), the target (BPR-MF or LightGCN
trained on every training interaction) and the exact oracle (trained without the request)
are cached by content hash. Each method × seed unlearns the request from the target
(cached; one thread, as the oracle was trained, so that speed-ups compare like with like)
and every model is evaluated (cached): Recall / NDCG for all users and the touched ones,
the removed interactions' ranks against the oracle's, MI-BF, MI-NG, the membership attack
on interactions. With ``audit`` every model is attacked (relearning, quantization, noise).

With ``sequential=n`` (n ≥ 2) the request is also applied as n successive requests (groups
of interactions, users or items) by each method's first seed (one method instance, so its
one-off setup is paid once) and by the oracle, each step compared with the oracle
retrained without everything requested so far; the history goes into the row's
``sequence``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from unlearnkit.audit.recommender import RecommenderAuditConfig
from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import ConfigError
from unlearnkit.core.io import atomic_write_json, strict_json
from unlearnkit.core.seeding import derive_seed
from unlearnkit.data.world.interactions import (
    REFERENCE_FRACTION,
    InteractionSpec,
    InteractionWorld,
    generate_interactions,
    interaction_preset,
    world_from_interactions,
)
from unlearnkit.evaluation.recommender import (
    RecEvalConfig,
    RecommenderSplits,
    evaluate_recommender,
)
from unlearnkit.models.recommender import (
    RecommenderAdapter,
    RecommenderConfig,
    RecTrainConfig,
    build_recommender,
    train_recommender,
)
from unlearnkit.runner.families.base import (
    FAMILIES,
    Family,
    Log,
    Prepared,
    Step,
    Subject,
    Unlearned,
    audit_payload,
    efficiency,
    file_hash,
    key_versions,
    read_json,
)
from unlearnkit.runner.spec import MethodSpec, validate_methods_and_seeds

RECOMMENDER_METHODS = (
    "rec_retrain",
    "rec_finetune",
    "rec_grad_ascent",
    "reverse_bpr",
    "sharded_retrain",
    "influence_encoder",
)


def recommender_headline(k: int) -> tuple[tuple[str, str], ...]:
    """The recommender leaderboard's columns for cut-off ``k``."""
    return (
        (f"Recall@{k}", f"rec/recall@{k}"),
        (f"NDCG@{k}", f"rec/ndcg@{k}"),
        (f"touched NDCG@{k}", f"rec/ndcg@{k}_touched"),
        ("forget rank pct", "forget/rank_pct"),
        (f"forget hit@{k}", f"forget/hit@{k}"),
        ("MI-BF", "mi/bf"),
        ("MI-NG", "mi/ng"),
        ("MIA AUC", "mia/auc"),
    )


@dataclass(frozen=True)
class RecommenderExperimentSpec(Config):
    """A recommender experiment. world: the interaction world (with ``data``, only its
    split fractions, request sizes and seed are used). data: a MovieLens-style ratings file
    instead of the synthetic world (ratings ≥ threshold are interactions; users left
    without one are dropped). reference_fraction (data only): the share of each training
    period held out, never trained, as the membership attack's time-matched non-members
    (``world_from_interactions``). request: ``interactions``, ``users`` or ``items``. model /
    train / model_seed: the target's and oracle's recipe. methods × seeds. k: the ranking
    cut-off. sequential: 0 (off) or n ≥ 2 successive requests. audit: the robustness
    attacks (relearning, quantization, noise; ``audit={}`` for the defaults), or none."""

    kind: Literal["recommender"] = "recommender"
    name: str = "recsys"
    world: InteractionSpec = field(default_factory=lambda: interaction_preset("demo"))
    data: str | None = None
    threshold: float = 4.0
    reference_fraction: float = param(REFERENCE_FRACTION, ge=0, lt=0.5)
    request: Literal["interactions", "users", "items"] = "interactions"
    model: RecommenderConfig = field(default_factory=RecommenderConfig)
    train: RecTrainConfig = field(default_factory=RecTrainConfig)
    model_seed: int = 0
    methods: tuple[MethodSpec, ...] = tuple(MethodSpec(m) for m in RECOMMENDER_METHODS)
    seeds: tuple[int, ...] = (0,)
    k: int = param(20, ge=1)
    sequential: int = param(0, ge=0)
    audit: RecommenderAuditConfig | None = None

    def validate(self) -> None:
        validate_methods_and_seeds(self, "recommender")
        if self.sequential == 1:
            self.fail("sequential", self.sequential, "0 (off) or at least 2 requests")
        if self.data is None and self.k >= self.world.n_items:
            self.fail("k", self.k, f"below the world's {self.world.n_items} items")
        if self.data is not None and not Path(self.data).is_file():
            self.fail("data", self.data, "an existing ratings file (MovieLens layout)")

    def to_dict(self) -> dict:
        data = super().to_dict()
        if self.data is None:  # synthetic runs keep their ids
            data.pop("data")
            data.pop("threshold")
            data.pop("reference_fraction")
        return data

    @property
    def headline(self) -> tuple[tuple[str, str], ...]:
        return recommender_headline(self.k)


def sequential_parts(world: InteractionWorld, kind: str, n: int, seed: int) -> list[np.ndarray]:
    """The request of ``kind`` cut into ``n`` successive requests (bool masks over the
    interactions): groups of its users / items, or of its interactions (seeded)."""
    mask = world.request(kind)
    rng = np.random.default_rng(derive_seed(seed, "sequential", kind))
    if kind == "interactions" and n > int(mask.sum()):
        raise ValueError(f"{n} sequential requests but the request has {int(mask.sum())}")
    if kind == "interactions":
        idx = rng.permutation(np.flatnonzero(mask))
        groups = np.array_split(idx, n)
        parts = []
        for g in groups:
            part = np.zeros(len(mask), dtype=bool)
            part[g] = True
            parts.append(part)
        return parts
    column = world.user if kind == "users" else world.item
    units = world.forget_users if kind == "users" else world.forget_items
    if n > len(units):
        raise ValueError(f"{n} sequential requests but the {kind} request has {len(units)}")
    return [mask & np.isin(column, g) for g in np.array_split(rng.permutation(units), n)]


#: methods that train models from scratch: they follow the spec's training recipe unless
#: their own config says otherwise (so that retraining is the oracle's recipe)
RECIPE_METHODS = ("rec_retrain", "sharded_retrain")


def recipe_defaults(method: str, train: RecTrainConfig) -> dict[str, Any]:
    """The spec's training recipe (epochs, batch size, lr, weight decay) for the methods
    that train from scratch; nothing for the others."""
    if method not in RECIPE_METHODS:
        return {}
    return {
        "epochs": train.epochs,
        "batch_size": train.batch_size,
        "lr": train.lr,
        "weight_decay": train.weight_decay,
    }


def _pairs_hash(pairs: np.ndarray) -> str:
    return content_hash({"pairs": np.ascontiguousarray(pairs).tobytes().hex()}, length=16)


@FAMILIES.register("recommender")
class Recommenders(Family):
    """Collaborative-filtering recommenders: forget interactions, users or items."""

    name = "recommender"
    spec_type = RecommenderExperimentSpec
    presets: ClassVar[dict[str, Any]] = {"world": interaction_preset}
    description = (
        "recommenders (BPR-MF, LightGCN): forget interactions, users or items; the "
        "synthetic interaction world or a MovieLens-style ratings file"
    )
    method_family = "recommender"
    smoke_overrides = (
        "world=test",
        "name=smoke",
        "train.epochs=2",
        "methods=[{name: rec_finetune, config: {epochs: 1}}]",
    )

    def __init__(self, spec: RecommenderExperimentSpec, cache: Cache) -> None:
        super().__init__(spec, cache)
        self._log: Log = lambda msg: None

    @classmethod
    def headline(cls, spec: Any) -> tuple[tuple[str, str], ...]:
        return recommender_headline(spec.k)

    @classmethod
    def presentation(cls, spec: Any) -> dict[str, Any]:
        k = spec.k
        return {
            **super().presentation(spec),
            "plots": ["frontier", "metrics", "mia_roc", "cost", "sequence"],
            "frontier": {
                "forget": "forget/rank_pct",
                "utility": f"rec/ndcg@{k}",
                "forget_axis": "removed interactions' rank percentile (the oracle's level is "
                "the goal)",
                "utility_axis": f"NDCG@{k} on the test interactions (higher is better)",
                "title": "Forgetting vs recommendation quality",
                "caption": (
                    "The removed interactions' rank percentile against NDCG. The oracle's level "
                    "(dashed) is the goal: a model that never saw them still ranks what a user "
                    "liked above what they did not."
                ),
                "log": False,
            },
            "audit_measure": "top-K hits of the removed interactions",
            "summary": [
                (
                    f"data: {spec.data} (ratings ≥ {spec.threshold})"
                    if spec.data
                    else f"data: the interaction world (seed {spec.world.seed}: "
                    f"{spec.world.n_users} users × {spec.world.n_items} items)"
                )
                + f"; forget request {spec.request}; model {spec.model.arch}",
                f"rankings cut at K = {k}; sequential requests: {spec.sequential or 'off'}",
            ],
            "sequence_panels": [
                ["requested", "top-K hits: requested so far"],
                ["pending", "top-K hits: not yet requested"],
                ["forget_rank_pct", "rank percentile: requested"],
                ["retain", f"Recall@{k} (all users)"],
                ["model_utility", f"NDCG@{k} (all users)"],
            ],
            "sequence_caption": (
                "Sequential requests: the request applied in successive parts by each method "
                "(one method instance, so a one-off setup is paid once), the oracle retrained "
                "after each. Top-K hits of the interactions requested so far should fall to the "
                "oracle's level and stay; those not yet requested and the utility should stay."
            ),
        }

    # -- inputs -----------------------------------------------------------------------------
    @cached_property
    def world(self) -> InteractionWorld:
        spec = self.spec
        if spec.data is None:
            world = generate_interactions(spec.world)
        else:
            from unlearnkit.data.interactions import load_movielens

            ratings = load_movielens(spec.data, threshold=spec.threshold, drop_empty_users=True)
            world = world_from_interactions(
                ratings, spec.world, reference_fraction=spec.reference_fraction
            )
            self._log(
                f"loaded {len(ratings.user)} interactions of {ratings.n_users} users and "
                f"{ratings.n_items} items from {spec.data} "
                f"({int(world.mask('reference').sum())} held out as the membership reference)"
            )
        if spec.k >= world.n_items:
            raise ConfigError(
                "RecommenderExperimentSpec", "k", spec.k, f"below the data's {world.n_items} items"
            )
        return world

    @cached_property
    def splits(self) -> RecommenderSplits:
        return RecommenderSplits.from_world(self.world, self.spec.request)

    @cached_property
    def parts(self) -> list[np.ndarray]:
        spec = self.spec
        if not spec.sequential:
            return []
        try:
            return sequential_parts(self.world, spec.request, spec.sequential, spec.model_seed)
        except ValueError as exc:
            raise ConfigError(
                "RecommenderExperimentSpec", "sequential", spec.sequential, str(exc)
            ) from None

    @cached_property
    def base_key(self) -> dict[str, Any]:
        return {
            "world": self.world.spec.to_dict(),
            "interactions": self.world.fingerprint(),
            "model": self.spec.model.to_dict(),
            "train": self.spec.train.to_dict(),
            "versions": key_versions(),
        }

    @property
    def eval_config(self) -> RecEvalConfig:
        return RecEvalConfig(k=self.spec.k, seed=self.spec.model_seed)

    def _key(self, role: str, pairs: np.ndarray) -> dict[str, Any]:
        seed = self.spec.model_seed
        return {**self.base_key, "role": role, "data": _pairs_hash(pairs), "seed": seed}

    def _role_pairs(self, role: str) -> np.ndarray:
        if role == "target":
            return self.world.pairs(self.world.mask("train"))
        if role == "oracle":
            return self.splits.retain
        raise ValueError(f"the recommender family builds target and oracle, not {role!r}")

    def trained(self, role: str, pairs: np.ndarray) -> tuple[Path, float, bool]:
        """A cached model trained on ``pairs``: (directory, seconds its training took,
        whether it was trained now)."""
        from unlearnkit.runner.build import pinned_threads

        seed = self.spec.model_seed
        spent = {"s": 0.0}

        def make(tmp: Path) -> None:
            model = build_recommender(
                self.spec.model, self.world.n_users, self.world.n_items, seed=seed
            )
            with pinned_threads(1):
                t0 = time.perf_counter()
                train_recommender(
                    model, pairs[:, 0], pairs[:, 1], self.spec.train.replace(seed=seed)
                )
                spent["s"] = time.perf_counter() - t0
            RecommenderAdapter(model).save(tmp / "model", extra={"train_seconds": spent["s"]})

        path, fresh = self.cache.get_or_build("recommenders", self._key(role, pairs), make)
        meta = json.loads((path / "model" / "config.json").read_text())
        return path / "model", float(meta.get("train_seconds", math.nan)), fresh

    @cached_property
    def target(self) -> RecommenderAdapter:
        return RecommenderAdapter.from_pretrained(
            self.trained("target", self._role_pairs("target"))[0]
        )

    @cached_property
    def oracle(self) -> RecommenderAdapter:
        return RecommenderAdapter.from_pretrained(
            self.trained("oracle", self._role_pairs("oracle"))[0]
        )

    @property
    def _oracle_seconds(self) -> float:
        return self.trained("oracle", self._role_pairs("oracle"))[1]

    def prepare(self, log: Log) -> Prepared:
        self._log = log
        _ = self.parts  # a bad ``sequential`` fails before any training
        keys = {r: self._key(r, self._role_pairs(r)) for r in ("target", "oracle")}
        return Prepared(
            target_dir=self.cache.path("recommenders", keys["target"]) / "model",
            oracle_dir=self.cache.path("recommenders", keys["oracle"]) / "model",
            missing=tuple(r for r, k in keys.items() if not self.cache.has("recommenders", k)),
        )

    def build(self, role: str, progress: bool) -> Step:
        path, seconds, fresh = self.trained(role, self._role_pairs(role))
        return Step(path, fresh, seconds if fresh else 0.0)

    def oracle_cost(self) -> dict[str, Any] | None:
        return {"wall_time_s": self._oracle_seconds}

    # -- steps ------------------------------------------------------------------------------
    def _config(self, method: MethodSpec, seed: int) -> dict[str, Any]:
        """The method's resolved config: the spec's training recipe for the methods that
        train from scratch, the spec's overrides, the seed."""
        from unlearnkit.methods.api import method_config

        given = {**recipe_defaults(method.name, self.spec.train), **method.config, "seed": seed}
        return method_config(method.name, given).to_dict()

    def unlearn(self, method: MethodSpec, seed: int, progress: bool) -> Unlearned:
        from unlearnkit.methods.recommender.base import unlearn_recommender
        from unlearnkit.runner.build import pinned_threads

        config = self._config(method, seed)
        key = {
            "target": self.target.fingerprint(),
            "method": method.name,
            "config": config,
            "forget": _pairs_hash(self.splits.forget),
            "retain": _pairs_hash(self.splits.retain),
            "versions": key_versions(),
        }

        def make(tmp: Path) -> None:
            # one thread, as the oracle was trained: the speed-ups compare like with like
            with torch.random.fork_rng(devices=[]), pinned_threads(1):
                unlearn_recommender(
                    self.target,
                    self.splits.forget,
                    self.splits.retain,
                    method.name,
                    config=config,
                    out_dir=tmp,
                )

        path, fresh = self.cache.get_or_build("unlearned_recommenders", key, make)
        record = read_json(path / "record.json")
        secs = float(record["wall_time_s"]) if fresh else 0.0
        return Unlearned(path / "model", path / "record.json", record["config"], fresh, secs)

    def evaluate(self, subject: Subject) -> Step:
        assert subject.model_dir is not None
        model = RecommenderAdapter.from_pretrained(subject.model_dir)
        key = {
            "model": model.fingerprint(),
            "target": self.target.fingerprint(),
            "oracle": self.oracle.fingerprint(),
            "splits": self._splits_key(),
            "eval": self.eval_config.to_dict(),
            "record": file_hash(subject.record),
            "versions": key_versions(),
        }

        def make(tmp: Path) -> None:
            results = evaluate_recommender(
                model, self.splits, before=self.target, oracle=self.oracle, config=self.eval_config
            )
            figures = None
            if subject.record is not None:
                figures = efficiency(read_json(subject.record), self._oracle_seconds)
            report = {
                "kind": "unlearnkit.recommender_eval",
                "results": {
                    "mia": {"interaction_mia": results["mia/auc"].to_dict()},
                    "all": {k: r.to_dict() for k, r in results.items()},
                },
                "efficiency": figures,
            }
            atomic_write_json(tmp / "report.json", strict_json(report))

        return self.cached("recommender_evaluations", key, make, "report.json")

    def _splits_key(self) -> dict[str, Any]:
        s = self.splits
        return {
            "kind": self.spec.request,
            **{n: _pairs_hash(getattr(s, n)) for n in ("retain", "forget", "val", "test")},
        }

    def audit(self, subject: Subject) -> Step | None:
        from unlearnkit.audit.recommender import audit_recommender, summary

        cfg = self.spec.audit
        if cfg is None:
            return None
        assert subject.model_dir is not None
        model = RecommenderAdapter.from_pretrained(subject.model_dir)
        key = {
            "kind": "recommender",
            "model": model.fingerprint(),
            "audit": cfg.to_dict(),
            "k": self.spec.k,
            "splits": self._splits_key(),
            "versions": key_versions(),
        }

        def make(tmp: Path) -> None:
            results = audit_recommender(model, self.splits, cfg, self.spec.k)
            atomic_write_json(tmp / "audit.json", strict_json(audit_payload(results, summary)))

        return self.cached("audits", key, make, "audit.json")

    def sequenced(self, subject: Subject) -> bool:
        return (
            bool(self.parts)
            and subject.kind != "target"
            and (subject.seed is None or subject.seed == self.spec.seeds[0])
        )

    def sequence(self, subject: Subject) -> Step:
        m = subject.method
        config = (
            self._config(m, subject.seed) if m is not None and subject.seed is not None else None
        )
        key = {
            "kind": "recommender",
            "method": m.name if m is not None else None,
            "config": config,
            "base": self.base_key,
            "request": self.spec.request,
            "parts": [_pairs_hash(np.flatnonzero(p)) for p in self.parts],
            "eval": self.eval_config.to_dict(),
        }

        def make(tmp: Path) -> None:
            history = self._sequence_of(m.name if m is not None else None, config)
            payload = {"kind": "unlearnkit.sequence", "version": 1, "history": history}
            atomic_write_json(tmp / "sequence.json", strict_json(payload))

        return self.cached("sequences", key, make, "sequence.json")

    def _sequence_of(self, method: str | None, config: dict | None) -> list[dict[str, Any]]:
        """The history of ``method`` (None: the oracle, retrained at every step)."""
        from unlearnkit.methods import METHODS
        from unlearnkit.methods.api import method_config
        from unlearnkit.methods.recommender.base import RecommenderMethod, unlearn_recommender
        from unlearnkit.runner.build import pinned_threads

        spec, world, target, eval_cfg = self.spec, self.world, self.target, self.eval_config

        instance: RecommenderMethod | None = None
        if method is not None:
            instance = METHODS.get(method)(method_config(method, config))
        model = target
        done = np.zeros(len(world.user), dtype=bool)
        history = []
        for step, part in enumerate(self.parts, start=1):
            done |= part
            now = RecommenderSplits.from_world(world, spec.request, done)
            step_oracle_dir, step_oracle_s = self.trained(f"oracle-{step}", now.retain)[:2]
            step_oracle = RecommenderAdapter.from_pretrained(step_oracle_dir)
            if instance is None:
                model, wall = step_oracle, step_oracle_s
            else:
                with pinned_threads(1):
                    model, record = unlearn_recommender(
                        model, world.pairs(part), now.retain, instance
                    )
                wall = record.wall_time_s
            res = evaluate_recommender(
                model, now, before=target, oracle=step_oracle, config=eval_cfg
            )
            pending = world.request(spec.request) & ~done
            pend = (
                RecommenderSplits.from_world(world, spec.request, pending)
                if pending.any()
                else None
            )
            pend_hit = (
                evaluate_recommender(model, pend, config=eval_cfg)[f"forget/hit@{spec.k}"].aggregate
                if pend is not None
                else math.nan
            )
            o_res = evaluate_recommender(step_oracle, now, config=eval_cfg)
            history.append(
                {
                    "request": step,
                    "records": int(part.sum()),
                    # the LM runs' knowledge panels: top-K hits of the requested / pending
                    # interactions, and utility
                    "requested": res[f"forget/hit@{spec.k}"].aggregate,
                    "pending": pend_hit,
                    "retain": res[f"rec/recall@{spec.k}"].aggregate,
                    "model_utility": res[f"rec/ndcg@{spec.k}"].aggregate,
                    "wall_time_s": wall,
                    "speedup": step_oracle_s / wall if wall > 0 else math.inf,
                    "forget_rank_pct": res["forget/rank_pct"].aggregate,
                    "oracle_forget_rank_pct": o_res["forget/rank_pct"].aggregate,
                    "mia_auc": res["mia/auc"].aggregate,
                    "oracle_mia_auc": o_res["mia/auc"].aggregate,
                    "forgotten_so_far": int(done.sum()),
                    "retained": len(now.retain),
                }
            )
        return history


__all__ = [
    "RECIPE_METHODS",
    "RECOMMENDER_METHODS",
    "RecommenderExperimentSpec",
    "Recommenders",
    "recipe_defaults",
    "recommender_headline",
    "sequential_parts",
]
