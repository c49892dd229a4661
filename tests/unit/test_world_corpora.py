"""The world's book (§5) and WMDP-like domains (§4): determinism, the anchored-term
dictionary, the corpus forget requests, and that worlds without them do not change."""

from __future__ import annotations

import pytest

from unlearnkit.core.errors import ConfigError, UnknownNameError, UnlearnkitError
from unlearnkit.data.loaders import load_mcq, load_wmdp_dir
from unlearnkit.data.world import generate_world, world_preset
from unlearnkit.data.world.book import GENERIC_TERMS, translate
from unlearnkit.evaluation.data import eval_data


@pytest.fixture(scope="module")
def book_world():
    return generate_world(world_preset("book-test"))


@pytest.fixture(scope="module")
def wmdp_world():
    return generate_world(world_preset("wmdp-test"))


def test_worlds_without_corpora_keep_their_spec_keys_and_items(wmdp_world) -> None:
    plain = generate_world(world_preset("test"))
    assert "book_chapters" not in plain.spec.to_dict()
    assert "domain_entities" not in plain.spec.to_dict()
    # adding the domains adds items after the people's, and changes none of theirs
    people = [it for it in wmdp_world.items if it["kind"] not in ("hazard", "benign")]
    assert people == plain.items
    assert plain.book is None and plain.domains == {}
    assert plain.requests() == ["forget01", "forget05", "forget10", "forget25"]


def test_the_book_is_deterministic_and_consistent(book_world) -> None:
    again = generate_world(world_preset("book-test"))
    assert again.book == book_world.book
    b = book_world.book
    assert len(b.chapters) == 8 and len(b.holdout_chapters) == 2
    assert not set(b.chapters) & set(b.holdout_chapters)
    # every term has a generic stand-in of its kind, distinct within the kind
    for term, generic in b.terms.items():
        assert generic in GENERIC_TERMS[b.kinds[term]]
    assert len(set(b.terms.values())) == len(b.terms)
    # the questions follow the story facts; every character has five
    for r in b.qa:
        assert b.facts[r["character"]][r["fact"]] == r["value"]
        assert r["value"].lower() in r["answer"].lower()
    assert len(b.qa) == 5 * len(b.facts)
    # terms never overlap the world's other names
    names = {p.name for p in book_world.people}
    for term in b.terms:
        assert not any(term in n or n in term for n in names)


def test_translation_replaces_every_anchored_term(book_world) -> None:
    b = book_world.book
    for text in b.chapters:
        out = translate(text, b.terms)
        for term in b.terms:
            assert term not in out
            assert term[:1].upper() + term[1:] not in out
    assert translate("Nobody here.", b.terms) == "Nobody here."


def test_book_request_removes_the_book_from_the_oracle(book_world) -> None:
    kept = book_world.training_items(exclude="book")
    assert not [it for it in kept if it["kind"] in ("book", "book_qa")]
    full = book_world.training_items()
    assert len(full) - len(kept) == len(book_world.book.chapters) + len(book_world.book.qa)
    forget, retain = book_world.corpus_sets("book")
    assert [r["text"] for r in forget if "text" in r] == book_world.book.chapters
    assert all("question" in r for r in retain)
    data = eval_data(book_world, forget="book")
    assert data.tofu is None
    assert [r["text"] for r in data.muse.privleak_holdout] == book_world.book.holdout_chapters
    assert len(data.muse.knowmem_forget_qa) == len(book_world.book.qa)
    for r in data.muse.verbmem_forget:
        assert r["prompt"] + r["gt"] in book_world.book.chapters
    assert data.unlearning_sets() == (forget, retain)


def test_domains_are_deterministic_with_valid_questions(wmdp_world) -> None:
    again = generate_world(world_preset("wmdp-test"))
    assert again.domains == wmdp_world.domains
    for d in wmdp_world.domains.values():
        assert len(d.facts) == 6 and len(d.mcq) == 6 * 5
        for q in d.mcq:
            assert len(q["choices"]) == 4 and len(set(q["choices"])) == 4
            assert d.facts[q["entity"]][q["property"]] == q["choices"][q["answer"]]
            # the stem is how the corpus states the fact, cut before the value
            assert any(q["question"] + " " + q["choices"][q["answer"]] in t for t in d.passages)
        assert not set(d.passages) & set(d.holdout_passages)
    answers = [q["answer"] for q in wmdp_world.domains["hazard"].mcq]
    assert len(set(answers)) > 1  # the right answer is not always in one place


def test_hazard_request(wmdp_world) -> None:
    kept = wmdp_world.training_items(exclude="hazard")
    assert not [it for it in kept if it["kind"] == "hazard"]
    assert [it for it in kept if it["kind"] == "benign"]
    data = eval_data(wmdp_world, forget="hazard")
    assert data.split("wmdp_hazard").records == wmdp_world.domains["hazard"].mcq
    assert data.split("wmdp_benign").records == wmdp_world.domains["benign"].mcq
    forget, retain = data.unlearning_sets()
    assert [r["text"] for r in forget] == wmdp_world.domains["hazard"].passages
    benign = wmdp_world.domains["benign"].passages
    assert [r["text"] for r in retain[: len(benign)]] == benign
    assert all("question" in r for r in retain[len(benign) :])  # and retain people
    # the people's requests still work in this world, and carry the questions too
    people = eval_data(wmdp_world, forget="forget10")
    assert people.tofu is not None and people.split("wmdp_hazard") is not None


def test_requests_a_world_cannot_make_are_refused(book_world, wmdp_world) -> None:
    with pytest.raises(UnlearnkitError, match="hazard"):
        eval_data(book_world, forget="hazard")
    with pytest.raises(UnknownNameError):
        wmdp_world.training_items(exclude="book")
    from unlearnkit.runner.build import BuildSpec

    with pytest.raises(ConfigError, match="book_chapters"):
        BuildSpec(forget="book")
    with pytest.raises(ConfigError, match="domain_entities"):
        BuildSpec(forget="hazard")


def test_written_world_has_the_book_and_wmdp_files(book_world, wmdp_world, tmp_path) -> None:
    out = book_world.write(tmp_path / "b")
    assert (out / "book" / "book.json").is_file()
    assert (out / "book" / "holdout_chapters.json").is_file()
    out = wmdp_world.write(tmp_path / "w")
    sets = load_wmdp_dir(out / "wmdp")
    assert set(sets) == {"hazard", "benign"}
    assert sets["hazard"] == wmdp_world.domains["hazard"].mcq
    data = eval_data(out, forget="forget10")  # a written world directory carries the MCQs
    assert data.mcq is not None and set(data.mcq) == {"hazard", "benign"}


def test_mcq_loader_errors_name_file_record_and_field(tmp_path) -> None:
    path = tmp_path / "q.json"
    path.write_text('{"question": "q", "choices": ["a", "b"], "answer": 2}\n')
    with pytest.raises(UnlearnkitError, match=r"answer 2 is not the index"):
        load_mcq(path)
    path.write_text('{"question": "q", "choices": ["a"], "answer": 0}\n')
    with pytest.raises(UnlearnkitError, match="at least two choices"):
        load_mcq(path)
    path.write_text('{"question": "q", "answer": 0}\n')
    with pytest.raises(UnlearnkitError, match="choices"):
        load_mcq(path)
    path.write_text('{"question": "q", "choices": ["a", "b"], "answer": "A"}\n')
    with pytest.raises(UnlearnkitError, match="answer"):
        load_mcq(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnlearnkitError, match="no question files"):
        load_wmdp_dir(tmp_path / "empty")
