"""Classifier metrics on hand-computed values: confidence statistics, threshold and
logistic MIAs, NoMUS, SalUn's MIA-efficacy, LiRA, the challenge's ε and F, CKA, k-NN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearnkit.evaluation.functional import classifier as C
from unlearnkit.evaluation.functional.representation import knn_accuracy, linear_cka


def test_entropies_by_hand() -> None:
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    assert C.entropy(probs).tolist() == pytest.approx(
        [math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))]
    )
    labels = torch.tensor([0, 1])
    # row 0: -(0.5) ln 0.5 - 0.5 ln 0.5 ; row 1 (label 1, p_y = 0.1): -(0.9) ln 0.1 - 0.9 ln 0.1
    want = [-0.5 * math.log(0.5) - 0.5 * math.log(0.5), -0.9 * math.log(0.1) - 0.9 * math.log(0.1)]
    assert C.modified_entropy(probs, labels).tolist() == pytest.approx(want)
    assert C.true_confidence(probs, labels).tolist() == pytest.approx([0.5, 0.1])


def test_threshold_attack_and_auc() -> None:
    assert C.best_threshold_accuracy([3, 4, 5], [0, 1, 2]) == 1.0
    assert C.best_threshold_accuracy([1, 2], [1, 2]) == 0.5
    assert C.auc([3, 4], [1, 2]) == 1.0
    assert C.auc([1, 2], [1, 2]) == 0.5
    assert C.auc([1], [2]) == 0.0


def test_auc_is_the_pairwise_probability_and_drops_nan() -> None:
    """The classifier's AUC is the one of ``functional.mia``: P(member > non-member) plus
    half P(tie), with NaN scores left out (not counted as losing every comparison)."""
    rng = np.random.default_rng(0)
    m, n = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairwise = (m[:, None] > n[None, :]).mean() + 0.5 * (m[:, None] == n[None, :]).mean()
    assert C.auc(m, n) == pytest.approx(pairwise, rel=0, abs=1e-15)
    assert C.auc([3.0, math.nan, 4.0], [1.0, 2.0, math.nan]) == 1.0
    assert math.isnan(C.auc([math.nan], [1.0])) and math.isnan(C.auc([], [1.0]))


def test_logistic_attack_separates_and_cannot_separate() -> None:
    rng = np.random.default_rng(0)
    members = rng.normal(0.1, 0.05, 60)  # low loss
    nonmembers = rng.normal(1.5, 0.3, 80)
    assert C.logistic_attack_accuracy(members, nonmembers) > 0.95
    same = rng.normal(1.0, 0.3, 200)
    acc = C.logistic_attack_accuracy(same[:100], same[100:])
    assert 0.3 < acc < 0.7
    with pytest.raises(ValueError, match="at least 5"):
        C.logistic_attack_accuracy([0.1, 0.2], [1.0, 2.0])


def test_nomus_golden() -> None:
    assert C.nomus(0.8, 0.5) == pytest.approx(0.9)
    assert C.nomus(0.8, 1.0) == pytest.approx(0.4)
    assert C.nomus(0.6, 0.6) == pytest.approx(0.3 + 0.5 * 0.8)


def test_svc_efficacy_reads_the_forget_set_as_members_or_not() -> None:
    rng = np.random.default_rng(0)
    members = rng.normal(0.95, 0.02, (100, 1))
    nonmembers = rng.normal(0.4, 0.1, (100, 1))
    assert C.svc_mia_efficacy(members, nonmembers, rng.normal(0.95, 0.02, (30, 1))) < 0.1
    assert C.svc_mia_efficacy(members, nonmembers, rng.normal(0.4, 0.1, (30, 1))) > 0.9


def test_lira_online_and_offline() -> None:
    shadow_in = np.array([[2.0, 0.0], [2.2, 0.2], [1.8, -0.2]])
    shadow_out = np.array([[0.0, 0.0], [0.2, 0.2], [-0.2, -0.2]])
    online = C.lira_scores(np.array([2.0, 0.0]), shadow_in, shadow_out)
    assert online[0] > 0 > online[1] or online[1] == pytest.approx(0.0)
    offline = C.lira_scores(np.array([2.0, 0.0]), None, shadow_out)
    assert offline[0] > offline[1]
    assert C.logit_confidence(np.array([0.5]))[0] == pytest.approx(0.0)


def test_example_epsilon_golden() -> None:
    d = 0.01
    want = max(math.log(1 - d - 0.1) - math.log(0.2), math.log(1 - d - 0.2) - math.log(0.1))
    assert C.example_epsilon([0.1], [0.2], d) == pytest.approx(want)
    assert C.example_epsilon([0.0], [0.0], d) == math.inf  # perfect separation
    assert C.example_epsilon([0.0], [0.5], d) == 0.0  # one zero rate: left out
    assert C.example_epsilon([0.1, 0.0], [0.2, 0.0], d) == math.inf


def test_forgetting_quality_f_golden() -> None:
    # bins [0, 0.5, 1, ...]: 0 and 0.3 in bin 1 (score 1), 0.6 in bin 2 (0.5), inf in 13
    f = C.forgetting_quality_f([0.0, 0.3, 0.6, math.inf])
    assert f == pytest.approx((1 + 1 + 0.5 + 2 / 2**13) / 4)


def test_challenge_scores_on_hand_built_distributions() -> None:
    rng = np.random.default_rng(0)
    n, s = 32, 6
    retrained = rng.normal(1.0, 0.2, (n, s))
    same = rng.normal(1.0, 0.2, (n, s))
    far = rng.normal(3.0, 0.2, (n, s))
    eps_same = C.challenge_epsilon_scores(same, retrained)
    eps_far = C.challenge_epsilon_scores(far, retrained)
    assert np.all(np.isinf(eps_far))  # some threshold separates them perfectly
    assert np.all(np.isfinite(eps_same)) and float(eps_same.max()) < 3.0
    assert C.forgetting_quality_f(eps_far) < 1e-3
    assert C.forgetting_quality_f(eps_same) > 0.05
    with pytest.raises(ValueError, match="shape"):
        C.challenge_epsilon_scores(same[:, :2], retrained)


def test_linear_cka_on_known_matrices() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g))
    assert linear_cka(x, x @ q * 3.0) == pytest.approx(1.0, abs=1e-9)  # rotation and scale
    assert linear_cka(x, torch.randn(200, 5, generator=g)) < 0.2
    assert math.isnan(linear_cka(x, torch.ones(200, 5)))
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(x, x[:10])


def test_knn_accuracy() -> None:
    train_x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    train_y = torch.tensor([0, 0, 1, 1])
    test_x = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    assert knn_accuracy(train_x, train_y, test_x, torch.tensor([0, 1]), k=1) == 1.0
    assert knn_accuracy(train_x, train_y, test_x, torch.tensor([1, 0]), k=1) == 0.0


def test_multilabel_confidences_by_hand() -> None:
    probs = torch.tensor([[0.9, 0.2]])
    labels = torch.tensor([[1.0, 0.0]])
    # true values get 0.9 and 0.8
    assert C.true_confidence(probs, labels).tolist() == pytest.approx([0.85])
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert C.entropy(probs, multilabel=True).tolist() == pytest.approx([(h(0.9) + h(0.2)) / 2])
    m = lambda q: -2 * (1 - q) * math.log(q)  # noqa: E731
    assert C.modified_entropy(probs, labels).tolist() == pytest.approx([(m(0.9) + m(0.8)) / 2])


def test_knn_accuracy_multilabel() -> None:
    train_x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    train_y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    test_x = torch.tensor([[1.0, 0.05]])
    # 2 nearest: (1,0) and (1,1): votes 1 and 0.5 -> (1, 1); truth (1, 0): half right
    assert knn_accuracy(train_x, train_y, test_x, torch.tensor([[1.0, 0.0]]), k=2) == 0.5
