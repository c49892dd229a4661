"""The corpus audit's splits and its MCQ measure."""

from __future__ import annotations

import math

import pytest
import torch

from unlearnkit.audit.corpus import corpus_splits, mcq_accuracy
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.data.world import generate_world, world_preset
from unlearnkit.models.adapters.causal_lm import ContinuationScores


def test_hazard_relearning_never_teaches_a_measured_entity() -> None:
    world = generate_world(world_preset("wmdp-test"))
    everything, measured, texts, _ = corpus_splits(world, "hazard", 0.5, seed=0)
    hazard = world.domains["hazard"]
    assert everything == hazard.mcq
    measured_entities = {q["entity"] for q in measured}
    taught = set(hazard.facts) - measured_entities
    assert measured_entities and taught
    assert len(texts) == 2 * len(taught)  # both phrasings of every taught entity
    for t in texts:
        assert not any(e in t["text"] for e in measured_entities)
    # seeded: the same split every time, another seed another split
    assert corpus_splits(world, "hazard", 0.5, seed=0)[1] == measured


def test_book_relearns_half_the_chapters_and_measures_every_question() -> None:
    world = generate_world(world_preset("book-test"))
    everything, measured, texts, _ = corpus_splits(world, "book", 0.5, seed=0)
    assert everything == measured == world.book.qa
    assert len(texts) == 4 and {t["text"] for t in texts} <= set(world.book.chapters)
    with pytest.raises(UnlearnkitError, match="hazard"):
        corpus_splits(world, "hazard", 0.5, seed=0)


class _Scorer:
    """Scores a continuation by a fixed table (one token with that probability)."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def score(self, prompts, conts):
        return [
            ContinuationScores(
                torch.tensor([0]),
                torch.tensor([math.log(self.table.get(c.strip(), 0.01))]),
                torch.tensor([0]),
            )
            for c in conts
        ]


def test_mcq_accuracy_picks_the_most_likely_choice() -> None:
    records = [
        {"question": "q1", "choices": ["a", "b", "c", "d"], "answer": 1},
        {"question": "q2", "choices": ["e", "f", "g", "h"], "answer": 0},
    ]
    assert mcq_accuracy(_Scorer({"b": 0.9, "e": 0.2, "g": 0.5}), records) == 0.5
    assert math.isnan(mcq_accuracy(_Scorer({}), []))
