"""The classifier family's measures as registered metrics (``METRICS``, ``family="classifier"``).

Each is a small class with a typed config and ``higher_is_better``, whose
:meth:`ClassifierMetric.compute` takes the model (an adapter, or the
:class:`ClassifierOutputs` one evaluation shares between metrics), the identity world's
splits (forget, retain, test, unseen) and, for the metrics that need them, the retrain
oracle or LiRA's shadow models, and returns ``{key: Result}`` under the keys of the
family's report (``acc/forget``, ``mia/loss_auc``...). Registration order is report order:
:func:`~unlearnkit.evaluation.classifier.evaluate_classifier` runs them in it.

Per-example values where the quantity has them: right or not per image (accuracy), the
member score per image (threshold attacks, loss AUC, LiRA); the cross-validated and
probe measures are one number each. The metrics whose values are per example take a
``bootstrap`` (off by default, so that the family's reports stay as they were; e.g. 1000
turns on the 95% interval of the aggregate).

The NeurIPS 2023 challenge's ε-score (:func:`~.population.challenge_score`) stays a
function: it measures a *method*, from N models it unlearned with different seeds against
N retrained ones, not one model, and making those models needs the methods, which the
evaluation layer never imports; the runner makes them and calls it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from unlearnkit.core.config import Config, param
from unlearnkit.core.results import Result
from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.classifier.population import Shadows, lira_attack
from unlearnkit.evaluation.functional import classifier as C
from unlearnkit.evaluation.functional.representation import knn_accuracy, linear_cka
from unlearnkit.evaluation.metrics.base import (
    IntervalConfig,
    MetricBase,
    MetricError,
    register_metric,
    with_interval,
)
from unlearnkit.models.adapters.classifier import ClassifierAdapter

#: the identity world's splits a classifier evaluation reads
SPLITS = ("forget", "retain", "test", "unseen")

T = TypeVar("T")


def example_ids(data: ClassificationData) -> list[str]:
    """One id per image: ``<split>:<index>:id<person>``."""
    return [f"{data.name}:{i}:id{int(p)}" for i, p in enumerate(data.identity)]


class ClassifierOutputs:
    """One classifier's outputs, computed once per split and shared by every metric of an
    evaluation (the classifier's counterpart of the language models' ``EvalContext``):
    probabilities, per-example losses and right-or-wrong, and derived numbers two metrics
    use (the logistic attack's accuracy, which NoMUS reuses)."""

    def __init__(self, model: ClassifierAdapter) -> None:
        self.model = model
        # key -> (the objects whose ids are in the key, kept alive so that no id is reused;
        # the value)
        self._memo: dict[Hashable, tuple[tuple[object, ...], Any]] = {}

    @classmethod
    def of(cls, model: ClassifierAdapter | ClassifierOutputs) -> ClassifierOutputs:
        """``model``'s outputs: a new, empty cache for an adapter, the same for outputs."""
        return model if isinstance(model, ClassifierOutputs) else cls(model)

    def memo(self, key: Hashable, make: Callable[[], T], *keep: object) -> T:
        """``make()`` the first time ``key`` is asked for, the same value after; ``keep``:
        the objects whose ``id`` the key holds."""
        if key not in self._memo:
            self._memo[key] = (keep, make())
        return self._memo[key][1]

    def probabilities(self, data: ClassificationData) -> torch.Tensor:
        """(N, C) softmax, or (N, A) sigmoid of a multi-label model, of ``data``'s images."""
        return self.memo(
            ("probabilities", id(data)), lambda: self.model.probabilities(data.images), data
        )

    def losses(self, data: ClassificationData) -> torch.Tensor:
        """(N,) loss of each image."""
        return self.memo(
            ("losses", id(data)), lambda: self.model.losses(data.images, data.labels), data
        )

    def correct(self, data: ClassificationData) -> torch.Tensor:
        """(N,) 1 for a right prediction (multi-label: the share of right attributes)."""
        return self.memo(
            ("correct", id(data)), lambda: self.model.correct(data.images, data.labels), data
        )


@dataclass(frozen=True)
class ClassifierInputs:
    """What a classifier metric reads: the model's (shared) outputs, the splits, and the
    retrain oracle and LiRA's shadow models when the caller has them."""

    model: ClassifierOutputs
    splits: Mapping[str, ClassificationData]
    oracle: ClassifierAdapter | None = None
    shadows: Shadows | None = None


class ClassifierMetric(MetricBase, ABC):
    """A measure of an image classifier after an identity-level forget request. Subclasses
    set ``config_class``, ``higher_is_better``, the ``splits`` they read (and
    ``needs_oracle`` / ``needs_shadows``) and :meth:`measure`."""

    family: ClassVar[str] = "classifier"
    #: the splits the metric reads
    splits: ClassVar[tuple[str, ...]] = SPLITS
    #: whether it needs LiRA's shadow models
    needs_shadows: ClassVar[bool] = False

    def compute(
        self,
        model: ClassifierAdapter | ClassifierOutputs,
        splits: Mapping[str, ClassificationData],
        *,
        oracle: ClassifierAdapter | None = None,
        shadows: Shadows | None = None,
    ) -> dict[str, Result]:
        """``{key: Result}`` of ``model`` on ``splits`` (see the metric's docstring)."""
        missing = [s for s in self.splits if s not in splits]
        if missing:
            raise MetricError(
                f"{self.name} reads the splits {self.splits}; missing {missing}: pass "
                "{name: world.split(name)} for each"
            )
        if self.needs_oracle and oracle is None:
            raise MetricError(f"{self.name} compares with the retrain oracle: pass oracle=")
        if self.needs_shadows and shadows is None:
            raise MetricError(
                f"{self.name} needs LiRA's shadow models: pass shadows=shadow_models(...) "
                "(unlearnkit.evaluation.classifier.population)"
            )
        return self.measure(ClassifierInputs(ClassifierOutputs.of(model), splits, oracle, shadows))

    @abstractmethod
    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        """The results, the inputs checked."""


@dataclass(frozen=True)
class SeedConfig(Config):
    """seed: every random cut of the measure."""

    seed: int = 0


@dataclass(frozen=True)
class CrossValidatedConfig(Config):
    """cv_splits: folds of the logistic attack. seed: its folds."""

    cv_splits: int = param(5, ge=2)
    seed: int = 0


@dataclass(frozen=True)
class RepresentationConfig(Config):
    """knn_k: neighbours of the k-NN accuracy. seed: the identity probe's halves."""

    knn_k: int = param(5, ge=1)
    seed: int = 0


@dataclass(frozen=True)
class LiRAConfig(IntervalConfig):
    """online: also fit each example's in-distribution (LiRA online). fixed_variance: one
    pooled in- and out-standard deviation (LiRA's variant for few shadow models)."""

    online: bool = True
    fixed_variance: bool = True


def accuracy_result(x: ClassifierInputs, split: str) -> Result:
    """``acc/<split>``: right or not per image (higher is better, except on the forget
    split, where the oracle's level is the goal and lower means more forgotten)."""
    data = x.splits[split]
    return x.model.memo(
        ("accuracy", id(data), split),
        lambda: Result.from_values(
            f"acc/{split}",
            x.model.correct(data).tolist(),
            higher_is_better=split != "forget",
            ids=example_ids(data),
        ),
        data,
    )


def logistic_accuracy(x: ClassifierInputs, cv_splits: int, seed: int) -> float:
    """MUFAC's attack: cross-validated logistic regression on losses, forget vs unseen."""
    f, u = x.splits["forget"], x.splits["unseen"]
    return x.model.memo(
        ("logistic", id(f), id(u), cv_splits, seed),
        lambda: C.logistic_attack_accuracy(
            x.model.losses(f).numpy(), x.model.losses(u).numpy(), n_splits=cv_splits, seed=seed
        ),
        f,
        u,
    )


def member_ids(x: ClassifierInputs) -> list[str]:
    """``member:<forget image id>`` then ``nonmember:<unseen image id>``."""
    return [f"member:{i}" for i in example_ids(x.splits["forget"])] + [
        f"nonmember:{i}" for i in example_ids(x.splits["unseen"])
    ]


@register_metric("accuracy", paper="arXiv:2311.02240")
class Accuracy(ClassifierMetric):
    """Accuracy on the forget, retain, test and unseen images (``acc/<split>``).

    Per image: right or not (multi-label: the share of right attributes)."""

    config_class = IntervalConfig
    higher_is_better = True  # the forget split's result says False: see accuracy_result

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        return {f"acc/{s}": with_interval(accuracy_result(x, s), self.config) for s in SPLITS}


#: the member scores of the threshold attacks (higher = member), per image of ``data``
THRESHOLD_SCORES: dict[str, Callable[[ClassifierOutputs, ClassificationData], torch.Tensor]] = {
    "loss_threshold": lambda o, d: -o.losses(d),
    "confidence": lambda o, d: C.true_confidence(o.probabilities(d), d.labels),
    "entropy": lambda o, d: -C.entropy(o.probabilities(d), o.model.multilabel),
    "m_entropy": lambda o, d: -C.modified_entropy(o.probabilities(d), d.labels),
}


@register_metric("threshold_mia", paper="arXiv:2003.10595")
class ThresholdMIA(ClassifierMetric):
    """Threshold membership attacks, forget (members) vs unseen people (``mia/<score>``):
    the best balanced accuracy of one threshold on the loss, the true-class confidence, the
    entropy and the modified entropy (Yeom et al. 2018; Song & Mittal 2021); values: the
    member scores."""

    config_class = IntervalConfig
    higher_is_better = False
    splits = ("forget", "unseen")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        f, u = x.splits["forget"], x.splits["unseen"]
        ids = member_ids(x)
        out = {}
        for name, score in THRESHOLD_SCORES.items():
            m = score(x.model, f).double().numpy()
            n = score(x.model, u).double().numpy()
            res = Result.from_values(
                f"mia/{name}",
                [*m, *n],
                higher_is_better=False,
                ids=ids,
                aggregate=C.best_threshold_accuracy(m, n),
                extra={"kind": "best balanced threshold accuracy; values: member scores"},
            )
            out[f"mia/{name}"] = with_interval(
                res, self.config, m, n, statistic=C.best_threshold_accuracy
            )
        return out


@register_metric("loss_auc", paper="arXiv:1709.01604")
class LossAUC(ClassifierMetric):
    """ROC AUC of minus the loss separating the forget images (members) from unseen people's
    (``mia/loss_auc``; 0.5 = indistinguishable; values: the member scores)."""

    config_class = IntervalConfig
    higher_is_better = False
    splits = ("forget", "unseen")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        m = -x.model.losses(x.splits["forget"])
        n = -x.model.losses(x.splits["unseen"])
        res = Result.from_values(
            "mia/loss_auc",
            [*m.tolist(), *n.tolist()],
            higher_is_better=False,
            ids=member_ids(x),
            aggregate=C.auc(m.numpy(), n.numpy()),
        )
        return {
            "mia/loss_auc": with_interval(res, self.config, m.numpy(), n.numpy(), statistic=C.auc)
        }


@register_metric("logistic_mia", paper="arXiv:2311.02240")
class LogisticMIA(ClassifierMetric):
    """MUFAC's membership attack (``mia/logistic``): cross-validated logistic regression on
    the losses of the forget images vs unseen people's (0.5 = indistinguishable)."""

    config_class = CrossValidatedConfig
    higher_is_better = False
    splits = ("forget", "unseen")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        lr = logistic_accuracy(x, self.config.cv_splits, self.config.seed)
        return {"mia/logistic": Result.from_values("mia/logistic", [lr], higher_is_better=False)}


@register_metric("nomus", paper="arXiv:2311.02240")
class NoMUS(ClassifierMetric):
    """MUFAC's NoMUS (``nomus``): 0.5·test accuracy + 0.5·(1 − 2·|logistic MIA − 0.5|)."""

    config_class = CrossValidatedConfig
    higher_is_better = True
    splits = ("forget", "test", "unseen")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        test_acc = accuracy_result(x, "test").aggregate
        lr = logistic_accuracy(x, self.config.cv_splits, self.config.seed)
        res = Result.from_values(
            "nomus",
            [C.nomus(test_acc, lr)],
            higher_is_better=True,
            extra={"test_acc": test_acc, "mia": lr},
        )
        return {"nomus": res}


@register_metric("svc_mia_efficacy", paper="arXiv:2310.12508")
class SVCMIAEfficacy(ClassifierMetric):
    """SalUn's MIA-efficacy (``mia/svc_efficacy``): an SVC learns retain (members) vs test
    true-class confidences and calls the forget images; the share it calls non-members
    (1 = the forget set looks unseen)."""

    config_class = SeedConfig
    higher_is_better = True
    splits = ("forget", "retain", "test")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        conf = {
            k: C.true_confidence(x.model.probabilities(x.splits[k]), x.splits[k].labels).numpy()
            for k in ("retain", "test", "forget")
        }
        eff = C.svc_mia_efficacy(
            conf["retain"][:, None],
            conf["test"][:, None],
            conf["forget"][:, None],
            seed=self.config.seed,
        )
        return {
            "mia/svc_efficacy": Result.from_values("mia/svc_efficacy", [eff], higher_is_better=True)
        }


@register_metric("representation", paper="arXiv:1905.00414")
class Representation(ClassifierMetric):
    """The representation against the oracle: linear CKA with the oracle's features after
    each block on the forget and test images (``repr/cka_<split>@<block>``), the k-NN age
    accuracy of test features against retain features (``repr/knn_test``) and the identity
    probe (``repr/identity_probe``, lower is better)."""

    config_class = RepresentationConfig
    higher_is_better = True  # the identity probe's result says False
    needs_oracle = True
    splits = ("forget", "retain", "test")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        model, oracle, splits = x.model.model, x.oracle, x.splits
        assert oracle is not None  # compute checked it
        out: dict[str, Result] = {}
        for layer in range(model.n_layers):
            for name in ("forget", "test"):
                a = model.features(splits[name].images, layer)
                b = oracle.features(splits[name].images, layer)
                key = f"repr/cka_{name}@{layer}"
                out[key] = Result.from_values(key, [linear_cka(a, b)], higher_is_better=True)
        r, t = splits["retain"], splits["test"]
        knn = knn_accuracy(
            model.features(r.images),
            r.labels,
            model.features(t.images),
            t.labels,
            self.config.knn_k,
        )
        out["repr/knn_test"] = Result.from_values("repr/knn_test", [knn], higher_is_better=True)
        out["repr/identity_probe"] = Result.from_values(
            "repr/identity_probe",
            [identity_probe(model, splits["forget"], self.config.seed)],
            higher_is_better=False,
        )
        return out


def identity_probe(model: ClassifierAdapter, forget: ClassificationData, seed: int = 0) -> float:
    """Accuracy of a logistic-regression probe recognising *which* forgotten person an image
    shows from the model's last features: trained on half of each person's images (seeded),
    tested on the rest."""
    from sklearn.linear_model import LogisticRegression

    feats = model.features(forget.images).numpy()
    people = forget.identity.numpy()
    rng = np.random.default_rng(seed)
    train = np.zeros(len(people), bool)
    for p in np.unique(people):
        idx = np.flatnonzero(people == p)
        train[rng.permutation(idx)[: max(1, len(idx) // 2)]] = True
    if len(np.unique(people)) < 2 or train.all():
        return float("nan")
    probe = LogisticRegression(max_iter=2000).fit(feats[train], people[train])
    return float((probe.predict(feats[~train]) == people[~train]).mean())


@register_metric("lira", paper="arXiv:2112.03570")
class LiRA(ClassifierMetric):
    """LiRA's membership AUC with shadow models (``mia/lira``): members are the shadows'
    pool images of the people in the forget split, non-members those of the people in the
    unseen split; values: the LiRA scores (higher = member)."""

    config_class = LiRAConfig
    higher_is_better = False
    needs_shadows = True
    splits = ("forget", "unseen")

    def measure(self, x: ClassifierInputs) -> dict[str, Result]:
        shadows = x.shadows
        assert shadows is not None  # compute checked it
        people = shadows.pool.identity.numpy()

        def of(split: str) -> np.ndarray:
            return np.flatnonzero(np.isin(people, x.splits[split].identity.numpy()))

        members, nonmembers = of("forget"), of("unseen")
        if not len(members) or not len(nonmembers):
            raise MetricError(
                "LiRA's shadow pool holds none of the forget or unseen people's images; "
                "build the shadows on a pool with both (the train and unseen splits)"
            )
        cfg = self.config
        res = lira_attack(
            x.model.model,
            shadows,
            members,
            nonmembers,
            online=cfg.online,
            fixed_variance=cfg.fixed_variance,
        )
        ids = res.ids or ()
        m = [v for i, v in zip(ids, res.values, strict=True) if i.startswith("member:")]
        n = [v for i, v in zip(ids, res.values, strict=True) if i.startswith("nonmember:")]
        return {"mia/lira": with_interval(res, cfg, m, n, statistic=C.auc)}


__all__ = [
    "SPLITS",
    "Accuracy",
    "ClassifierInputs",
    "ClassifierMetric",
    "ClassifierOutputs",
    "CrossValidatedConfig",
    "IntervalConfig",
    "LiRA",
    "LiRAConfig",
    "LogisticMIA",
    "LossAUC",
    "NoMUS",
    "Representation",
    "RepresentationConfig",
    "SVCMIAEfficacy",
    "SeedConfig",
    "ThresholdMIA",
    "example_ids",
    "identity_probe",
]
