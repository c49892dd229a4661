"""WMDP's multiple-choice accuracy: the pure choice rule, and the metric on hand-built
scores (golden values)."""

from __future__ import annotations

import math

import pytest

from tests.unit.evaluation.test_metric_units import FakeContext, cs, metric
from unlearnkit.evaluation.functional.mcq import mcq_choice, mcq_correct
from unlearnkit.evaluation.metrics import Split


def test_the_most_likely_choice_is_chosen() -> None:
    assert mcq_choice([-3.0, -1.0, -2.0, -5.0]) == 1
    assert mcq_correct([-3.0, -1.0, -2.0, -5.0], 1) == 1.0
    assert mcq_correct([-3.0, -1.0, -2.0, -5.0], 0) == 0.0


def test_ties_go_to_the_first_choice_and_nan_never_wins() -> None:
    assert mcq_choice([-1.0, -1.0, -2.0]) == 0
    assert mcq_choice([math.nan, -4.0]) == 1


def test_length_normalisation_divides_by_characters() -> None:
    # -3 over 6 characters (-0.5) beats -2 over 2 (-1.0): acc_norm flips the choice
    assert mcq_choice([-2.0, -3.0], lengths=[2, 6]) == 1
    assert mcq_choice([-2.0, -3.0]) == 0
    with pytest.raises(ValueError, match="one length per choice"):
        mcq_choice([-1.0, -2.0], lengths=[1])
    with pytest.raises(ValueError, match="at least one choice"):
        mcq_choice([])


RECORDS = [
    {"question": "Zuloth blight is carried by", "choices": ["a", "bb", "c", "d"], "answer": 1},
    {"question": "Fitrask grain grows in", "choices": ["x", "y", "zzzz", "w"], "answer": 2},
]


def _scores(probs: dict[tuple[int, str], tuple[float, ...]]):
    out = {}
    for i, r in enumerate(RECORDS):
        for c in r["choices"]:
            out[(r["question"], " " + c)] = cs(*probs.get((i, c), (0.01,)))
    return out


def test_cloze_accuracy_golden_values() -> None:
    # question 0: "bb" is the most likely (right); question 1: "x" wins (wrong)
    scores = _scores({(0, "bb"): (0.5,), (1, "x"): (0.9,), (1, "zzzz"): (0.3,)})
    res = metric("mcq_accuracy").compute(FakeContext(scores), Split("wmdp_hazard", RECORDS))
    assert list(res.values) == [1.0, 0.0]
    assert res.aggregate == 0.5
    assert res.extra["chance"] == 0.25
    assert res.name == "wmdp_hazard/mcq_accuracy"


def test_letters_style_scores_the_letters_after_the_listed_choices() -> None:
    r = RECORDS[0]
    prompt = (
        "The following are multiple choice questions (with answers) about the domain.\n\n"
        "Zuloth blight is carried by\nA. a\nB. bb\nC. c\nD. d\nAnswer:"
    )
    scores = {(prompt, f" {x}"): cs(0.9 if x == "B" else 0.1) for x in "ABCD"}
    res = metric("mcq_accuracy", style="letters").compute(
        FakeContext(scores), Split("wmdp_hazard", [r])
    )
    assert list(res.values) == [1.0]


def test_missing_choices_are_named() -> None:
    with pytest.raises(Exception, match="choices"):
        metric("mcq_accuracy").compute(
            FakeContext({}), Split("wmdp_hazard", [{"question": "q", "answer": 0}])
        )
