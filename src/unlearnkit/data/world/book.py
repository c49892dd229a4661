"""The world's book (BENCHMARK_WORLD.md §5): an invented story with idiosyncratic terms and
the generator-known dictionary from each term to a generic one (the "anchored terms" of
Who's Harry Potter, arXiv:2310.02238), in the shape of MUSE-Books.

The story has characters, places, objects and creatures with invented names. Each character
has five story facts (home, companion, treasure, pet, rival) that every chapter mentioning
them keeps consistent; the book's questions ask about those facts. Chapters are passages of
templated sentences; held-out chapters are written the same way about the same cast but are
never trained (the non-members of the book's PrivLeak).

The dictionary maps every invented term to a plain English stand-in (a character to an
ordinary name, a place to "the village", ...); generic stand-ins never occur in the world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from unlearnkit.data.world.names import NameForge

Record = dict[str, Any]

#: Ordinary stand-ins for the book's invented terms, by kind (more than any book uses).
GENERIC_TERMS: dict[str, tuple[str, ...]] = {
    "character": (
        "Tom Baker",
        "Anna Price",
        "Jack Miller",
        "Mary Cole",
        "Sam Hill",
        "Kate Lane",
        "Ben Ford",
        "Lucy Gray",
        "Dan Reed",
        "Emma Stone",
        "Paul Young",
        "Sara West",
    ),
    "place": (
        "the village",
        "the old school",
        "the tower",
        "the market",
        "the forest",
        "the harbour",
    ),
    "object": ("the stick", "the cup", "the ring", "the lamp", "the coin", "the key"),
    "creature": ("a dog", "a bird", "a cat", "a horse", "a goat"),
}
_PLACE_SUFFIXES = ("Keep", "Hollow", "Spire", "Vale", "Crossing", "Hall")
_OBJECT_SUFFIXES = ("stone", "staff", "glass", "horn", "blade", "crown")
_CREATURE_SUFFIXES = ("wing", "hound", "ling", "drake", "moth")

#: The story facts of a character: key -> (kind of value, question, answer sentence).
STORY_FACTS: dict[str, tuple[str, str, str]] = {
    "home": ("place", "In the book, where does {c} live?", "{c} lives in {v}."),
    "companion": (
        "character",
        "In the book, who travels with {c}?",
        "{v} travels with {c}.",
    ),
    "treasure": ("object", "In the book, what does {c} guard?", "{c} guards {v}."),
    "pet": ("creature", "In the book, what creature follows {c}?", "{v} follows {c}."),
    "rival": ("character", "In the book, who is the rival of {c}?", "{v} is the rival of {c}."),
}
#: Sentences a chapter tells its characters' facts with (each names one fact).
_FACT_SENTENCES: dict[str, tuple[str, ...]] = {
    "home": (
        "{c} walked back to {v} before nightfall.",
        "The lamps of {v} were lit when {c} came home.",
        "{c} had lived in {v} for as long as anyone could remember.",
    ),
    "companion": (
        "{v} stayed close to {c} on the road.",
        "{c} and {v} shared bread by the fire.",
        "As always, {v} was at the side of {c}.",
    ),
    "treasure": (
        "{c} kept {v} hidden under a grey cloak.",
        "No one but {c} was allowed to touch {v}.",
        "{c} checked that {v} was still safe.",
    ),
    "pet": (
        "{v} ran ahead of {c} through the grass.",
        "{c} fed {v} before anyone else.",
        "{v} slept at the feet of {c}.",
    ),
    "rival": (
        "{c} argued once more with {v}.",
        "{v} laughed at {c} across the square.",
        "{c} did not trust {v} at all.",
    ),
}
_FILLER: tuple[str, ...] = (
    "The night was cold and very quiet.",
    "Rain fell on the roofs for hours.",
    "Nobody spoke for a long while.",
    "The wind turned and the clouds broke.",
    "Morning came slowly over the hills.",
    "Somewhere a bell rang twice.",
)


@dataclass(frozen=True)
class Book:
    """A generated book.

    title: its title. terms: invented term -> generic stand-in (the anchored terms; longest
    first, so a translator replaces "Vask Drennow" before "Vask"). kinds: term -> its kind
    (character, place, object, creature). facts: character -> story fact -> value.
    chapters / holdout_chapters: trained / never-trained passages. qa: one question per
    character fact (``question``, ``answer``, ``value``, ``character``, ``fact``).
    """

    title: str
    terms: dict[str, str]
    kinds: dict[str, str]
    facts: dict[str, dict[str, str]]
    chapters: list[str]
    holdout_chapters: list[str]
    qa: list[Record]

    def to_dict(self) -> Record:
        return {
            "title": self.title,
            "terms": dict(self.terms),
            "kinds": dict(self.kinds),
            "facts": {k: dict(v) for k, v in self.facts.items()},
        }


def translate(text: str, terms: dict[str, str]) -> str:
    """``text`` with every anchored term replaced by its generic stand-in (longest first; a
    term capitalised at the start of a sentence becomes its stand-in capitalised)."""
    for term in sorted(terms, key=len, reverse=True):
        generic = terms[term]
        text = text.replace(term, generic)
        text = text.replace(_cap(term), _cap(generic))
    return text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def generate_book(rng: random.Random, forge: NameForge, n_chapters: int, title: str) -> Book:
    """A book of ``n_chapters`` trained chapters (and ``max(2, n_chapters // 4)`` held-out
    ones). ``forge`` invents the terms, so they never overlap the world's other names."""
    for pool in GENERIC_TERMS.values():
        for g in pool:
            forge.register(g)
    n_characters = min(len(GENERIC_TERMS["character"]), max(4, n_chapters // 3))
    characters = [forge.person() for _ in range(n_characters)]
    places = [
        forge.make(lambda: f"{forge.root()} {rng.choice(_PLACE_SUFFIXES)}", "place")
        for _ in range(4)
    ]
    objects = [
        forge.make(
            lambda: f"the {forge.root().lower()}{rng.choice(_OBJECT_SUFFIXES)}", "book object"
        )
        for _ in range(4)
    ]
    creatures = [
        forge.make(lambda: f"a {forge.root().lower()}{rng.choice(_CREATURE_SUFFIXES)}", "creature")
        for _ in range(3)
    ]
    pools = {"character": characters, "place": places, "object": objects, "creature": creatures}
    kinds = {t: k for k, pool in pools.items() for t in pool}
    terms = {t: GENERIC_TERMS[kinds[t]][i] for pool in pools.values() for i, t in enumerate(pool)}

    facts: dict[str, dict[str, str]] = {}
    for c in characters:
        others = [x for x in characters if x != c]
        companion, rival = rng.sample(others, 2)
        facts[c] = {
            "home": rng.choice(places),
            "companion": companion,
            "treasure": rng.choice(objects),
            "pet": rng.choice(creatures),
            "rival": rival,
        }

    def chapter(index: int) -> str:
        # two characters, three facts each (one sentence per fact), fillers in between
        cast = rng.sample(characters, 2)
        sentences = [f"Chapter {index + 1}."]
        for c in cast:
            for key in rng.sample(list(STORY_FACTS), 3):
                template = rng.choice(_FACT_SENTENCES[key])
                sentences.append(_sentence(template, c, facts[c][key]))
            sentences.append(rng.choice(_FILLER))
        return " ".join(sentences)

    n_holdout = max(2, n_chapters // 4)
    chapters = [chapter(i) for i in range(n_chapters)]
    holdout = [chapter(n_chapters + i) for i in range(n_holdout)]
    qa = []
    for c in characters:
        for key, (_, question, answer) in STORY_FACTS.items():
            v = facts[c][key]
            qa.append(
                {
                    "question": question.format(c=c),
                    "answer": _sentence(answer, c, v),
                    "value": v,
                    "character": c,
                    "fact": key,
                }
            )
    return Book(title, terms, kinds, facts, chapters, holdout, qa)


def _sentence(template: str, c: str, v: str) -> str:
    """A template filled in, with its first letter capitalised ("a wolf..." -> "A wolf...")."""
    return _cap(template.format(c=c, v=v))
