"""Result: per-example values, derived aggregate, strict-JSON round trip."""

import json
import math

import pytest

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.results import Result

NAN = math.nan
INF = math.inf


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 2.0, 3.0], 2.0),
        ([1, 2], 1.5),
        ([1.0, NAN, 3.0], 2.0),
        ([NAN, 4.0], 4.0),
        ([1.0, INF, 3.0], INF),  # an infinite loss is a value, not a missing one
        ([NAN, NAN], NAN),
        ([], NAN),
    ],
)
def test_from_values_mean_skips_only_nan(values, expected):
    r = Result.from_values("m", values, higher_is_better=True)
    if math.isnan(expected):
        assert math.isnan(r.aggregate)
    else:
        assert r.aggregate == pytest.approx(expected)


def test_from_values_stores_floats_and_tuples():
    r = Result.from_values("m", [1, 2], higher_is_better=False, ids=[10, 11])
    assert r.values == (1.0, 2.0) and all(type(v) is float for v in r.values)
    assert r.ids == ("10", "11")
    assert r.higher_is_better is False
    assert len(r) == 2


def test_explicit_aggregate_is_kept():
    r = Result.from_values("ks", [0.1, 0.9], higher_is_better=True, aggregate=0.037)
    assert r.aggregate == 0.037


def test_custom_reducer_is_used():
    r = Result.from_values("m", [1.0, 5.0, 3.0], higher_is_better=True, reduce=max)
    assert r.aggregate == 5.0


@pytest.mark.parametrize(("n_ids", "n_values"), [(1, 2), (3, 2), (0, 1)])
def test_ids_length_mismatch_is_an_error(n_ids, n_values):
    ids = [f"e{i}" for i in range(n_ids)]
    with pytest.raises(UnlearnkitError, match=f"{n_ids} ids for {n_values} values"):
        Result.from_values("m", [0.5] * n_values, higher_is_better=True, ids=ids)


def test_by_id_maps_ids_to_values():
    r = Result.from_values("m", [0.1, 0.2], higher_is_better=True, ids=["a", "b"])
    assert r.by_id() == {"a": 0.1, "b": 0.2}


def test_by_id_without_ids_is_an_error():
    r = Result.from_values("m", [0.1], higher_is_better=True)
    with pytest.raises(UnlearnkitError, match="has no example ids"):
        r.by_id()


def _same_floats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    "result",
    [
        Result.from_values(
            "forget_truth_ratio",
            [0.25, NAN, 0.75],
            higher_is_better=False,
            ids=["q1", "q2", "q3"],
            config={"split": "forget"},
            extra={"n": 3},
        ),
        Result.from_values("auc", [1.0, -INF, INF], higher_is_better=True, aggregate=NAN),
        Result.from_values("empty", [], higher_is_better=True),
    ],
    ids=["nan-value", "inf-and-nan-aggregate", "empty"],
)
def test_to_dict_from_dict_round_trip_through_strict_json(result):
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)  # strict JSON: no NaN/Infinity tokens
    back = Result.from_dict(json.loads(text))
    assert back.name == result.name
    assert back.higher_is_better == result.higher_is_better
    assert back.ids == result.ids
    assert back.config == result.config and back.extra == result.extra
    assert _same_floats(back.values, result.values)
    assert _same_floats((back.aggregate,), (result.aggregate,))


def test_to_dict_stores_non_finite_values_as_strings():
    r = Result.from_values("m", [1.0, NAN, INF, -INF], higher_is_better=True)
    d = r.to_dict()
    assert d["values"] == [1.0, "nan", "inf", "-inf"]
    assert d["aggregate"] == "nan"  # inf + -inf
    assert r.n_missing == 1
    assert d["ids"] is None


def test_from_dict_without_optional_keys():
    r = Result.from_dict({"name": "m", "values": [1, "nan"], "aggregate": 1, "higher_is_better": 1})
    assert r.ids is None and r.config == {} and r.extra == {}
    assert r.higher_is_better is True
    assert r.values[0] == 1.0 and math.isnan(r.values[1])


def test_result_is_frozen():
    r = Result.from_values("m", [1.0], higher_is_better=True)
    with pytest.raises(AttributeError):
        r.aggregate = 2.0  # type: ignore[misc]


def test_duplicate_ids_are_rejected():
    with pytest.raises(UnlearnkitError, match="'a' appears twice"):
        Result.from_values("m", [1.0, 2.0], higher_is_better=True, ids=["a", "a"])
