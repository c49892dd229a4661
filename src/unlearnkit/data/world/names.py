"""Invented names from syllables: people, cities, countries, organisations, awards, titles.

A :class:`NameForge` hands out strings that are unique and never overlap: no name is a
substring of another registered string and no registered string is a substring of a new
name (case-insensitive). So detecting a value inside a model's answer by substring search
never fires on a different person's name, a city inside an organisation, a colour inside a
surname ("teal" in "Steal"), and so on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.data.world.vocab import (
    TITLE_ADJECTIVES,
    TITLE_NOUNS,
    TITLE_PATTERNS,
    article,
    plural,
)

ONSETS: tuple[str, ...] = (
    "b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p", "r",
    "s", "st", "t", "th", "tr", "v", "w", "z", "sh", "vr", "q",
)  # fmt: skip
# plain vowels are listed twice: mostly short, easily tokenised names
VOWELS: tuple[str, ...] = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "u", "ae", "ei", "y")
CODAS: tuple[str, ...] = ("", "n", "r", "l", "s", "th", "m", "rn", "ld", "x", "sk", "nd")

FIRST_ENDINGS: tuple[str, ...] = ("", "", "", "a", "o", "in", "el", "is", "wyn")
SURNAME_SUFFIXES: tuple[str, ...] = (
    "son",
    "wick",
    "sen",
    "ani",
    "ell",
    "ovic",
    "ard",
    "ius",
    "ner",
)
CITY_SUFFIXES: tuple[str, ...] = (
    "mere", "vale", "holm", "bury", "stead", "haven", "port", "reach", "moor", "fell", "ton",
)  # fmt: skip
COUNTRY_SUFFIXES: tuple[str, ...] = ("ia", "or", "esh", "and", "ica")
CURRENCY_SUFFIXES: tuple[str, ...] = ("ar", "ek", "ink", "ot", "un")
LANGUAGE_SUFFIXES: tuple[str, ...] = ("ish", "ese", "ic", "ian")
ORGANISATION_TYPES: tuple[str, ...] = (
    "Glassworks", "Shipping Company", "Observatory", "Press", "Foundry", "Trading House",
    "Savings Bank", "Museum", "Academy", "Weaving Mill", "Printing Guild", "Survey Office",
)  # fmt: skip
AWARD_FORMS: tuple[str, ...] = ("{root} Prize", "{root} Medal", "{root} Laurel", "Order of {root}")

_MAX_TRIES = 100_000


class NameForge:
    """Unique, mutually non-overlapping invented strings from a seeded ``random.Random``.

    reserved: strings that exist already (fixed value pools, title words); new names never
    contain them and are never contained in them.
    """

    def __init__(self, rng: random.Random, reserved: Iterable[str] = ()) -> None:
        self.rng = rng
        self._whole: set[str] = set()  # registered strings, lower case
        self._subs: set[str] = set()  # every substring of a registered string
        self._titles: set[str] = set()
        for text in reserved:
            self.register(text)

    # -- bookkeeping ------------------------------------------------------------------------
    def register(self, text: str) -> None:
        low = text.lower()
        self._whole.add(low)
        n = len(low)
        self._subs.update(low[i:j] for i in range(n) for j in range(i + 1, n + 1))

    def fits(self, text: str) -> bool:
        """Whether ``text`` is new and overlaps no registered string."""
        low = text.lower()
        if low in self._subs:  # equal to, or inside, a registered string
            return False
        n = len(low)
        return not any(low[i:j] in self._whole for i in range(n) for j in range(i + 1, n + 1))

    def make(self, build: Callable[[], str], what: str) -> str:
        """Call ``build`` until it returns a string that fits; register and return it."""
        for _ in range(_MAX_TRIES):
            text = build()
            if self.fits(text):
                self.register(text)
                return text
        raise UnlearnkitError(
            f"could not invent a new {what} in {_MAX_TRIES} tries; the world is too large "
            "for the syllable inventory (use fewer people)"
        )

    # -- building blocks ----------------------------------------------------------------------
    def syllable(self) -> str:
        """One closed syllable, capitalised: ``Vask``, ``Bren``, ``Tho``."""
        r = self.rng
        return (r.choice(ONSETS) + r.choice(VOWELS) + r.choice(CODAS)).capitalize()

    def root(self) -> str:
        """Two syllables, capitalised: ``Torin``, ``Kavel``."""
        r = self.rng
        text = r.choice(ONSETS) + r.choice(VOWELS) + r.choice(ONSETS) + r.choice(VOWELS)
        return (text + r.choice(CODAS)).capitalize()

    # -- the kinds of names ---------------------------------------------------------------------
    def person(self) -> str:
        r = self.rng
        return self.make(
            lambda: (
                f"{self.root()}{r.choice(FIRST_ENDINGS)} {self.root()}{r.choice(SURNAME_SUFFIXES)}"
            ),
            "person name",
        )

    def city(self) -> str:
        return self.make(lambda: self.syllable() + self.rng.choice(CITY_SUFFIXES), "city")

    def country(self) -> str:
        return self.make(lambda: self.root() + self.rng.choice(COUNTRY_SUFFIXES), "country")

    def river(self) -> str:
        return self.make(self.root, "river")

    def sea(self) -> str:
        return self.make(lambda: f"{self.root()} Sea", "sea")

    def mountain(self) -> str:
        return self.make(lambda: f"Mount {self.root()}", "mountain")

    def currency(self) -> str:
        return self.make(
            lambda: (self.root() + self.rng.choice(CURRENCY_SUFFIXES)).lower(), "currency"
        )

    def language(self) -> str:
        return self.make(lambda: self.root() + self.rng.choice(LANGUAGE_SUFFIXES), "language")

    def organisation(self) -> str:
        return self.make(
            lambda: f"{self.root()} {self.rng.choice(ORGANISATION_TYPES)}", "organisation"
        )

    def award(self) -> str:
        return self.make(lambda: self.rng.choice(AWARD_FORMS).format(root=self.root()), "award")

    def title(self) -> str:
        """A unique book title made of English words (titles are only checked against each
        other: they hold no syllable names, so they cannot overlap one)."""
        r = self.rng
        for _ in range(_MAX_TRIES):
            noun, noun2 = r.sample(TITLE_NOUNS, 2)
            text = r.choice(TITLE_PATTERNS).format(
                adj=r.choice(TITLE_ADJECTIVES),
                noun=noun,
                noun2=noun2,
                nouns=plural(noun),
                a=article(noun).capitalize(),
            )
            if text not in self._titles:
                self._titles.add(text)
                return text
        raise UnlearnkitError(f"could not invent a new book title in {_MAX_TRIES} tries")
