"""The classifier's and recommender's measures are registered metrics: the registry knows
each one's family and order, and ``evaluate_classifier`` / ``evaluate_recommender`` (loops
over them) report the keys, in the order, and the numbers they reported when they were
written out by hand (the numbers checked here against the functional definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearnkit.core.config import Config
from unlearnkit.core.errors import RegistryError
from unlearnkit.core.results import Result
from unlearnkit.evaluation.classifier import (
    ClassifierEvalConfig,
    classifier_metrics,
    evaluate_classifier,
    representation_measures,
)
from unlearnkit.evaluation.classifier.metrics import (
    Accuracy,
    ClassifierMetric,
    ClassifierOutputs,
    IntervalConfig,
    LogisticMIA,
)
from unlearnkit.evaluation.functional import classifier as C
from unlearnkit.evaluation.functional.ranking import mi_ng, percentile_ranks
from unlearnkit.evaluation.metrics import METRICS, MetricError, metric_family, metrics_of
from unlearnkit.evaluation.metrics.base import register_metric, with_interval
from unlearnkit.evaluation.recommender import (
    ForgetHit,
    RecEvalConfig,
    evaluate_recommender,
    random_negatives,
    recommender_metrics,
)
from unlearnkit.models.adapters.classifier import ClassifierAdapter

CLASSIFIER_KEYS = [
    "acc/forget",
    "acc/retain",
    "acc/test",
    "acc/unseen",
    "mia/loss_threshold",
    "mia/confidence",
    "mia/entropy",
    "mia/m_entropy",
    "mia/loss_auc",
    "mia/logistic",
    "nomus",
    "mia/svc_efficacy",
]
REPR_KEYS = ["repr/knn_test", "repr/identity_probe"]


def rec_keys(k: int, *, before: bool, oracle: bool) -> list[str]:
    """The recommender evaluation's keys, in order."""
    keys = [f"rec/recall@{k}", f"rec/ndcg@{k}", f"rec/recall@{k}_touched", f"rec/ndcg@{k}_touched"]
    keys += ["forget/rank_pct", f"forget/hit@{k}", "heldout/rank_pct"]
    keys += ["forget/rank_gap"] * oracle + ["mi/bf"] * before
    return [*keys, "mi/ng", "mia/auc"]


# ------------------------------------------------------------------------------ registry
def test_each_family_lists_its_metrics_in_report_order() -> None:
    assert metrics_of("classifier") == [
        "accuracy",
        "threshold_mia",
        "loss_auc",
        "logistic_mia",
        "nomus",
        "svc_mia_efficacy",
        "representation",
        "lira",
    ]
    assert metrics_of("recommender") == [
        "ranking_utility",
        "forget_rank",
        "forget_hit",
        "heldout_rank",
        "forget_rank_gap",
        "mi_bf",
        "mi_ng",
        "interaction_mia",
    ]
    assert "probability" in metrics_of() and "accuracy" not in metrics_of("lm")
    assert metrics_of("no_such_family") == []
    for family in ("classifier", "recommender"):
        for name in metrics_of(family):
            assert metric_family(name) == family
            assert METRICS.entry(name).meta["family"] == family
    assert [c.registered_name for c in classifier_metrics()] == metrics_of("classifier")
    assert [c.registered_name for c in recommender_metrics()] == metrics_of("recommender")


def test_a_family_meta_that_contradicts_the_class_is_refused() -> None:
    with pytest.raises(RegistryError, match="classifier metric"):

        @register_metric("never_registered", paper="-", family="recommender")
        class Wrong(ClassifierMetric):
            """Never registered."""

            def measure(self, x):  # pragma: no cover
                return {}

    assert "never_registered" not in METRICS


def test_sharing_takes_the_fields_both_configs_have() -> None:
    metric = LogisticMIA.sharing(ClassifierEvalConfig(cv_splits=3, knn_k=9, seed=4))
    assert (metric.config.cv_splits, metric.config.seed) == (3, 4)
    assert ForgetHit.sharing(RecEvalConfig(k=7, seed=2), bootstrap=5).config.k == 7
    assert ForgetHit.sharing(RecEvalConfig(k=7), bootstrap=5).config.bootstrap == 5


def test_with_interval_only_when_asked() -> None:
    res = Result.from_values("x", [0.0, 1.0, 1.0, 0.0, 1.0], higher_is_better=True)
    assert with_interval(res, IntervalConfig()) is res  # bootstrap 0: no interval
    assert with_interval(res, Config()) is res  # a config without one
    low, high = with_interval(res, IntervalConfig(bootstrap=200)).ci
    assert 0.0 <= low <= res.aggregate <= high <= 1.0
    nan = Result.from_values("x", [math.nan], higher_is_better=True)
    assert with_interval(nan, IntervalConfig(bootstrap=200)).ci is None


# ------------------------------------------------------------------------------ classifier
@pytest.fixture(scope="module")
def classifier(tiny_classifier, tiny_classifier_oracle):
    model, world = tiny_classifier
    splits = {s: world.split(s) for s in ("forget", "retain", "test", "unseen")}
    return ClassifierAdapter(model), ClassifierAdapter(tiny_classifier_oracle), splits


