"""The ε-score over N models and LiRA with shadow models, on the test identity world with a
fast recipe: retraining is perfect unlearning, doing nothing is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnkit.data.images import ClassificationData
from unlearnkit.evaluation.classifier.population import (
    challenge_score,
    lira_attack,
    retrained_models,
    shadow_models,
)
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
from unlearnkit.models.vision import build_classifier, classifier_preset

pytestmark = pytest.mark.slow


def recipe(data: ClassificationData, seed: int) -> ClassifierAdapter:
    model = build_classifier(classifier_preset("cnn"), seed=seed)
    train_classifier(model, data.images, data.labels, ClassifierTrainConfig(epochs=60, seed=seed))
    return ClassifierAdapter(model)


@pytest.fixture(scope="module")
def parts(tiny_classifier):
    _, world = tiny_classifier
    return {s: world.split(s) for s in ("train", "forget", "retain", "test", "unseen")}


def test_challenge_score_separates_retraining_from_doing_nothing(parts) -> None:
    n = 4
    retrained, seconds = retrained_models(recipe, parts["retain"], n)
    assert seconds > 0 and len(retrained) == n
    others, _ = retrained_models(recipe, parts["retain"], n, first_seed=100)
    originals = [recipe(parts["train"], 200 + i) for i in range(n)]
    good = challenge_score(others, retrained, parts["forget"], parts["retain"], parts["test"])
    bad = challenge_score(originals, retrained, parts["forget"], parts["retain"], parts["test"])
    assert good.forgetting_quality > bad.forgetting_quality
    assert good.score > bad.score
    assert len(good.epsilons.values) == len(parts["forget"])
    assert good.retain_ratio == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="as many"):
        challenge_score(others[:2], retrained, parts["forget"], parts["retain"], parts["test"])


def test_lira_reads_membership_of_the_target_not_of_the_oracle(
    parts, tiny_classifier, tiny_classifier_oracle
) -> None:
    train, unseen = parts["train"], parts["unseen"]
    pool = ClassificationData(
        torch.cat([train.images, unseen.images]),
        torch.cat([train.labels, unseen.labels]),
        torch.cat([train.identity, unseen.identity]),
    )
    shadows = shadow_models(recipe, pool, 6)
    assert set(shadows.membership.sum(0).tolist()) == {3}  # every example in half of them
    forget_ids = set(parts["forget"].identity.tolist())
    members = np.flatnonzero(np.isin(pool.identity.numpy(), list(forget_ids)))
    nonmembers = np.arange(len(train), len(pool))
    target = lira_attack(ClassifierAdapter(tiny_classifier[0]), shadows, members, nonmembers)
    oracle = lira_attack(ClassifierAdapter(tiny_classifier_oracle), shadows, members, nonmembers)
    assert target.aggregate > 0.7
    assert oracle.aggregate < target.aggregate - 0.15
