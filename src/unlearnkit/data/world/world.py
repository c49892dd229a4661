"""The generated world: people, every split in its public schema, and the trained items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearnkit.core.errors import UnknownNameError
from unlearnkit.data.world.book import Book
from unlearnkit.data.world.domains import Domain
from unlearnkit.data.world.spec import CORPUS_REQUESTS, FORGET_FRACTIONS, WorldSpec

#: Format tag and version written into ``world.json``. Version 2: the trained world no
#: longer depends on the evaluation-only settings, and MUSE verbmem ``gt`` starts with the
#: space that separates it from ``prompt`` (``prompt + gt`` is the biography). Version 3:
#: the forget25 / retain75 / holdout25 splits.
WORLD_FORMAT = "unlearnkit.world"
WORLD_VERSION = 3

#: The record fields that hold text a model or tokenizer sees (ids and labels excluded).
TEXT_FIELDS: tuple[str, ...] = (
    "question",
    "answer",
    "paraphrased_question",
    "paraphrased_answer",
    "perturbed_answer",
    "option1",
    "option2",
    "option3",
    "option4",
    "options",
    "choices",
    "text",
    "prompt",
    "gt",
    "completion",
)

Record = dict[str, Any]


def _qa_only(record: Record) -> Record:
    return {"question": record["question"], "answer": record["answer"]}


def muse_configs(
    bios: Mapping[str, str],
    splits: Mapping[str, Sequence[str]],
    forget_qa: Sequence[Record],
    retain_qa: Sequence[Record],
    prefix_fraction: float,
) -> dict[str, dict[str, list[Record]]]:
    """The MUSE configs (``raw``, ``verbmem``, ``knowmem``, ``privleak``) of one forget request.

    bios: person id -> biography. splits: ``forget``, ``retain`` and ``holdout`` person ids.
    forget_qa / retain_qa: full TOFU records (``paraphrased_question``, ``value``) behind
    ``knowmem``. prefix_fraction: share of a biography's words in the VerbMem prompt.
    """

    def raw(role: str) -> list[Record]:
        return [{"text": bios[p]} for p in splits[role]]

    def verbmem(pid: str) -> Record:
        # cut between two words; ``gt`` keeps the space, so prompt + gt == the trained bio
        words = bios[pid].split(" ")
        k = min(len(words) - 1, max(1, round(prefix_fraction * len(words))))
        return {"prompt": " ".join(words[:k]), "gt": " " + " ".join(words[k:])}

    def knowmem(records: Sequence[Record]) -> list[Record]:
        return [{"question": r["paraphrased_question"], "answer": r["value"]} for r in records]

    texts = {role: raw(role) for role in ("forget", "retain", "holdout")}
    return {
        "raw": texts,
        "verbmem": {"forget": [verbmem(p) for p in splits["forget"]]},
        "knowmem": {"forget_qa": knowmem(forget_qa), "retain_qa": knowmem(retain_qa)},
        "privleak": {k: [dict(r) for r in v] for k, v in texts.items()},
    }


@dataclass(frozen=True)
class Person:
    """One invented person.

    id: ``"p0007"``. group: ``"core"`` (trained, may be forgotten or evaluated),
    ``"background"`` (trained, also on the held-out templates; never forgotten or evaluated)
    or ``"holdout"`` (never trained). facts: attribute -> value (the bare string inside the
    answers). links: parent attribute (father / mother) -> the parent's person id, or
    ``None`` when the parent is an invented outsider. bio: the biography paragraph.
    """

    id: str
    name: str
    group: str
    facts: dict[str, str]
    links: dict[str, str | None]
    bio: str

    @property
    def trained(self) -> bool:
        return self.group != "holdout"

    def to_dict(self) -> Record:
        """The entry written to ``world.json``."""
        return {
            "id": self.id,
            "name": self.name,
            "group": self.group,
            "facts": dict(self.facts),
            "links": dict(self.links),
        }


@dataclass(frozen=True)
class World:
    """A generated world (see :func:`~unlearnkit.data.world.generate_world`).

    spec: what it was generated from. people: trained people first (``p0000`` ...), then the
    holdout people. split_people: split name -> person ids (``forget01/05/10/25``,
    ``retain75/90/95/99``, ``retain`` (= retain90), ``retain_eval``, ``neighbours``,
    ``background``, ``core``, ``full``, ``holdout``, ``holdout01/05/10``).
    tofu: TOFU config name -> records. forms: form name -> records. muse: MUSE config ->
    split -> records. items: every trained item (``prompt``, ``completion``, ``kind``,
    ``person_id``). pools: attribute -> every value of its type (true and wrong answers are
    drawn from it). countries: the invented countries behind the world facts.
    """

    spec: WorldSpec
    people: list[Person]
    split_people: dict[str, list[str]]
    tofu: dict[str, list[Record]]
    forms: dict[str, list[Record]]
    muse: dict[str, dict[str, list[Record]]]
    items: list[Record]
    pools: dict[str, list[str]]
    countries: list[dict[str, str]]
    _by_id: dict[str, Person] = field(init=False, repr=False, compare=False)
    book: Book | None = None
    domains: dict[str, Domain] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {p.id: p for p in self.people})

    # -- look-ups -----------------------------------------------------------------------------
    def person(self, person_id: str) -> Person:
        """The person with this id."""
        try:
            return self._by_id[person_id]
        except KeyError:
            raise UnknownNameError("person id", person_id, self._by_id) from None

    def people_in(self, split: str) -> list[Person]:
        """The people of one split (``forget10``, ``holdout``, ``neighbours``, ...)."""
        return [self._by_id[pid] for pid in self._split(split)]

    def _split(self, split: str) -> list[str]:
        if split not in self.split_people:
            raise UnknownNameError("world split", split, self.split_people)
        return self.split_people[split]

    def muse_for(self, forget: str) -> dict[str, dict[str, list[Record]]]:
        """The MUSE configs of forget request ``forget`` (``muse`` is forget10's, the one
        written out): the forget people's biographies and QA, the biographies of the rest of
        the trained people, and every holdout person's."""
        if forget == "forget10":
            return self.muse
        if forget in CORPUS_REQUESTS:
            return self._corpus_muse(forget)
        if forget not in FORGET_FRACTIONS:
            raise UnknownNameError("forget request", forget, self.requests())
        percent = int(forget.removeprefix("forget"))
        s = self.split_people
        return muse_configs(
            {p.id: p.bio for p in self.people},
            {
                "forget": s[forget],
                "retain": s[f"retain{100 - percent:02d}"],
                "holdout": s["holdout"],
            },
            self.tofu[f"{forget}_perturbed"],
            self.tofu["retain_perturbed"],
            self.spec.verbmem_prefix_fraction,
        )

    def requests(self) -> list[str]:
        """The forget requests this world can make: its forget sets of people, plus ``book``
        and ``hazard`` when it has a book and domains."""
        out = list(FORGET_FRACTIONS)
        if self.book is not None:
            out.append("book")
        if self.domains:
            out.append("hazard")
        return out

    def corpus_sets(self, forget: str) -> tuple[list[Record], list[Record]]:
        """(forget, retain) of a corpus request, as the records unlearning methods take.

        ``book``: the chapters (``text``) and the book's questions (``question``, ``answer``)
        against retain people's questions. ``hazard``: the hazardous passages against the
        benign ones and retain people's questions (WMDP's RMU keeps general text, Wikitext,
        as its retain set; the people are this world's general knowledge)."""
        if forget == "book" and self.book is not None:
            forget_set = [{"text": t} for t in self.book.chapters]
            forget_set += [{"question": r["question"], "answer": r["answer"]} for r in self.book.qa]
            return forget_set, [_qa_only(r) for r in self.tofu["retain90"]]
        if forget == "hazard" and self.domains:
            return (
                [{"text": t} for t in self.domains["hazard"].passages],
                [{"text": t} for t in self.domains["benign"].passages]
                + [_qa_only(r) for r in self.tofu["retain90"]],
            )
        raise UnknownNameError("corpus forget request", forget, self.requests())

    def _corpus_muse(self, forget: str) -> dict[str, dict[str, list[Record]]]:
        retain_qa = self.muse["knowmem"]["retain_qa"]
        if forget == "book" and self.book is not None:
            b = self.book
            verbmem = []
            for text in b.chapters:
                words = text.split(" ")
                k = min(
                    len(words) - 1, max(1, round(self.spec.verbmem_prefix_fraction * len(words)))
                )
                verbmem.append({"prompt": " ".join(words[:k]), "gt": " " + " ".join(words[k:])})
            raw = {
                "forget": [{"text": t} for t in b.chapters],
                "retain": [{"text": p.bio} for p in self.people_in("retain")],
                "holdout": [{"text": t} for t in b.holdout_chapters],
            }
            knowmem = [{"question": r["question"], "answer": r["value"]} for r in b.qa]
            return {
                "raw": raw,
                "verbmem": {"forget": verbmem},
                "knowmem": {"forget_qa": knowmem, "retain_qa": retain_qa},
                "privleak": {k: [dict(r) for r in v] for k, v in raw.items()},
            }
        if forget == "hazard" and self.domains:
            h, g = self.domains["hazard"], self.domains["benign"]
            raw = {
                "forget": [{"text": t} for t in h.passages],
                "retain": [{"text": t} for t in g.passages],
                "holdout": [{"text": t} for t in h.holdout_passages],
            }
            return {
                "raw": raw,
                "knowmem": {"retain_qa": retain_qa},
                "privleak": {k: [dict(r) for r in v] for k, v in raw.items()},
            }
        raise UnknownNameError("forget request", forget, self.requests())

    # -- training data and texts ------------------------------------------------------------
    def training_items(self, exclude: str | None = None) -> list[Record]:
        """Every trained item, less the items of the people in split ``exclude`` (or, for
        the corpus requests ``book`` / ``hazard``, less that corpus).

        ``training_items()`` is the target model's data; ``training_items("forget10")`` the
        exact retrain oracle's. World facts (``person_id`` ``None``) are always kept.
        Returns copies: changing them does not change the world.
        """
        if exclude in CORPUS_REQUESTS:
            kinds = set(CORPUS_REQUESTS[exclude])
            if not any(it["kind"] in kinds for it in self.items):
                raise UnknownNameError("forget request", exclude, self.requests())
            return [dict(it) for it in self.items if it["kind"] not in kinds]
        drop = set(self._split(exclude)) if exclude is not None else set()
        return [dict(it) for it in self.items if it["person_id"] not in drop]

    def tokenizer_texts(self) -> list[str]:
        """The texts a tokenizer should be trained on: every distinct non-empty prompt and
        completion of the trained items, in item order.

        Unlike :meth:`texts`, these do not change with the evaluation-only settings
        (``n_holdout_people``, ``n_retain_eval_people``, ``n_perturbed``, ``many_shot_k``,
        ``verbmem_prefix_fraction``), so neither does a tokenizer trained on them, nor the
        token ids of the trained data."""
        seen: dict[str, None] = {}
        for it in self.items:
            seen[it["prompt"]] = None
            seen[it["completion"]] = None
        seen.pop("", None)
        return list(seen)

    def texts(self) -> list[str]:
        """Every distinct string a tokenizer should see (questions, answers, paraphrases,
        perturbed answers, options, forms, biographies, world facts, trained items), in a
        fixed order."""
        seen: dict[str, None] = {}

        def add(records: list[Record]) -> None:
            for rec in records:
                for key in TEXT_FIELDS:
                    value = rec.get(key)
                    if isinstance(value, str):
                        seen[value] = None
                    elif isinstance(value, list):
                        for v in value:
                            seen[v] = None

        for records in self.tofu.values():
            add(records)
        for records in self.forms.values():
            add(records)
        for splits in self.muse.values():
            for records in splits.values():
                add(records)
        if self.book is not None:
            add(self.book.qa)
            add([{"text": t} for t in self.book.holdout_chapters])
        for d in self.domains.values():
            add([{"text": t} for t in d.holdout_passages])
            add([{"question": r["question"], "choices": r["choices"]} for r in d.mcq])
        add(self.items)
        seen.pop("", None)
        return list(seen)

    # -- output -------------------------------------------------------------------------------
    def to_json(self) -> Record:
        """The content of ``world.json``: format, version, spec, people, splits, pools,
        countries."""
        return {
            "format": WORLD_FORMAT,
            "version": WORLD_VERSION,
            "spec": self.spec.to_dict(),
            "people": [p.to_dict() for p in self.people],
            "splits": {k: list(v) for k, v in self.split_people.items()},
            "pools": {k: list(v) for k, v in self.pools.items()},
            "countries": [dict(c) for c in self.countries],
            **({"book": self.book.to_dict()} if self.book is not None else {}),
            **(
                {"domains": {k: d.to_dict() for k, d in self.domains.items()}}
                if self.domains
                else {}
            ),
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write the world to ``out_dir`` (replaced atomically if it exists) in the layout of
        ``docs/world_layout.md``; returns ``out_dir``."""
        from unlearnkit.data.world.writer import write_world

        return write_world(self, out_dir)
