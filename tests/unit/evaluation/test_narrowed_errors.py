"""The failures that the passes store and the harness's per-document values absorb, each of
the kinds that occurs (an unexpected one is raised, not hidden)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from unlearnkit.evaluation.context import PassStore

EMPTY = ({}, {}, {})


@pytest.mark.parametrize(
    "case", ["truncated", "not safetensors", "empty", "no metadata", "other metadata", "bad json"]
)
def test_an_unreadable_passes_file_starts_afresh(tmp_path, case):
    store = PassStore(tmp_path, {"model": "m"})
    tensors = {"lengths": torch.zeros(1, dtype=torch.long)}
    if case in ("truncated", "not safetensors", "empty"):
        save_file(tensors, str(store.path), metadata={"passes": json.dumps({"key": store.key})})
        whole = store.path.read_bytes()
        cut = {"truncated": whole[: len(whole) // 2], "not safetensors": b"hello", "empty": b""}
        store.path.write_bytes(cut[case])
    else:
        meta = {"no metadata": None, "other metadata": {"x": "1"}, "bad json": {"passes": "{"}}
        save_file(tensors, str(store.path), metadata=meta[case])
    assert store.load() == EMPTY


def test_a_passes_file_of_another_key_starts_afresh(tmp_path):
    store = PassStore(tmp_path, {"model": "m"})
    meta = {"passes": json.dumps({"key": {"model": "other"}})}
    save_file({"lengths": torch.zeros(1, dtype=torch.long)}, str(store.path), metadata=meta)
    assert store.load() == EMPTY


def test_a_document_value_the_aggregation_cannot_give_is_nan():
    pytest.importorskip("lm_eval")
    from unlearnkit.evaluation.lm_harness import _doc_value

    assert _doc_value(0.25, "mean") == 0.25
    assert _doc_value((-2.0, 3), "weighted_perplexity") == pytest.approx(math.exp(2.0 / 3))
    assert math.isnan(_doc_value((-2.0, 0), "weighted_perplexity"))  # ZeroDivisionError
    assert math.isnan(_doc_value((-1e6, 1), "weighted_perplexity"))  # OverflowError
    assert math.isnan(_doc_value((1.0, 2.0), "mean"))  # TypeError
    assert math.isnan(_doc_value((1, [0.5]), "brier_score"))  # IndexError: gold 1 of 1 class
    assert math.isnan(_doc_value((1.0, 2.0), "no_such_aggregation"))
    assert math.isnan(_doc_value((1.0, 2.0), None))
