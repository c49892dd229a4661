"""``unlearnkit run recommender``: forget interactions, users or items from a recommender
(UnlearnRec / MMRecUn / RecEraser-style) with the same protocol and outputs as the other
families.

The interaction world, the target (BPR-MF or LightGCN trained on every training
interaction) and the exact oracle (trained without the request) are cached by content
hash. Each method × seed unlearns the request from the target (fresh each run: methods
take seconds, and their wall time is part of the result), is evaluated (Recall / NDCG for
all users and the touched ones, the removed interactions' ranks against the oracle's,
MI-BF, MI-NG, the membership attack on interactions) and saved under the run directory.

With ``sequential=n`` (n ≥ 2) the request is also applied as n successive requests (groups
of interactions, users or items) by each method (one instance, so a method's one-off setup
is paid once), each step compared with the oracle retrained without everything requested
so far; the history goes into each row's ``sequence``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from unlearnkit.audit.recommender import RecommenderAuditConfig, audit_recommender
from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import ConfigError
from unlearnkit.core.io import atomic_write_json, strict_json
from unlearnkit.core.seeding import derive_seed
from unlearnkit.data.world.interactions import (
    REFERENCE_FRACTION,
    REQUEST_KINDS,
    InteractionSpec,
    InteractionWorld,
    generate_interactions,
    interaction_preset,
    world_from_interactions,
)
from unlearnkit.evaluation.api import library_versions
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
from unlearnkit.runner.run import Row, RunResult, _update_index, run_folder, run_status
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


def _versions() -> dict[str, str]:
    v = library_versions()
    return {"torch": v["torch"], "unlearnkit": v["unlearnkit"]}


def _pairs_hash(pairs: np.ndarray) -> str:
    return content_hash({"pairs": np.ascontiguousarray(pairs).tobytes().hex()}, length=16)


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


class _Run:
    """The cached target and oracles of one recommender experiment."""

    def __init__(self, spec: RecommenderExperimentSpec, cache: Cache, log: Callable[[str], None]):
        self.spec, self.cache, self.log = spec, cache, log
        if spec.data is not None:
            from unlearnkit.data.interactions import load_movielens

            ratings = load_movielens(spec.data, threshold=spec.threshold, drop_empty_users=True)
            self.world = world_from_interactions(
                ratings, spec.world, reference_fraction=spec.reference_fraction
            )
            log(
                f"loaded {len(ratings.user)} interactions of {ratings.n_users} users and "
                f"{ratings.n_items} items from {spec.data} "
                f"({int(self.world.mask('reference').sum())} held out as the membership "
                "reference)"
            )
        else:
            self.world = generate_interactions(spec.world)
        if spec.k >= self.world.n_items:
            raise ConfigError(
                "RecommenderExperimentSpec",
                "k",
                spec.k,
                f"below the data's {self.world.n_items} items",
            )
        self.base_key = {
            "world": self.world.spec.to_dict(),
            "interactions": self.world.fingerprint(),
            "model": spec.model.to_dict(),
            "train": spec.train.to_dict(),
            "versions": _versions(),
        }

    def trained(self, role: str, pairs: np.ndarray) -> tuple[Path, float]:
        """A cached model trained on ``pairs``: (directory, seconds its training took)."""
        seed = self.spec.model_seed
        key = {**self.base_key, "role": role, "data": _pairs_hash(pairs), "seed": seed}
        spent = {"s": 0.0}

        def make(tmp: Path) -> None:
            from unlearnkit.runner.build import pinned_threads

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

        path, fresh = self.cache.get_or_build("recommenders", key, make)
        if fresh:
            self.log(f"trained {role} in {spent['s']:.2f}s")
        meta = json.loads((path / "model" / "config.json").read_text())
        return path / "model", float(meta.get("train_seconds", math.nan))


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


def _efficiency(record, retrain_s: float) -> dict[str, Any]:
    wall = float(record.wall_time_s)
    total = int(record.parameters_total)
    return {
        "wall_time_s": wall,
        "setup_time_s": float(record.details.get("setup_time_s", 0.0)),
        "peak_memory_mb": float(record.peak_memory_mb),
        "steps": int(record.steps),
        "parameters_changed": int(record.parameters_changed),
        "parameters_total": total,
        "fraction_changed": int(record.parameters_changed) / total if total else math.nan,
        "time_fraction_of_retraining": wall / retrain_s if retrain_s else math.nan,
        "speedup": retrain_s / wall if wall > 0 else math.inf,
        "retrain_time_s": retrain_s,
    }


def run_recommender_experiment(
    spec: RecommenderExperimentSpec,
    *,
    cache: Cache | None = None,
    runs_dir: str | Path = "runs",
    log: Callable[[str], None] = print,
) -> RunResult:
    """Run ``spec`` (see the module doc) and write ``RUNS/<name>/<id>/results.json``.

    The run directory's ``status.json`` says how the last invocation went
    (:func:`unlearnkit.runner.run.run_status`): ``running``, ``ok``, or ``failed`` with the
    error; a failed run has no ``results.json``, and ``unlearnkit report`` on it says why.
    """
    with run_status(run_folder(spec, runs_dir), spec):
        return _run_recommender_experiment(spec, cache=cache, runs_dir=runs_dir, log=log)


def _run_recommender_experiment(
    spec: RecommenderExperimentSpec,
    *,
    cache: Cache | None,
    runs_dir: str | Path,
    log: Callable[[str], None],
) -> RunResult:
    from unlearnkit.methods.api import method_config
    from unlearnkit.methods.base import METHODS
    from unlearnkit.methods.recommender.base import unlearn_recommender
    from unlearnkit.runner.build import pinned_threads

    cache = cache or Cache()
    t_run = time.perf_counter()
    run = _Run(spec, cache, log)
    world = run.world
    splits = RecommenderSplits.from_world(world, spec.request)
    train_pairs = world.pairs(world.mask("train"))
    target_dir, target_s = run.trained("target", train_pairs)
    oracle_dir, oracle_s = run.trained("oracle", splits.retain)
    target = RecommenderAdapter.from_pretrained(target_dir)
    oracle = RecommenderAdapter.from_pretrained(oracle_dir)
    eval_cfg = RecEvalConfig(k=spec.k, seed=spec.model_seed)

    run_dir = run_folder(spec, runs_dir)
    (run_dir / "reports").mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []

    try:
        parts = (
            sequential_parts(world, spec.request, spec.sequential, spec.model_seed)
            if spec.sequential
            else []
        )
    except ValueError as exc:
        raise ConfigError(
            "RecommenderExperimentSpec", "sequential", spec.sequential, str(exc)
        ) from None

    def sequence_of(method: str | None, config: dict | None) -> list[dict[str, Any]]:
        """The history of ``method`` (None: the oracle, retrained at every step)."""
        from unlearnkit.methods.recommender.base import RecommenderMethod

        instance: RecommenderMethod | None = None
        if method is not None:
            instance = METHODS.get(method)(method_config(method, config))
        model = target
        done = np.zeros(len(world.user), dtype=bool)
        history = []
        for step, part in enumerate(parts, start=1):
            done |= part
            now = RecommenderSplits.from_world(world, spec.request, done)
            step_oracle_dir, step_oracle_s = run.trained(f"oracle-{step}", now.retain)
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

    def measure(label, kind, adapter, method, seed, efficiency, config, paper, model_dir):
        results = evaluate_recommender(
            adapter, splits, before=target, oracle=oracle, config=eval_cfg
        )
        metrics = {k: r.aggregate for k, r in results.items()}
        report = {
            "kind": "unlearnkit.recommender_eval",
            "results": {
                "mia": {"interaction_mia": results["mia/auc"].to_dict()},
                "all": {k: r.to_dict() for k, r in results.items()},
            },
        }
        slug = "".join(c if c.isalnum() or c in "-_+" else "_" for c in label)
        rel = f"reports/{slug}.json"
        atomic_write_json(run_dir / rel, strict_json(report))
        audit = (
            audit_recommender(adapter, splits, spec.audit, spec.k)
            if spec.audit is not None
            else None
        )
        sequence = None
        if parts and (seed is None or seed == spec.seeds[0]) and kind != "target":
            sequence = sequence_of(method, config if method else None)
        rows.append(
            Row(
                label=label,
                kind=kind,
                method=method,
                seed=seed,
                metrics=metrics,
                ci={},
                report=rel,
                model_dir=str(model_dir),
                efficiency=efficiency,
                config=config,
                paper=paper,
                audit=audit,
                sequence=sequence,
            )
        )
        log(f"evaluated {label}")

    measure("target", "target", target, None, None, None, {}, None, target_dir)
    measure("oracle", "oracle", oracle, None, None, None, {}, None, oracle_dir)
    for m in spec.methods:
        for seed in spec.seeds:
            label = m.display if len(spec.seeds) == 1 else f"{m.display} (seed {seed})"
            config = {**recipe_defaults(m.name, spec.train), **m.config, "seed": seed}
            slug = "".join(c if c.isalnum() or c in "-_+" else "_" for c in label)
            out = run_dir / "models" / slug
            # one thread, as the oracle was trained: the speed-ups compare like with like
            with torch.random.fork_rng(devices=[]), pinned_threads(1):
                adapter, record = unlearn_recommender(
                    target, splits.forget, splits.retain, m.name, config=config, out_dir=out
                )
            log(f"unlearned {label} in {record.wall_time_s:.2f}s")
            measure(
                label,
                "method",
                adapter,
                m.name,
                seed,
                _efficiency(record, oracle_s),
                record.config,
                METHODS.entry(m.name).meta.get("paper"),
                out / "model",
            )

    result = RunResult(
        spec=spec,  # type: ignore[arg-type]
        run_dir=run_dir,
        rows=rows,
        built={},
        seconds={"target": target_s, "oracle": oracle_s},
        wall_time_s=time.perf_counter() - t_run,
        oracle_cost={"wall_time_s": oracle_s},
    )
    data = result.to_dict()
    data["family"] = "recommender"
    atomic_write_json(run_dir / "results.json", strict_json(data))
    spec.to_yaml(run_dir / "spec.yaml")
    _update_index(Path(runs_dir), result)
    return result


def is_recommender_spec(source: str | Path | None) -> bool:
    """Whether ``source`` names the recommender experiment: ``recommender``, or a YAML file
    with ``kind: recommender``."""
    from unlearnkit.runner.spec import spec_kind

    return spec_kind(source) == "recommender"


def load_recommender_spec(
    source: str | Path | None, overrides: list[str] | None = None
) -> RecommenderExperimentSpec:
    """A recommender spec from a YAML file (``kind: recommender``) or the shipped default,
    with ``key=value`` overrides (``world=<preset>`` takes a preset: test, demo)."""
    from unlearnkit.runner.spec import load_family_spec

    return load_family_spec(
        RecommenderExperimentSpec, source, overrides, {"world": interaction_preset}
    )


__all__ = [
    "RECOMMENDER_METHODS",
    "REQUEST_KINDS",
    "RecommenderExperimentSpec",
    "is_recommender_spec",
    "load_recommender_spec",
    "recommender_headline",
    "run_recommender_experiment",
    "sequential_parts",
]
