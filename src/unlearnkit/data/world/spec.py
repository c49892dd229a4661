"""The world spec (everything that determines the world) and its named presets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError
from unlearnkit.data.world.vocab import ATTRIBUTES, MIN_FIXED_POOL

#: Forget requests that are not people: corpus -> the kinds of trained items it removes.
CORPUS_REQUESTS: dict[str, tuple[str, ...]] = {"book": ("book", "book_qa"), "hazard": ("hazard",)}

#: The forget sets and the share of trained people each holds.
FORGET_FRACTIONS: dict[str, float] = {
    "forget01": 0.01,
    "forget05": 0.05,
    "forget10": 0.10,
    "forget25": 0.25,
}


@dataclass(frozen=True)
class WorldSpec(Config):
    """What the synthetic world holds. Same spec (seed included) ⇒ byte-identical files.

    seed: the seed every random choice is derived from.
    n_people: trained people (core + background).
    n_facts: attributes per person: the first ``n_facts`` of
        :data:`~unlearnkit.data.world.vocab.ATTRIBUTES` (birth_city, profession, father,
        employer, signature_work, birth_year, mother, award, favourite_colour, pet, ...).
    background_fraction: share of trained people who are "background": trained also on the
        held-out (paraphrased) question templates, and never in a forget or evaluation set.
    n_holdout_people: never-trained people generated like the others (default: the forget10
        size; at least that many, so holdout10 matches forget10).
    n_retain_eval_people: retain people behind ``retain_perturbed`` and the retain
        evaluation forms (default: the forget10 size); non-neighbours are preferred.
    n_perturbed: wrong answers of the right type per item (``perturbed_answer``).
    n_world_facts: general facts about the invented countries (trained, for utility).
    many_shot_k: retain QA pairs put before the question in the ``adv_many_shot`` form.
    verbmem_prefix_fraction: share of a biography's words given as the VerbMem prompt.
    book_chapters: trained chapters of the world's book (§5; 0 = no book). With a book the
        forget request ``book`` forgets it (Who's Harry Potter, MUSE-Books).
    domain_entities: trained entities of each WMDP-like domain (§4; 0 = no domains). With
        domains the forget request ``hazard`` forgets the hazardous corpus.
    (The last two are left out of ``to_dict`` when 0, so worlds without them keep their
    cache keys.)
    """

    seed: int = 0
    n_people: int = param(200, ge=1)
    n_facts: int = param(10, ge=1, le=len(ATTRIBUTES))
    background_fraction: float = param(0.2, ge=0.0, lt=1.0)
    n_holdout_people: int | None = param(None, ge=1)
    n_retain_eval_people: int | None = param(None, ge=1)
    n_perturbed: int = param(5, ge=1, le=MIN_FIXED_POOL - 1)
    n_world_facts: int = param(40, ge=0)
    many_shot_k: int = param(8, ge=1)
    verbmem_prefix_fraction: float = param(0.5, gt=0.0, lt=1.0)
    book_chapters: int = param(0, ge=0)
    domain_entities: int = param(0, ge=0)

    def to_dict(self) -> dict:
        data = super().to_dict()
        for key in ("book_chapters", "domain_entities"):
            if not data[key]:
                data.pop(key)
        return data

    # -- derived sizes ------------------------------------------------------------------------
    @property
    def forget_sizes(self) -> dict[str, int]:
        """People per forget set: ``max(1, round(fraction * n_people))``."""
        return {k: max(1, round(f * self.n_people)) for k, f in FORGET_FRACTIONS.items()}

    @property
    def n_background(self) -> int:
        return round(self.background_fraction * self.n_people)

    @property
    def n_core(self) -> int:
        return self.n_people - self.n_background

    @property
    def holdout_people(self) -> int:
        """``n_holdout_people`` or its default (the forget10 size)."""
        return self.n_holdout_people or self.forget_sizes["forget10"]

    @property
    def retain_eval_people(self) -> int:
        """``n_retain_eval_people`` or its default (the forget10 size)."""
        return self.n_retain_eval_people or self.forget_sizes["forget10"]

    @property
    def attributes(self) -> tuple[str, ...]:
        """The keys of the attributes every person has."""
        return tuple(a.key for a in ATTRIBUTES[: self.n_facts])

    def validate(self) -> None:
        f10 = self.forget_sizes["forget10"]
        need = f10 + self.retain_eval_people
        need25 = self.forget_sizes["forget25"] + self.retain_eval_people
        if self.n_core < need25:
            self.fail(
                "n_people",
                self.n_people,
                f"too few core (non-background) people: {self.n_core} = n_people - "
                f"round(background_fraction * n_people), but forget25 "
                f"({self.forget_sizes['forget25']}) plus the retain evaluation people "
                f"({self.retain_eval_people}) need {need25}; raise n_people, or lower "
                "background_fraction or n_retain_eval_people",
            )
        if self.holdout_people < f10:
            self.fail(
                "n_holdout_people",
                self.n_holdout_people,
                f"must be >= the forget10 size ({f10}) so that holdout10 matches forget10",
            )
        # many-shot context: QA of trained people outside forget10 and the retain eval set
        context_qa = (self.n_people - need) * self.n_facts
        if context_qa == 0:
            self.fail(
                "n_people",
                self.n_people,
                f"the adv_many_shot form needs trained people outside forget10 ({f10}) and the "
                f"retain evaluation set ({self.retain_eval_people}); raise n_people",
            )
        if context_qa < self.many_shot_k:
            self.fail(
                "many_shot_k",
                self.many_shot_k,
                f"must be <= {context_qa}, the QA pairs of trained people outside forget10 "
                "and the retain evaluation set (or raise n_people)",
            )


#: Named world specs: ``test`` (unit tests, seconds), ``demo`` (the default), ``bench``.
WORLD_PRESETS: dict[str, Callable[[], WorldSpec]] = {
    "test": lambda: WorldSpec(n_people=20, n_facts=5, n_world_facts=10),
    "demo": lambda: WorldSpec(n_people=200, n_facts=10, n_world_facts=40),
    "bench": lambda: WorldSpec(n_people=400, n_facts=10, n_world_facts=80),
    # the demo and test worlds with a book (WHP / MUSE-Books) and the WMDP-like domains
    "book": lambda: WorldSpec(n_people=200, n_facts=10, n_world_facts=40, book_chapters=24),
    "book-test": lambda: WorldSpec(n_people=20, n_facts=5, n_world_facts=10, book_chapters=8),
    "wmdp": lambda: WorldSpec(n_people=200, n_facts=10, n_world_facts=40, domain_entities=16),
    "wmdp-test": lambda: WorldSpec(n_people=20, n_facts=5, n_world_facts=10, domain_entities=6),
}


def world_preset(name: str) -> WorldSpec:
    """The :class:`WorldSpec` of a named preset (``test``, ``demo``, ``bench``)."""
    if name not in WORLD_PRESETS:
        raise UnknownNameError("world preset", name, WORLD_PRESETS)
    return WORLD_PRESETS[name]()
