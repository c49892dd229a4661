"""Golden tests for ``unlearnkit.evaluation.functional.memorisation``: expected values are
computed by hand in the comments (open-unlearning's definitions by default)."""

from __future__ import annotations

import math

import pytest

from unlearnkit.evaluation.functional.memorisation import (
    exact_memorisation,
    extraction_strength,
)

T, F = True, False


@pytest.mark.parametrize(
    ("correct", "expected"),
    [
        ([T, T, T, T], 1.0),  # 4/4
        ([F, T, T, T], 0.75),  # 3/4
        ([T, F, T, F], 0.5),  # 2/4
        ([F, F, F], 0.0),  # 0/3
        ([T, F, F], 1 / 3),  # 1/3
        ([T], 1.0),  # one-token answer, right: 1/1
        ([F], 0.0),  # one-token answer, wrong: 0/1
    ],
)
def test_exact_memorisation_golden(correct: list[bool], expected: float) -> None:
    assert exact_memorisation(correct) == pytest.approx(expected)


def test_exact_memorisation_accepts_zero_one_ints() -> None:
    # [1, 0, 1, 1, 0] -> 3/5
    assert exact_memorisation([1, 0, 1, 1, 0]) == pytest.approx(0.6)


def test_exact_memorisation_empty_is_nan() -> None:
    assert math.isnan(exact_memorisation([]))


@pytest.mark.parametrize(
    ("correct", "expected"),
    [
        # all correct: smallest k with correct[k:] all True is 0 -> 1 - 0/4 = 1
        ([T, T, T, T], 1.0),
        # correct[1:] = [T,T,T], correct[0:] has an F -> k = 1 -> 1 - 1/4 = 0.75
        ([F, T, T, T], 0.75),
        # correct[2:] = [T,T], correct[1:] has F -> k = 2 -> 1 - 2/4 = 0.5
        ([T, F, T, T], 0.5),
        # last token wrong: open-unlearning searches k = 0..T-1 and stops at k = 3
        # -> 1 - 3/4 = 1/4 (= 1/T)
        ([T, T, T, F], 0.25),
        # k = 4 of 5 (only the last token right) -> 1 - 4/5 = 0.2
        ([T, T, T, F, T], 0.2),
        # one-token answers: [T] -> k = 0 -> 1;  [F] -> no match, k stops at 0 -> 1 - 0/1 = 1
        ([T], 1.0),
        ([F], 1.0),
    ],
)
def test_extraction_strength_golden(correct: list[bool], expected: float) -> None:
    assert extraction_strength(correct) == pytest.approx(expected)


def test_extraction_strength_no_match_conventions() -> None:
    # open-unlearning's loop ends at k = T-1 = 2 without a match: 1 - 2/3 = 1/3 (= 1/T)
    assert extraction_strength([F, F, F]) == pytest.approx(1 / 3)
    # the named option "zero" lets k reach T (the empty suffix): 1 - 3/3 = 0
    assert extraction_strength([F, F, F], no_match="zero") == 0.0
    assert extraction_strength([T, T, T, F], no_match="zero") == 0.0
    assert extraction_strength([F], no_match="zero") == 0.0
    # a match exists: both conventions agree ([F, T, T, T] -> k = 1 -> 3/4)
    assert extraction_strength([F, T, T, T], no_match="zero") == 0.75
    with pytest.raises(ValueError, match="no_match"):
        extraction_strength([T], no_match="one")


def test_extraction_strength_empty_is_nan() -> None:
    assert math.isnan(extraction_strength([]))


def test_memorisation_metrics_lie_in_unit_interval() -> None:
    import itertools

    for n in range(1, 6):
        for flags in itertools.product([F, T], repeat=n):
            assert 0.0 <= exact_memorisation(flags) <= 1.0
            assert 0.0 <= extraction_strength(flags) <= 1.0
            # a correct suffix is a subset of the correct tokens: ES <= EM, except that
            # open-unlearning's no-match case scores 1/T
            zero = extraction_strength(flags, no_match="zero")
            assert zero <= exact_memorisation(flags) + 1e-12
            if flags[-1]:
                assert extraction_strength(flags) == zero
            else:
                assert extraction_strength(flags) == pytest.approx(1 / n)
