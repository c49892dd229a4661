"""Golden tests for ``unlearnkit.evaluation.functional.rouge``: each LCS is worked out by
hand in the comments."""

from __future__ import annotations

import pytest

from unlearnkit.evaluation.functional import rouge as rouge_mod
from unlearnkit.evaluation.functional.rouge import MEASURES, rouge_l, rouge_l_batch

REF = "the cat sat on the mat"  # 6 tokens
PRED = "the cat on a mat"  # 5 tokens
# LCS(REF, PRED) = "the cat on mat" = 4 -> R = 4/6, P = 4/5,
# F1 = 2PR/(P+R) = 2 * (4/5)(2/3) / (4/5 + 2/3) = (16/15) / (22/15) = 8/11
R_GOLD, P_GOLD, F1_GOLD = 4 / 6, 4 / 5, 8 / 11


def test_rouge_l_recall_is_default() -> None:
    assert rouge_l(PRED, REF) == pytest.approx(R_GOLD)


@pytest.mark.parametrize(
    ("measure", "expected"), [("recall", R_GOLD), ("precision", P_GOLD), ("f1", F1_GOLD)]
)
def test_rouge_l_measures_golden(measure: str, expected: float) -> None:
    assert rouge_l(PRED, REF, measure=measure) == pytest.approx(expected)
    # no word here is changed by stemming, so both settings agree
    assert rouge_l(PRED, REF, measure=measure, use_stemmer=False) == pytest.approx(expected)


def test_rouge_l_order_matters_not_just_overlap() -> None:
    # ref "a b c d", pred "d c b a": same words, but any common subsequence has length 1
    # -> recall 1/4
    assert rouge_l("d c b a", "a b c d") == pytest.approx(0.25)


def test_rouge_l_stemming_makes_a_difference() -> None:
    ref, pred = "the dogs were running", "the dog runs"
    # Porter stems (tokens longer than 3 chars only): dogs->dog, running->run, runs->run;
    # "the"/"dog" are too short to be stemmed.
    # stemmed: ref [the, dog, were, run], pred [the, dog, run] -> LCS 3
    #   recall 3/4, precision 3/3
    assert rouge_l(pred, ref, use_stemmer=True) == pytest.approx(3 / 4)
    assert rouge_l(pred, ref, measure="precision", use_stemmer=True) == pytest.approx(1.0)
    # unstemmed: only "the" matches -> LCS 1: recall 1/4, precision 1/3, F1 = 2/7
    assert rouge_l(pred, ref, use_stemmer=False) == pytest.approx(1 / 4)
    assert rouge_l(pred, ref, measure="precision", use_stemmer=False) == pytest.approx(1 / 3)
    # F1 = 2 * (1/3)(1/4) / (1/3 + 1/4) = (1/6) / (7/12) = 2/7
    assert rouge_l(pred, ref, measure="f1", use_stemmer=False) == pytest.approx(2 / 7)


def test_rouge_l_tokenisation_lowercases_and_splits_punctuation() -> None:
    # "The CAT, sat!" -> [the, cat, sat] == reference tokens -> 1.0
    assert rouge_l("The CAT, sat!", "the cat sat", measure="f1") == pytest.approx(1.0)


@pytest.mark.parametrize("measure", MEASURES)
def test_rouge_l_empty_prediction_is_zero(measure: str) -> None:
    assert rouge_l("", REF, measure=measure) == 0.0
    assert rouge_l(REF, "", measure=measure) == 0.0


def test_rouge_l_returns_plain_float_in_unit_interval() -> None:
    for measure in MEASURES:
        value = rouge_l(PRED, REF, measure=measure)
        assert type(value) is float
        assert 0.0 <= value <= 1.0
    assert rouge_l(REF, REF) == 1.0  # identical text: LCS = 6 -> 6/6


def test_rouge_l_unknown_measure_names_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"fmeasure.*recall.*precision.*f1"):
        rouge_l(PRED, REF, measure="fmeasure")


def test_rouge_l_caches_one_scorer_per_stemming_choice() -> None:
    rouge_l(PRED, REF, use_stemmer=True)
    rouge_l(PRED, REF, use_stemmer=False)
    first = dict(rouge_mod._SCORERS)
    rouge_l(PRED, REF, use_stemmer=True)
    rouge_l(PRED, REF, use_stemmer=False)
    assert set(first) == {True, False}
    assert rouge_mod._SCORERS[True] is first[True]
    assert rouge_mod._SCORERS[False] is first[False]


def test_rouge_l_batch_golden() -> None:
    # pair 1: the hand-computed pair above (recall 4/6); pair 2: identical -> 1;
    # pair 3: empty prediction -> 0
    got = rouge_l_batch([PRED, "a b", ""], [REF, "a b", "x y"])
    assert got == pytest.approx([4 / 6, 1.0, 0.0])
    assert rouge_l_batch([PRED], [REF], measure="f1", use_stemmer=False) == pytest.approx([8 / 11])
    assert rouge_l_batch([], []) == []


def test_rouge_l_batch_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        rouge_l_batch(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="not supported"):
        rouge_l_batch([], [], measure="rougeL")
