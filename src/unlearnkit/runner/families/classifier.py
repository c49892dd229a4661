"""The classifier family: identity-level instance unlearning (MUFAC / MUCAC-style).

The identity world, the target (trained on every train image) and the exact oracle
(trained on the retain images only) are cached by content hash, as are the LiRA shadow
models and the ``challenge_n`` retrained models of the ε-score. Each method × seed is
unlearned from the target (cached) and every model is evaluated (cached): accuracies,
membership attacks incl. LiRA with shadow models, NoMUS, representation against the
oracle, and for a method's first seed the NeurIPS 2023 challenge's ε-score from
``challenge_n`` unlearned models (unlearning seeds 1000..) against ``challenge_n``
retrained ones. With ``audit`` every model is attacked (relearning on half of each
forgotten person's images, quantization, weight noise).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from unlearnkit.audit.classifier import ClassifierAuditConfig, audit_classifier, summary
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
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
from unlearnkit.models.vision import (
    ClassifierConfig,
    build_classifier,
    classifier_preset,
)
from unlearnkit.runner.families.base import (
    FAMILIES,
    Family,
    Log,
    Prepared,
    RowFields,
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


#: the splits of the identity world a run uses
SPLITS = ("forget", "retain", "test", "unseen", "train")
#: the models (or populations) a run builds before its evaluations
ROLES = ("target", "oracle", "shadows", "retrained")


@FAMILIES.register("classifier")
class Classifiers(Family):
    """Image classifiers on the identity world: forget people's images."""

    name = "classifier"
    spec_type = ClassifierExperimentSpec
    presets: ClassVar[dict[str, Any]] = {"world": identity_preset, "model": classifier_preset}
    description = (
        "image classifiers: forget a set of people's face images (MUFAC / MUCAC-style), "
        "with LiRA and the NeurIPS 2023 challenge's ε-score"
    )
    method_family = "classifier"
    smoke_overrides = (
        "world=test",
        "name=smoke",
        "train.epochs=2",
        "challenge_n=0",
        "shadows=0",
        "methods=[{name: finetune, config: {epochs: 1}}]",
    )

    def __init__(self, spec: ClassifierExperimentSpec, cache: Cache) -> None:
        super().__init__(spec, cache)
        self._trained_now = 0  # models this process trained (a population's build is fresh
        # when any of its models was)
        self.base_key = {
            "world": spec.world.to_dict(),
            "model": spec.model_config.to_dict(),
            "train": spec.train.to_dict(),
            "versions": key_versions(),
        }

    @classmethod
    def headline(cls, spec: Any) -> tuple[tuple[str, str], ...]:
        return CLASSIFIER_HEADLINE

    @classmethod
    def presentation(cls, spec: Any) -> dict[str, Any]:
        return {
            **super().presentation(spec),
            "plots": ["frontier", "metrics", "mia_roc", "cost"],
            "frontier": {
                "forget": "acc/forget",
                "utility": "acc/test",
                "forget_axis": "forget accuracy (the oracle's level is the goal)",
                "utility_axis": "test accuracy (unseen images of other people; higher is better)",
                "title": "Forget vs test accuracy",
                "caption": (
                    "Forget accuracy against test accuracy. The oracle's level (dashed) is the "
                    "goal: a model that never saw these people still recognises their age bands."
                ),
                "log": False,
            },
            "audit_measure": "forget accuracy",
            "summary": [
                f"data: the identity world (seed {spec.world.seed}: "
                f"{spec.world.n_train_identities} train, {spec.world.n_forget} forgotten, "
                f"{spec.world.n_test_identities} test and {spec.world.n_unseen_identities} "
                f"unseen people); model {spec.model.arch}",
                f"epsilon-score over {spec.challenge_n} unlearned and retrained models; LiRA "
                f"with {spec.shadows} shadow models",
            ],
        }

    # -- inputs -----------------------------------------------------------------------------
    @cached_property
    def world(self) -> IdentityWorld:
        return generate_identities(self.spec.world)

    @cached_property
    def splits(self) -> dict[str, ClassificationData]:
        return {s: self.world.split(s, self.spec.task) for s in SPLITS}

    def _key(self, role: str, data: ClassificationData, seed: int) -> dict[str, Any]:
        return {**self.base_key, "role": role, "data": data.fingerprint(), "seed": seed}

    def trained(self, role: str, data: ClassificationData, seed: int) -> tuple[Path, float, bool]:
        """A cached model trained on ``data`` (role names it): (directory, seconds its
        training took, whether it was trained now)."""
        from unlearnkit.runner.build import pinned_threads

        spent = {"s": 0.0}

        def make(tmp: Path) -> None:
            t0 = time.perf_counter()
            model = build_classifier(self.spec.model_config, seed=seed)
            with pinned_threads(1):
                train_classifier(
                    model, data.images, data.labels, self.spec.train.replace(seed=seed)
                )
            spent["s"] = time.perf_counter() - t0
            ClassifierAdapter(model).save(
                tmp / "model", extra={"role": role, "train_seconds": spent["s"]}
            )

        path, fresh = self.cache.get_or_build("classifiers", self._key(role, data, seed), make)
        self._trained_now += int(fresh)
        meta = json.loads((path / "model" / "config.json").read_text())
        return path / "model", float(meta.get("train_seconds", math.nan)), fresh

    def load(self, role: str, data: ClassificationData, seed: int) -> ClassifierAdapter:
        return ClassifierAdapter.from_pretrained(self.trained(role, data, seed)[0])

    @cached_property
    def target(self) -> ClassifierAdapter:
        return self.load("target", self.splits["train"], self.spec.model_seed)

    @cached_property
    def oracle(self) -> ClassifierAdapter:
        return self.load("oracle", self.splits["retain"], self.spec.model_seed)

    @cached_property
    def pool(self) -> ClassificationData:
        """LiRA's pool: every train image (members: the forget people's) and the unseen
        people's (non-members)."""
        s = self.splits
        return ClassificationData(
            torch.cat([s["train"].images, s["unseen"].images]),
            torch.cat([s["train"].labels, s["unseen"].labels]),
            torch.cat([s["train"].identity, s["unseen"].identity]),
            name="pool",
        )

    @cached_property
    def shadows(self) -> Any:
        from unlearnkit.evaluation.classifier.population import shadow_models

        return shadow_models(
            lambda data, seed: self.load("shadow", data, seed),
            self.pool,
            self.spec.shadows,
            seed=self.spec.model_seed,
        )

    @cached_property
    def retrained(self) -> list[ClassifierAdapter]:
        seeds = [self.spec.model_seed + 1 + i for i in range(self.spec.challenge_n)]
        return [self.load("retrained", self.splits["retain"], s) for s in seeds]

    def prepare(self, log: Log) -> Prepared:
        s, seed = self.splits, self.spec.model_seed
        keys = {"target": self._key("target", s["train"], seed)}
        keys["oracle"] = self._key("oracle", s["retain"], seed)
        missing = [r for r, key in keys.items() if not self.cache.has("classifiers", key)]
        populations = tuple(
            r
            for r, n in (("shadows", self.spec.shadows), ("retrained", self.spec.challenge_n))
            if n
        )
        return Prepared(
            target_dir=self.cache.path("classifiers", keys["target"]) / "model",
            oracle_dir=self.cache.path("classifiers", keys["oracle"]) / "model",
            missing=(*missing, *populations),  # a population's job is quick once cached
            eval_needs=populations,
        )

    def build(self, role: str, progress: bool) -> Step:
        t0 = time.perf_counter()
        s, seed = self.splits, self.spec.model_seed
        before = self._trained_now
        if role == "target":
            path = self.trained(role, s["train"], seed)[0]
        elif role == "oracle":
            path = self.trained(role, s["retain"], seed)[0]
        elif role == "shadows":
            _ = self.shadows
            path = self.cache.root / "classifiers"
        elif role == "retrained":
            _ = self.retrained
            path = self.cache.root / "classifiers"
        else:
            raise ValueError(f"the classifier family builds {ROLES}, not {role!r}")
        fresh = self._trained_now > before
        return Step(path, fresh, time.perf_counter() - t0 if fresh else 0.0)

    def oracle_cost(self) -> dict[str, Any] | None:
        return {"wall_time_s": self._oracle_seconds}

    @property
    def _oracle_seconds(self) -> float:
        return self.trained("oracle", self.splits["retain"], self.spec.model_seed)[1]

    # -- steps ------------------------------------------------------------------------------
    def unlearn(self, method: MethodSpec, seed: int, progress: bool) -> Unlearned:
        from unlearnkit.methods.api import method_config
        from unlearnkit.methods.classifier.base import unlearn_classifier

        s = self.splits
        resolved = method_config(method.name, {**method.config, "seed": seed}).to_dict()
        key = {
            "target": self.target.fingerprint(),
            "method": method.name,
            "config": resolved,
            "seed": seed,
            "data": [s["forget"].fingerprint(), s["retain"].fingerprint()],
            "versions": key_versions(),
        }

        def make(tmp: Path) -> None:
            unlearn_classifier(
                self.target,
                s["forget"],
                s["retain"],
                method.name,
                out_dir=tmp,
                config={**method.config, "seed": seed},
            )

        path, fresh = self.cache.get_or_build("unlearned_classifiers", key, make)
        record = read_json(path / "record.json")
        secs = float(record["wall_time_s"]) if fresh else 0.0
        return Unlearned(path / "model", path / "record.json", record["config"], fresh, secs)

    def evaluate(self, subject: Subject) -> Step:
        spec = self.spec
        assert subject.model_dir is not None
        model = ClassifierAdapter.from_pretrained(subject.model_dir)
        challenge = (
            subject.method is not None and spec.challenge_n > 0 and subject.seed == spec.seeds[0]
        )
        key = {
            "model": model.fingerprint(),
            "oracle": self.oracle.fingerprint(),
            "base": self.base_key,
            "task": spec.task,
            "model_seed": spec.model_seed,
            "shadows": spec.shadows,
            "challenge": {
                "n": spec.challenge_n,
                "method": subject.method.name,
                "config": subject.method.config,
            }
            if challenge and subject.method is not None
            else None,
            "record": file_hash(subject.record),
        }

        def make(tmp: Path) -> None:
            report = self._report(model, subject, challenge)
            atomic_write_json(tmp / "report.json", strict_json(report))

        return self.cached("classifier_evaluations", key, make, "report.json")

    def _report(self, model: ClassifierAdapter, subject: Subject, challenge: bool) -> dict:
        from unlearnkit.evaluation.classifier import evaluate_classifier
        from unlearnkit.evaluation.classifier.population import challenge_score

        spec, s = self.spec, self.splits
        shadows = self.shadows if spec.shadows else None  # LiRA, with the shadow models
        results = evaluate_classifier(model, s, oracle=self.oracle, shadows=shadows)
        score = None
        if challenge:
            from unlearnkit.methods.classifier.base import unlearn_classifier

            assert subject.method is not None
            m = subject.method
            unlearned = [
                unlearn_classifier(
                    self.target,
                    s["forget"],
                    s["retain"],
                    m.name,
                    config={**m.config, "seed": 1000 + i},
                )[0]
                for i in range(spec.challenge_n)
            ]
            score = challenge_score(
                unlearned, self.retrained, s["forget"], s["retain"], s["test"], seed=spec.model_seed
            )
        figures = None
        if subject.record is not None:
            figures = efficiency(read_json(subject.record), self._oracle_seconds)
        return {
            "kind": "unlearnkit.classifier_eval",
            "results": {
                "mia": {
                    k.removeprefix("mia/"): r.to_dict()
                    for k, r in results.items()
                    if k.startswith("mia/")
                },
                "all": {k: r.to_dict() for k, r in results.items()},
            },
            "challenge": score.to_dict() if score is not None else None,
            "challenge_metrics": {
                "challenge/F": score.forgetting_quality,
                "challenge/score": score.score,
                "challenge/retain_ratio": score.retain_ratio,
                "challenge/test_ratio": score.test_ratio,
            }
            if score is not None
            else None,
            "efficiency": figures,
        }

    def audit(self, subject: Subject) -> Step | None:
        cfg = self.spec.audit
        if cfg is None:
            return None
        assert subject.model_dir is not None
        model = ClassifierAdapter.from_pretrained(subject.model_dir)
        forget = self.splits["forget"]
        key = {
            "kind": "classifier",
            "model": model.fingerprint(),
            "audit": cfg.to_dict(),
            "forget": forget.fingerprint(),
            "versions": key_versions(),
        }

        def make(tmp: Path) -> None:
            results = audit_classifier(model, forget, cfg)
            atomic_write_json(tmp / "audit.json", strict_json(audit_payload(results, summary)))

        return self.cached("audits", key, make, "audit.json")

    # -- rows -------------------------------------------------------------------------------
    def summarise(self, subject: Subject, report: dict[str, Any]) -> RowFields:
        fields = super().summarise(subject, report)  # and the ε-score of a method's first seed
        fields.metrics.update(
            {k: float(v) for k, v in (report.get("challenge_metrics") or {}).items()}
        )
        return fields


__all__ = [
    "CLASSIFIER_HEADLINE",
    "CLASSIFIER_METHODS",
    "ClassifierAuditConfig",
    "ClassifierExperimentSpec",
    "Classifiers",
]
