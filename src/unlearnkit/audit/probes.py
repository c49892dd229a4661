"""Representation probes: can the forgotten fact still be read from the hidden states?

Unlearning that only suppresses the output leaves the fact in the model's representations,
where a linear probe reads it ("Intrinsic Evaluation of Unlearning Using Parametric
Knowledge Traces", Hong et al. 2024, arXiv:2406.11614). :func:`attribute_probe` trains,
at each layer, a logistic-regression probe (scikit-learn) on the retain people's hidden
states to predict an attribute's value, read where the model must produce it (the question
and the answer up to the value), then tests it on the forget people and on never-trained
holdout people. A model that truly forgot reads the forget people no better than the
holdout people; so does the oracle.

:func:`linear_cka` compares two models' representations of the same inputs (Kornblith et
al. 2019, arXiv:1905.00414): 1 = the same up to rotation and scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from unlearnkit.evaluation.functional.representation import linear_cka
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter


def _readout_text(adapter: CausalLMAdapter, record: Mapping[str, Any]) -> str:
    """The question and the answer up to its value: the last token is where the model
    must produce the fact (the answer's template words come before it)."""
    fmt = adapter.prompt_format
    prompt = fmt.prompt(str(record["question"]))
    answer = fmt.continuation(str(record.get("answer", "")))
    value = str(record.get("value", ""))
    cut = answer.rfind(value) if value else -1
    return prompt + answer[:cut].rstrip() if cut > 0 else prompt


def _states(adapter: CausalLMAdapter, records: Sequence[Mapping[str, Any]], layer: int):
    texts = [_readout_text(adapter, r) for r in records]
    return adapter.hidden_states(texts, layer=layer, pool="last").float().numpy()


def attribute_probe(
    adapter: CausalLMAdapter,
    train: Sequence[Mapping[str, Any]],
    tests: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    layers: Sequence[int] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Probe accuracy per layer: trained on ``train`` records (question -> ``value``), tested
    on each of ``tests`` (e.g. forget, holdout), restricted to values seen in training.

    Returns ``{"layers": [...], "accuracy": {test: [acc per layer]}, "chance": {test: the
    majority-class rate}, "n": {test: records tested}}``. ``layers`` default to every block
    (1..L; 0 would be the embeddings).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = sorted({str(r["value"]) for r in train})
    if len(labels) < 2:
        raise ValueError("the probe needs at least two attribute values among the train records")
    index = {v: i for i, v in enumerate(labels)}
    kept = {name: [r for r in recs if str(r["value"]) in index] for name, recs in tests.items()}
    n_layers = adapter.model.config.num_hidden_layers
    layers = list(range(1, n_layers + 1)) if layers is None else list(layers)
    y_train = [index[str(r["value"])] for r in train]
    counts = torch.bincount(torch.tensor(y_train), minlength=len(labels))
    majority = int(counts.argmax())
    out: dict[str, Any] = {
        "layers": layers,
        "accuracy": {name: [] for name in tests},
        "chance": {
            name: (
                sum(index[str(r["value"])] == majority for r in recs) / len(recs)
                if recs
                else float("nan")
            )
            for name, recs in kept.items()
        },
        "n": {name: len(recs) for name, recs in kept.items()},
        "classes": len(labels),
    }
    for layer in layers:
        probe = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
        )
        with warnings.catch_warnings():  # many classes, few examples each: intended
            warnings.filterwarnings("ignore", message="The number of unique classes")
            probe.fit(_states(adapter, train, layer), y_train)
        for name, recs in kept.items():
            if not recs:
                out["accuracy"][name].append(float("nan"))
                continue
            y = [index[str(r["value"])] for r in recs]
            out["accuracy"][name].append(float(probe.score(_states(adapter, recs, layer), y)))
    return out


def representation_cka(
    a: CausalLMAdapter,
    b: CausalLMAdapter,
    records: Sequence[Mapping[str, Any]],
    *,
    layers: Sequence[int] | None = None,
) -> dict[int, float]:
    """Linear CKA per layer (default: every block) between ``a``'s and ``b``'s states where
    the fact is produced (see :func:`attribute_probe`)."""
    n_layers = a.model.config.num_hidden_layers
    layers = list(range(1, n_layers + 1)) if layers is None else list(layers)
    return {
        layer: linear_cka(
            torch.from_numpy(_states(a, records, layer)),
            torch.from_numpy(_states(b, records, layer)),
        )
        for layer in layers
    }


__all__ = ["attribute_probe", "linear_cka", "representation_cka"]
