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

* with LiRA's shadow models (``shadows=``): ``mia/lira`` (values: the LiRA scores).

Oracle-relative gaps (``|value − oracle's|``) are what a table should compare: the oracle
is the goal, not 0 or 0.5.

Each measure is a registered metric of the classifier family
(:mod:`~unlearnkit.evaluation.classifier.metrics`); this evaluation runs every one, in
registration order, sharing the model's outputs between them. The challenge's ε-score is a
function of many models (:mod:`~unlearnkit.evaluation.classifier.population`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from unlearnkit.core.config import Config, param
from unlearnkit.core.results import Result
from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.classifier.metrics import (
    SPLITS,
    ClassifierMetric,
    ClassifierOutputs,
    Representation,
    identity_probe,
)
from unlearnkit.evaluation.classifier.population import Shadows
from unlearnkit.evaluation.metrics.base import family_metric_classes
from unlearnkit.models.adapters.classifier import ClassifierAdapter


@dataclass(frozen=True)
class ClassifierEvalConfig(Config):
    """cv_splits: folds of the logistic MIA. knn_k: neighbours. seed: every random cut."""

    cv_splits: int = param(5, ge=2)
    knn_k: int = param(5, ge=1)
    seed: int = 0


def classifier_metrics() -> list[type[ClassifierMetric]]:
    """The classifier family's registered metrics (audits excluded), in report order."""
    return family_metric_classes("classifier", ClassifierMetric)


def evaluate_classifier(
    model: ClassifierAdapter,
    splits: Mapping[str, ClassificationData],
    *,
    oracle: ClassifierAdapter | None = None,
    shadows: Shadows | None = None,
    config: ClassifierEvalConfig | None = None,
) -> dict[str, Result]:
    """Every classifier measure of ``model`` on ``splits`` (forget, retain, test, unseen):
    each registered classifier metric, configured from ``config``, except those that need
    the oracle or the shadow models when they are not given."""
    cfg = config or ClassifierEvalConfig()
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"classifier evaluation needs the splits {SPLITS}; missing {missing}")
    outputs = ClassifierOutputs(model)
    out: dict[str, Result] = {}
    for cls in classifier_metrics():
        if (cls.needs_oracle and oracle is None) or (cls.needs_shadows and shadows is None):
            continue
        out.update(cls.sharing(cfg).compute(outputs, splits, oracle=oracle, shadows=shadows))
    return out


def representation_measures(
    model: ClassifierAdapter,
    oracle: ClassifierAdapter,
    splits: Mapping[str, ClassificationData],
    cfg: ClassifierEvalConfig,
) -> dict[str, Result]:
    """CKA with the oracle per block, k-NN accuracy on features, the identity probe (the
    ``representation`` metric)."""
    return Representation.sharing(cfg).compute(model, splits, oracle=oracle)


def summary(results: Mapping[str, Result]) -> dict[str, float]:
    """key -> aggregate."""
    return {k: r.aggregate for k, r in results.items()}


__all__ = [
    "ClassifierEvalConfig",
    "classifier_metrics",
    "evaluate_classifier",
    "identity_probe",
    "representation_measures",
    "summary",
]
