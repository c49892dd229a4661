"""``unlearnkit run classifier``: the identity-level instance-unlearning experiment
(MUFAC / MUCAC-style) with the same protocol and outputs as the LM runs.

The identity world, the target (trained on every train image) and the exact oracle
(trained on the retain images only) are cached by content hash; each method × seed is
unlearned from the target (cached), evaluated (accuracies, membership attacks incl. LiRA
with shadow models, NoMUS, representation against the oracle), optionally audited
(relearning on half of each forgotten person's images, quantization, weight noise), and
scored with the NeurIPS 2023 challenge's ε-score from ``challenge_n`` unlearned models
(unlearning seeds 0..N-1) against ``challenge_n`` retrained ones. ``results.json`` has the
LM runs' layout (rows for target, oracle, methods; a ``headline``), so ``unlearnkit
report`` and the tables read it unchanged.
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

from unlearnkit.core.cache import Cache
from unlearnkit.core.config import Config, param
from unlearnkit.core.io import atomic_write_json, strict_json
from unlearnkit.data.images import ClassificationData
from unlearnkit.data.world.identities import (
    ATTRIBUTE_NAMES,
    IdentitySpec,
    IdentityWorld,
    generate_identities,
    identity_preset,
)
from unlearnkit.evaluation.api import library_versions
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
from unlearnkit.models.vision import (
    ClassifierConfig,
    build_classifier,
    classifier_preset,
    task_loss,
)
from unlearnkit.runner.run import Row, RunResult, _update_index, run_folder, run_status
from unlearnkit.runner.spec import MethodSpec, validate_methods_and_seeds

#: the classifier leaderboard's columns
CLASSIFIER_HEADLINE: tuple[tuple[str, str], ...] = (
    ("forget acc", "acc/forget"),
    ("retain acc", "acc/retain"),
    ("test acc", "acc/test"),
    ("MIA (logistic)", "mia/logistic"),
    ("LiRA AUC", "mia/lira"),
    ("NoMUS", "nomus"),
    ("epsilon-score F", "challenge/F"),
)
CLASSIFIER_METHODS = (
    "finetune",
    "cf_k",
    "neg_grad",
    "neg_grad_plus",
    "random_label",
    "salun",
    "scrub",
    "bad_teacher",
    "l1_sparse",
    "unsir",
)


@dataclass(frozen=True)
class ClassifierAuditConfig(Config):
    """relearn_steps: SGD steps on half of each forgotten person's images (lr relearn_lr),
    measured on the other half. bits / noise: quantization and relative weight noise."""

    relearn_steps: tuple[int, ...] = (4, 16)
    relearn_lr: float = param(0.01, gt=0)
    bits: tuple[int, ...] = (8, 4)
    noise: tuple[float, ...] = (0.01, 0.03)
    seed: int = 0


@dataclass(frozen=True)
class ClassifierExperimentSpec(Config):
    """A classifier experiment. world: the identity world. task: ``age`` (one age band per
    image, MUFAC-like) or ``attributes`` (the four binary attributes, multi-label,
    MUCAC-like). model / train / model_seed: the target's and oracle's recipe
    (``model.n_classes`` and ``model.multilabel`` follow the task). methods × seeds.
    challenge_n: N unlearned and N retrained models for the ε-score (0: off). shadows: LiRA
    shadow models (0: off). audit: the robustness attacks, or none."""

    kind: Literal["classifier"] = "classifier"
    name: str = "faces"
    world: IdentitySpec = field(default_factory=lambda: identity_preset("demo"))
    task: Literal["age", "attributes"] = "age"
    model: ClassifierConfig = field(default_factory=lambda: classifier_preset("cnn"))
    train: ClassifierTrainConfig = field(default_factory=lambda: ClassifierTrainConfig(epochs=60))
    model_seed: int = 0
    methods: tuple[MethodSpec, ...] = tuple(MethodSpec(m) for m in CLASSIFIER_METHODS)
    seeds: tuple[int, ...] = (0,)
    challenge_n: int = param(8, ge=0)
    shadows: int = param(8, ge=0)
    audit: ClassifierAuditConfig | None = None

    def validate(self) -> None:
        validate_methods_and_seeds(self, "classifier")
        if self.shadows == 1:
            self.fail("shadows", self.shadows, "0 (off) or at least 2")

    @property
    def headline(self) -> tuple[tuple[str, str], ...]:
        return CLASSIFIER_HEADLINE

    @property
    def model_config(self) -> ClassifierConfig:
        if self.task == "attributes":
            return self.model.replace(n_classes=len(ATTRIBUTE_NAMES), multilabel=True)
        return self.model.replace(n_classes=self.world.n_age_bands)

    def to_dict(self) -> dict:
        data = super().to_dict()
        if self.task == "age":  # single-label runs keep their ids
            data.pop("task")
        return data


def _versions() -> dict[str, str]:
    v = library_versions()
    return {"torch": v["torch"], "unlearnkit": v["unlearnkit"]}


class _Run:
    """The cached artefacts of one classifier experiment."""

    def __init__(self, spec: ClassifierExperimentSpec, cache: Cache, log: Callable[[str], None]):
        self.spec, self.cache, self.log = spec, cache, log
        self.world: IdentityWorld = generate_identities(spec.world)
        self.splits = {
            s: self.world.split(s, spec.task)
            for s in ("forget", "retain", "test", "unseen", "train")
        }
        self.base_key = {
            "world": spec.world.to_dict(),
            "model": spec.model_config.to_dict(),
            "train": spec.train.to_dict(),
            "versions": _versions(),
        }

    # -- training ---------------------------------------------------------------------------
    def train(self, data: ClassificationData, seed: int) -> ClassifierAdapter:
        from unlearnkit.runner.build import pinned_threads

        model = build_classifier(self.spec.model_config, seed=seed)
        with pinned_threads(1):
            train_classifier(model, data.images, data.labels, self.spec.train.replace(seed=seed))
        return ClassifierAdapter(model)

    def trained(self, role: str, data: ClassificationData, seed: int) -> tuple[Path, float]:
        """A cached model trained on ``data`` (role names it): (directory, seconds spent)."""
        key = {**self.base_key, "role": role, "data": data.fingerprint(), "seed": seed}
        spent = {"s": 0.0}

        def make(tmp: Path) -> None:
            t0 = time.perf_counter()
            adapter = self.train(data, seed)
            spent["s"] = time.perf_counter() - t0
            adapter.save(tmp / "model", extra={"role": role, "train_seconds": spent["s"]})

        path, fresh = self.cache.get_or_build("classifiers", key, make)
        if fresh:
            self.log(f"trained {role} (seed {seed}) in {spent['s']:.1f}s")
        meta = json.loads((path / "model" / "config.json").read_text())
        return path / "model", float(meta.get("train_seconds", math.nan))

    def cached_trainer(self, role: str) -> Callable[[ClassificationData, int], ClassifierAdapter]:
        """A trainer (data, seed) -> adapter whose models are cached under ``role``."""

        def train(data: ClassificationData, seed: int) -> ClassifierAdapter:
            return ClassifierAdapter.from_pretrained(self.trained(role, data, seed)[0])

        return train

    def population(
        self, role: str, data: ClassificationData, seeds: list[int]
    ) -> list[ClassifierAdapter]:
        return [ClassifierAdapter.from_pretrained(self.trained(role, data, s)[0]) for s in seeds]


def run_classifier_experiment(
    spec: ClassifierExperimentSpec,
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
        return _run_classifier_experiment(spec, cache=cache, runs_dir=runs_dir, log=log)


def _run_classifier_experiment(
    spec: ClassifierExperimentSpec,
    *,
    cache: Cache | None,
    runs_dir: str | Path,
    log: Callable[[str], None],
) -> RunResult:
    from unlearnkit.evaluation.classifier import evaluate_classifier
    from unlearnkit.evaluation.classifier.population import (
        challenge_score,
        lira_attack,
        shadow_models,
    )
    from unlearnkit.methods.api import method_config
    from unlearnkit.methods.base import METHODS
    from unlearnkit.methods.classifier.base import unlearn_classifier

    cache = cache or Cache()
    t_run = time.perf_counter()
    run = _Run(spec, cache, log)
    s = run.splits
    target_dir, target_s = run.trained("target", s["train"], spec.model_seed)
    oracle_dir, oracle_s = run.trained("oracle", s["retain"], spec.model_seed)
    target = ClassifierAdapter.from_pretrained(target_dir)
    oracle = ClassifierAdapter.from_pretrained(oracle_dir)

    shadows = None
    pool = None
    if spec.shadows:
        pool = ClassificationData(
            torch.cat([s["train"].images, s["unseen"].images]),
            torch.cat([s["train"].labels, s["unseen"].labels]),
            torch.cat([s["train"].identity, s["unseen"].identity]),
            name="pool",
        )
        t0 = time.perf_counter()
        shadows = shadow_models(
            run.cached_trainer("shadow"), pool, spec.shadows, seed=spec.model_seed
        )
        log(f"{spec.shadows} shadow models ready in {time.perf_counter() - t0:.1f}s")
        forget_people = np.asarray(run.world.identities["forget"])
        members = np.flatnonzero(np.isin(pool.identity.numpy(), forget_people))
        nonmembers = np.arange(len(s["train"]), len(pool))

    retrained: list[ClassifierAdapter] = []
    if spec.challenge_n:
        seeds = [spec.model_seed + 1 + i for i in range(spec.challenge_n)]
        t0 = time.perf_counter()
        retrained = run.population("retrained", s["retain"], seeds)
        log(f"{spec.challenge_n} retrained models ready in {time.perf_counter() - t0:.1f}s")

    run_dir = run_folder(spec, runs_dir)
    (run_dir / "reports").mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []

    def measure(
        label: str,
        kind: str,
        adapter: ClassifierAdapter,
        method: str | None,
        seed: int | None,
        efficiency: dict | None,
        config: dict,
        paper: str | None,
        challenge: Any = None,
    ) -> None:
        results = evaluate_classifier(adapter, s, oracle=oracle)
        if shadows is not None:
            results["mia/lira"] = lira_attack(adapter, shadows, members, nonmembers)
        metrics = {k: r.aggregate for k, r in results.items()}
        if challenge is not None:
            metrics.update(
                {
                    "challenge/F": challenge.forgetting_quality,
                    "challenge/score": challenge.score,
                    "challenge/retain_ratio": challenge.retain_ratio,
                    "challenge/test_ratio": challenge.test_ratio,
                }
            )
        report = {
            "kind": "unlearnkit.classifier_eval",
            "results": {
                "mia": {
                    k.removeprefix("mia/"): r.to_dict()
                    for k, r in results.items()
                    if k.startswith("mia/")
                },
                "all": {k: r.to_dict() for k, r in results.items()},
            },
            "challenge": challenge.to_dict() if challenge is not None else None,
        }
        slug = "".join(c if c.isalnum() or c in "-_+" else "_" for c in label)
        rel = f"reports/{slug}.json"
        atomic_write_json(run_dir / rel, strict_json(report))
        audit = _audit(adapter, run, spec.audit) if spec.audit is not None else None
        rows.append(
            Row(
                label=label,
                kind=kind,
                method=method,
                seed=seed,
                metrics=metrics,
                ci={},
                report=rel,
                model_dir=str(adapter_dir.get(label, "")),
                efficiency=efficiency,
                config=config,
                paper=paper,
                audit=audit,
            )
        )
        log(f"evaluated {label}")

    adapter_dir = {"target": target_dir, "oracle": oracle_dir}
    measure("target", "target", target, None, None, None, {}, None)
    measure("oracle", "oracle", oracle, None, None, None, {}, None)
    for m in spec.methods:
        for seed in spec.seeds:
            label = m.display if len(spec.seeds) == 1 else f"{m.display} (seed {seed})"
            resolved = method_config(m.name, {**m.config, "seed": seed}).to_dict()
            key = {
                "target": target.fingerprint(),
                "method": m.name,
                "config": resolved,
                "seed": seed,
                "data": [s["forget"].fingerprint(), s["retain"].fingerprint()],
                "versions": _versions(),
            }

            def make(tmp: Path, m=m, seed=seed) -> None:
                unlearn_classifier(
                    target,
                    s["forget"],
                    s["retain"],
                    m.name,
                    out_dir=tmp,
                    config={**m.config, "seed": seed},
                )

            path, fresh = cache.get_or_build("unlearned_classifiers", key, make)
            record = json.loads((path / "record.json").read_text())
            if fresh:
                log(f"unlearned {label} in {record['wall_time_s']:.2f}s")
            adapter = ClassifierAdapter.from_pretrained(path / "model")
            adapter_dir[label] = path / "model"
            challenge = None
            if spec.challenge_n and seed == spec.seeds[0]:
                unlearned = [
                    unlearn_classifier(
                        target,
                        s["forget"],
                        s["retain"],
                        m.name,
                        config={**m.config, "seed": 1000 + i},
                    )[0]
                    for i in range(spec.challenge_n)
                ]
                challenge = challenge_score(
                    unlearned, retrained, s["forget"], s["retain"], s["test"], seed=spec.model_seed
                )
            wall = float(record["wall_time_s"])
            total = int(record["parameters_total"])
            efficiency = {
                "wall_time_s": wall,
                "peak_memory_mb": float(record["peak_memory_mb"]),
                "steps": int(record["steps"]),
                "parameters_changed": int(record["parameters_changed"]),
                "parameters_total": total,
                "fraction_changed": int(record["parameters_changed"]) / total
                if total
                else math.nan,
                "time_fraction_of_retraining": wall / oracle_s if oracle_s else math.nan,
                "retrain_time_s": oracle_s,
            }
            measure(
                label,
                "method",
                adapter,
                m.name,
                seed,
                efficiency,
                record["config"],
                METHODS.entry(m.name).meta.get("paper"),
                challenge,
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
    data["family"] = "classifier"
    atomic_write_json(run_dir / "results.json", strict_json(data))
    spec.to_yaml(run_dir / "spec.yaml")
    _update_index(Path(runs_dir), result)
    return result


def _audit(adapter: ClassifierAdapter, run: _Run, cfg: ClassifierAuditConfig) -> dict[str, float]:
    """Forget accuracy after each attack: quantization, noise, relearning (on half of each
    forgotten person's images, measured on the rest)."""
    import copy

    from unlearnkit.audit.quantization import quantized_copy
    from unlearnkit.audit.tampering import noisy_copy

    forget = run.splits["forget"]
    out = {"forget": adapter.accuracy(forget.images, forget.labels)}
    for b in cfg.bits:
        out[f"int{b}"] = adapter.like(quantized_copy(adapter.model, b)).accuracy(
            forget.images, forget.labels
        )
    for scale in cfg.noise:
        out[f"noise {scale}"] = adapter.like(
            noisy_copy(adapter.model, scale, seed=cfg.seed)
        ).accuracy(forget.images, forget.labels)
    rng = np.random.default_rng(cfg.seed)
    people = forget.identity.numpy()
    taught = np.zeros(len(people), bool)
    for p in np.unique(people):
        idx = np.flatnonzero(people == p)
        taught[rng.permutation(idx)[: len(idx) // 2]] = True
    t_idx, m_idx = torch.as_tensor(np.flatnonzero(taught)), torch.as_tensor(np.flatnonzero(~taught))
    model = copy.deepcopy(adapter.model)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.relearn_lr, momentum=0.9)
    g = torch.Generator().manual_seed(cfg.seed)
    done = 0
    out["relearn@0"] = adapter.accuracy(forget.images[m_idx], forget.labels[m_idx])
    # batch-norm statistics stay frozen (eval mode): batches of one person's few images
    # would otherwise rewrite them, and the attack is about the weights
    model.eval()
    for target_steps in sorted(cfg.relearn_steps):
        while done < target_steps:
            pick = t_idx[torch.randint(len(t_idx), (min(16, len(t_idx)),), generator=g)]
            loss = task_loss(model(forget.images[pick]), forget.labels[pick])
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
        out[f"relearn@{target_steps}"] = adapter.like(model).accuracy(
            forget.images[m_idx], forget.labels[m_idx]
        )
    return out


def is_classifier_spec(source: str | Path | None) -> bool:
    """Whether ``source`` names the classifier experiment: ``classifier``, or a YAML file
    with ``kind: classifier``."""
    from unlearnkit.runner.spec import spec_kind

    return spec_kind(source) == "classifier"


def load_classifier_spec(
    source: str | Path | None, overrides: list[str] | None = None
) -> ClassifierExperimentSpec:
    """A classifier spec from a YAML file (``kind: classifier``) or the shipped default, with
    ``key=value`` overrides (``world=<preset>``, ``model=<preset>`` take presets)."""
    from unlearnkit.runner.spec import load_family_spec

    return load_family_spec(
        ClassifierExperimentSpec,
        source,
        overrides,
        {"world": identity_preset, "model": classifier_preset},
    )


__all__ = [
    "CLASSIFIER_HEADLINE",
    "ClassifierAuditConfig",
    "ClassifierExperimentSpec",
    "is_classifier_spec",
    "load_classifier_spec",
    "run_classifier_experiment",
]
