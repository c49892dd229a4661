"""Evaluation of an image classifier after an identity-level forget request (MUFAC /
MUCAC-style): accuracies, membership attacks, NoMUS, representation measures against the
oracle, and the NeurIPS 2023 challenge's ε-score over many models.

``evaluate_classifier(model, splits, oracle=...)`` returns ``{key: Result}`` with
per-example values where the quantity has them:

* ``acc/<split>``: accuracy on forget, retain, test, unseen (per example: right or not);
* ``mia/loss_threshold``, ``mia/confidence``, ``mia/entropy``, ``mia/m_entropy``: best
  balanced accuracy of one threshold separating the forget set (members) from unseen
  identities (non-members), and ``mia/loss_auc`` (per example: the member score);
* ``mia/logistic``: MUFAC's cross-validated logistic regression on losses, forget vs
  unseen; ``nomus`` = 0.5·test acc + 0.5·(1 − 2·|mia/logistic − 0.5|);
* ``mia/svc_efficacy``: SalUn's MIA-efficacy (an SVC learns retain vs test confidences
  and calls the forget set; 1 = forget looks unseen);
* with the oracle: ``repr/cka_forget@<block>`` and ``repr/cka_test@<block>`` (linear CKA
  with the oracle's features), ``repr/knn_test`` (k-NN age accuracy of test features
  against retain features) and ``repr/identity_probe`` (a logistic-regression probe that
  recognises the forgotten people from the features: trained on half of each one's images,
  tested on the other half; the oracle's value is the level a model that never saw them
  reaches, since looks alone tell people apart).

Oracle-relative gaps (``|value − oracle's|``) are what a table should compare: the oracle
is the goal, not 0 or 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnkit.core.config import Config, param
from unlearnkit.core.results import Result
from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.functional import classifier as C
from unlearnkit.evaluation.functional.representation import knn_accuracy, linear_cka
from unlearnkit.models.adapters.classifier import ClassifierAdapter

SPLITS = ("forget", "retain", "test", "unseen")


@dataclass(frozen=True)
class ClassifierEvalConfig(Config):
    """cv_splits: folds of the logistic MIA. knn_k: neighbours. seed: every random cut."""

    cv_splits: int = param(5, ge=2)
    knn_k: int = param(5, ge=1)
    seed: int = 0


def _ids(data: ClassificationData) -> list[str]:
    return [f"{data.name}:{i}:id{int(p)}" for i, p in enumerate(data.identity)]


def evaluate_classifier(
    model: ClassifierAdapter,
    splits: Mapping[str, ClassificationData],
    *,
    oracle: ClassifierAdapter | None = None,
    config: ClassifierEvalConfig | None = None,
) -> dict[str, Result]:
    """Every classifier measure of ``model`` on ``splits`` (forget, retain, test, unseen)."""
    cfg = config or ClassifierEvalConfig()
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"classifier evaluation needs the splits {SPLITS}; missing {missing}")
    out: dict[str, Result] = {}
    probs, losses = {}, {}
    for name in SPLITS:
        d = splits[name]
        probs[name] = model.probabilities(d.images)
        losses[name] = model.losses(d.images, d.labels)
        right = model.correct(d.images, d.labels).tolist()
        out[f"acc/{name}"] = Result.from_values(
            f"acc/{name}", right, higher_is_better=name != "forget", ids=_ids(d)
        )
    f, u = splits["forget"], splits["unseen"]
    # member scores: higher = member
    scores = {
        "loss_threshold": (-losses["forget"], -losses["unseen"]),
        "confidence": (
            C.true_confidence(probs["forget"], f.labels),
            C.true_confidence(probs["unseen"], u.labels),
        ),
        "entropy": (
            -C.entropy(probs["forget"], model.multilabel),
            -C.entropy(probs["unseen"], model.multilabel),
        ),
        "m_entropy": (
            -C.modified_entropy(probs["forget"], f.labels),
            -C.modified_entropy(probs["unseen"], u.labels),
        ),
    }
    ids = [f"member:{i}" for i in _ids(f)] + [f"nonmember:{i}" for i in _ids(u)]
    for name, (m, n) in scores.items():
        m, n = m.double().numpy(), n.double().numpy()
        out[f"mia/{name}"] = Result.from_values(
            f"mia/{name}",
            [*m, *n],
            higher_is_better=False,
            ids=ids,
            aggregate=C.best_threshold_accuracy(m, n),
            extra={"kind": "best balanced threshold accuracy; values: member scores"},
        )
    m, n = scores["loss_threshold"]
    out["mia/loss_auc"] = Result.from_values(
        "mia/loss_auc",
        [*m.tolist(), *n.tolist()],
        higher_is_better=False,
        ids=ids,
        aggregate=C.auc(m.numpy(), n.numpy()),
    )
    lr = C.logistic_attack_accuracy(
        losses["forget"].numpy(), losses["unseen"].numpy(), n_splits=cfg.cv_splits, seed=cfg.seed
    )
    out["mia/logistic"] = Result.from_values("mia/logistic", [lr], higher_is_better=False)
    test_acc = out["acc/test"].aggregate
    out["nomus"] = Result.from_values(
        "nomus",
        [C.nomus(test_acc, lr)],
        higher_is_better=True,
        extra={"test_acc": test_acc, "mia": lr},
    )
    conf = {
        k: C.true_confidence(probs[k], splits[k].labels).numpy()
        for k in ("retain", "test", "forget")
    }
    eff = C.svc_mia_efficacy(
        conf["retain"][:, None], conf["test"][:, None], conf["forget"][:, None], seed=cfg.seed
    )
    out["mia/svc_efficacy"] = Result.from_values("mia/svc_efficacy", [eff], higher_is_better=True)
    if oracle is not None:
        out.update(representation_measures(model, oracle, splits, cfg))
    return out


def representation_measures(
    model: ClassifierAdapter,
    oracle: ClassifierAdapter,
    splits: Mapping[str, ClassificationData],
    cfg: ClassifierEvalConfig,
) -> dict[str, Result]:
    """CKA with the oracle per block, k-NN accuracy on features, the identity probe."""
    out: dict[str, Result] = {}
    for layer in range(model.n_layers):
        for name in ("forget", "test"):
            x = model.features(splits[name].images, layer)
            y = oracle.features(splits[name].images, layer)
            key = f"repr/cka_{name}@{layer}"
            out[key] = Result.from_values(key, [linear_cka(x, y)], higher_is_better=True)
    r, t = splits["retain"], splits["test"]
    knn = knn_accuracy(
        model.features(r.images), r.labels, model.features(t.images), t.labels, cfg.knn_k
    )
    out["repr/knn_test"] = Result.from_values("repr/knn_test", [knn], higher_is_better=True)
    out["repr/identity_probe"] = Result.from_values(
        "repr/identity_probe",
        [identity_probe(model, splits["forget"], cfg.seed)],
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


def summary(results: Mapping[str, Result]) -> dict[str, float]:
    """key -> aggregate."""
    return {k: r.aggregate for k, r in results.items()}


__all__: list[Any] = [
    "ClassifierEvalConfig",
    "evaluate_classifier",
    "identity_probe",
    "representation_measures",
    "summary",
]