def test_classifier_evaluation_keys_and_values(classifier) -> None:
    model, oracle, splits = classifier
    bare = evaluate_classifier(model, splits)
    assert list(bare) == CLASSIFIER_KEYS
    full = evaluate_classifier(model, splits, oracle=oracle)
    cka = [f"repr/cka_{s}@{b}" for b in range(model.n_layers) for s in ("forget", "test")]
    assert list(full) == [*CLASSIFIER_KEYS, *cka, *REPR_KEYS]
    assert all(full[k] == bare[k] for k in bare)  # the oracle changes nothing else

    # the numbers, from the functional definitions
    f, u, t = splits["forget"], splits["unseen"], splits["test"]
    right = model.correct(t.images, t.labels).tolist()
    assert full["acc/test"].values == tuple(right)
    assert full["acc/forget"].higher_is_better is False and full["acc/test"].higher_is_better
    lf, lu = model.losses(f.images, f.labels), model.losses(u.images, u.labels)
    assert full["mia/loss_auc"].aggregate == C.auc((-lf).numpy(), (-lu).numpy())
    assert full["mia/loss_threshold"].aggregate == C.best_threshold_accuracy(
        (-lf).double().numpy(), (-lu).double().numpy()
    )
    lr = C.logistic_attack_accuracy(lf.numpy(), lu.numpy(), n_splits=5, seed=0)
    assert full["mia/logistic"].aggregate == lr
    assert full["nomus"].aggregate == C.nomus(full["acc/test"].aggregate, lr)
    assert full["nomus"].extra == {"test_acc": full["acc/test"].aggregate, "mia": lr}
    assert representation_measures(model, oracle, splits, ClassifierEvalConfig()) == {
        k: full[k] for k in (*cka, *REPR_KEYS)
    }


def test_classifier_evaluation_config_reaches_its_metrics(classifier) -> None:
    model, _, splits = classifier
    res = evaluate_classifier(model, splits, config=ClassifierEvalConfig(cv_splits=3, seed=1))
    f, u = splits["forget"], splits["unseen"]
    lf, lu = model.losses(f.images, f.labels), model.losses(u.images, u.labels)
    want = C.logistic_attack_accuracy(lf.numpy(), lu.numpy(), n_splits=3, seed=1)
    assert res["mia/logistic"].aggregate == want


def test_outputs_are_shared_between_metrics(classifier, monkeypatch) -> None:
    model, _, splits = classifier
    calls = {"n": 0}
    probabilities = model.probabilities

    def counted(images):
        calls["n"] += 1
        return probabilities(images)

    monkeypatch.setattr(model, "probabilities", counted)
    evaluate_classifier(model, splits)
    assert calls["n"] == 4  # once per split, whatever number of metrics read them
    outputs = ClassifierOutputs(model)
    assert ClassifierOutputs.of(outputs) is outputs
    Accuracy().compute(outputs, splits)
    first = outputs.correct(splits["test"])
    assert outputs.correct(splits["test"]) is first


def test_a_classifier_metric_names_what_it_misses(classifier) -> None:
    model, _, splits = classifier
    with pytest.raises(MetricError, match="missing"):
        Accuracy().compute(model, {"forget": splits["forget"]})
    with pytest.raises(MetricError, match="oracle="):
        METRICS.get("representation")().compute(model, splits)
    with pytest.raises(MetricError, match="shadows="):
        METRICS.get("lira")().compute(model, splits)
    with pytest.raises(ValueError, match="missing"):
        evaluate_classifier(model, {"forget": splits["forget"]})


# ------------------------------------------------------------------------------ recommender
@pytest.fixture(scope="module")
def recommender(tiny_recommender):
    return tiny_recommender


def test_recommender_evaluation_keys_and_values(recommender) -> None:
    target, oracle, splits = recommender
    full = evaluate_recommender(oracle, splits, before=target, oracle=oracle)
    assert list(full) == rec_keys(20, before=True, oracle=True)
    bare = evaluate_recommender(oracle, splits, config=RecEvalConfig(k=7, seed=3))
    assert list(bare) == rec_keys(7, before=False, oracle=False)

    scores = oracle.scores().numpy()
    excluded, forget = splits.excluded(), splits.forget
    pct = percentile_ranks(scores, excluded, forget[:, 0], forget[:, 1])
    assert full["forget/rank_pct"].values == tuple(float(v) for v in pct)
    assert full["forget/rank_gap"].aggregate == 0.0  # the oracle against itself
    masked = np.where(excluded, -np.inf, scores)
    top = np.argsort(-masked, axis=1, kind="stable")[:, :7]
    hits = [float(i in top[u]) for u, i in forget.tolist()]
    assert bare["forget/hit@7"].values == tuple(hits)
    assert bare["forget/hit@7"].config == {"k": 7}
    neg = random_negatives(splits, 3)
    after = scores[forget[:, 0], forget[:, 1]]
    assert bare["mi/ng"].aggregate == mi_ng(scores[neg[:, 0], neg[:, 1]], after)


def test_a_recommender_metric_names_what_it_misses(recommender) -> None:
    target, _, splits = recommender
    with pytest.raises(MetricError, match="before=target"):
        METRICS.get("mi_bf")().compute(target, splits)
    with pytest.raises(MetricError, match="oracle="):
        METRICS.get("forget_rank_gap")().compute(target, splits)
