"""WHP (arXiv:2310.02238): the generic-logit rule on hand-computed values, the anchored
translation and its alignment, and the method on the tiny counting model (raw texts too)."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from tests.conformance.test_methods import _adapter, _data
from unlearnkit.core.errors import ConfigError
from unlearnkit.methods import unlearn
from unlearnkit.methods.gradient.whp import (
    WHPConfig,
    aligned_start,
    anchored_translation,
    load_anchors,
    token_spans,
)
from unlearnkit.methods.losses import whp_generic_logits


def test_generic_logits_by_hand() -> None:
    base = torch.tensor([1.0, 2.0, 0.0])
    reinforced = torch.tensor([1.5, 1.0, 0.0])  # boosts token 0 by 0.5, lowers token 1
    translated = torch.tensor([2.0, 1.0, 0.5])
    v = whp_generic_logits(translated, base, reinforced, alpha=4.0)
    # token 0: 2 - 4 * 0.5 = 0; token 1: 1 - 0 = 1; token 2: 0.5 - 0 = 0.5
    assert v.tolist() == [0.0, 1.0, 0.5]
    assert int(v.argmax()) == 1  # the boosted token loses its first place
    assert whp_generic_logits(translated, base, reinforced, 0.0).tolist() == translated.tolist()
    with pytest.raises(ValueError, match="alpha"):
        whp_generic_logits(translated, base, reinforced, -1.0)
    with pytest.raises(ValueError, match="one shape"):
        whp_generic_logits(translated, base, reinforced[:2], 1.0)


TERMS = {"Harry Potter": "Jon", "Harry": "Jon", "the wand": "the stick"}


def test_anchored_translation_and_segments() -> None:
    text = "Harry Potter took the wand. The wand shone for Harry."
    out, segments = anchored_translation(text, TERMS)
    assert out == "Jon took the stick. The stick shone for Jon."
    # the longest term wins, a capitalised term is matched, segments tile both texts
    assert segments[0] == (0, 12, 0, 3, True)
    assert segments[1] == (12, 18, 3, 9, False)  # " took "
    assert segments[2] == (18, 26, 9, 18, True)  # "the wand" -> "the stick"
    assert "".join(text[a:b] for a, b, *_ in segments) == text
    assert "".join(out[c:d] for _, _, c, d, _ in segments) == out
    # a token inside an unchanged segment keeps its offset; a term's first token maps to the
    # generic term's start; a token inside a term has no counterpart
    assert aligned_start(segments, 13) == 4
    assert aligned_start(segments, 18) == 9
    assert aligned_start(segments, 20) is None
    assert anchored_translation("nothing to do", TERMS) == (
        "nothing to do",
        [(0, 13, 0, 13, False)],
    )


def test_token_spans_tile_the_decoded_text(tiny_lm) -> None:
    tok = tiny_lm.tokenizer
    ids = tok("After one comes two.", add_special_tokens=False)["input_ids"]
    text, spans = token_spans(tok, ids)
    assert text == tok.decode(ids)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_anchors_file(tmp_path) -> None:
    path = tmp_path / "book.json"
    path.write_text(json.dumps({"title": "t", "terms": {"Vask": "Tom"}}))
    assert load_anchors(path) == {"Vask": "Tom"}
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"Vask": "Tom"}))
    assert load_anchors(flat) == {"Vask": "Tom"}
    flat.write_text(json.dumps({"Vask": 3}))
    with pytest.raises(ValueError, match="term -> generic"):
        load_anchors(flat)
    with pytest.raises(ConfigError, match="anchors_file"):
        WHPConfig(anchors_file=str(tmp_path / "missing.json"))


def test_whp_relabels_the_anchored_answers(tiny_lm, tmp_path) -> None:
    """With 'two' anchored to 'ten', the generic labels of the answer 'After one comes two.'
    put the generic term where the term was: the model learns to say 'ten'."""
    forget, _ = _data()
    path = tmp_path / "terms.json"
    path.write_text(json.dumps({"two": "ten"}))
    adapter = _adapter(tiny_lm)
    fmt = adapter.prompt_format
    q, a = forget[0]
    before = adapter.score([fmt.prompt(q)], [fmt.continuation(a)])[0].nll
    out, record = unlearn(
        adapter, forget, None, "whp", anchors_file=str(path), epochs=10, progress=False
    )
    d = record.details
    assert d["anchored_terms"] == 1 and d["unaligned_examples"] == 0
    assert 0 < d["relabelled_fraction"] <= 1 and d["trained_tokens"] <= d["answer_tokens"]
    after = out.score([fmt.prompt(q)], [fmt.continuation(a)])[0].nll
    assert after > before  # the original answer is no longer what the model says


def test_whp_takes_raw_texts(tiny_lm) -> None:
    """A raw text ({"text": ...}, as a book's chapters) is learnt whole, without the template;
    reinforcement alone (no dictionary) still relabels the tokens the text taught."""
    texts = [{"text": "Count: one, two, three, four, five, six, seven, eight."}]
    _, record = unlearn(_adapter(tiny_lm), texts, None, "whp", epochs=3, progress=False)
    assert record.details["anchored_terms"] == 0
    assert record.details["answer_tokens"] > 5
    assert record.steps == 3
