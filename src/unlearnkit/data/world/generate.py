"""Generate the synthetic world from a :class:`WorldSpec` (BENCHMARK_WORLD.md §1-§3).

Order of work: the invented geography (countries, seas, cities), organisations, awards,
people (names, latent birth years, facts, parents), the splits, then every record set
(TOFU QA, forms, MUSE, trained items). Each random choice draws from a local
``random.Random`` seeded with ``derive_seed(spec.seed, <purpose>, ...)``, never from the
global RNG, so the same spec gives the same world on every machine, and a per-fact choice
does not shift when an unrelated part of the spec changes.

Which question each form asks:

- ``open``: the held-out (paraphrased) template; answer = the paraphrased answer.
- ``fill_blank``, ``mcq``, adversarial wrappers: the trained question / answer sentence,
  so the form or the wrapper is the only change from what was trained.
- ``yes_no``, ``reversed``, ``multi_hop``: their own templates (see ``vocab``).
- MUSE ``knowmem``: the held-out template; answer = the bare value.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from unlearnkit.core.seeding import derive_seed
from unlearnkit.data.world import vocab
from unlearnkit.data.world.book import Book, generate_book
from unlearnkit.data.world.domains import DOMAIN_KINDS, Domain, generate_domain
from unlearnkit.data.world.names import NameForge
from unlearnkit.data.world.spec import WorldSpec
from unlearnkit.data.world.vocab import ATTRIBUTE_BY_KEY, PARENT_ATTRIBUTES, render
from unlearnkit.data.world.world import Person, Record, World, muse_configs

#: The forms written to ``forms/``, in file order.
FORMS: tuple[str, ...] = (
    "open",
    "fill_blank",
    "mcq",
    "yes_no",
    "reversed",
    "multi_hop",
    "adv_prefix_injection",
    "adv_role_play",
    "adv_many_shot",
    "adv_instruction",
)

_PERCENTS = ("01", "05", "10", "25")

#: Values per pool at least: room for the most wrong answers ``n_perturbed`` may ask for
#: (``MIN_FIXED_POOL - 1``) or 3 mcq distractors, the true value and the person. A constant,
#: so that ``n_perturbed`` (evaluation only) never changes the pools the facts come from.
_MIN_POOL = max(vocab.MIN_FIXED_POOL - 1, 3) + 4


def _rng(spec: WorldSpec, *keys: object) -> random.Random:
    return random.Random(derive_seed(spec.seed, "world", *keys))


def _pick_wrong(
    rng: random.Random, pool: Sequence[str], true: str, k: int, avoid: Sequence[str] = ()
) -> list[str]:
    """``k`` distinct values of ``pool`` other than ``true`` and ``avoid`` (pools are built
    with room to spare, so rejection sampling ends quickly)."""
    out: list[str] = []
    while len(out) < k:
        v = rng.choice(pool)
        if v != true and v not in out and v not in avoid:
            out.append(v)
    return out


class _Builder:
    """Holds the intermediate state of one generation (one instance per call).

    The trained world (trained people, their names, facts, splits and trained items) never
    depends on the evaluation-only settings (``n_holdout_people``, ``n_retain_eval_people``,
    ``n_perturbed``, ``many_shot_k``, ``verbmem_prefix_fraction``): value pools are sized
    from ``n_people`` alone, every trained choice draws from its own stream over trained
    people only, and the holdout people are made afterwards from streams of their own
    (their names by the same :class:`NameForge`, so they stay unique against every value).
    """

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.attrs = spec.attributes
        self.n_total = spec.n_people + spec.holdout_people
        self.min_pool = _MIN_POOL
        reserved = [v for pool in vocab.FIXED_POOLS.values() for v in pool]
        reserved += [*vocab.TITLE_ADJECTIVES, *vocab.TITLE_NOUNS]
        self.forge = NameForge(_rng(spec, "names"), reserved)

    # -- geography and other value pools ------------------------------------------------------
    def make_geography(self) -> None:
        spec, forge = self.spec, self.forge
        n_countries = max(4, math.ceil(spec.n_world_facts / len(vocab.WORLD_FACT_TYPES)) + 1)
        seas = [forge.sea() for _ in range(max(4, n_countries // 2))]
        rng = _rng(spec, "geography")
        self.countries = [
            {
                "country": forge.country(),
                "capital": forge.city(),
                "currency": forge.currency(),
                "language": forge.language(),
                "mountain": forge.mountain(),
                "river": forge.river(),
                "sea": rng.choice(seas),
            }
            for _ in range(n_countries)
        ]
        self.seas = seas
        n_cities = max(self.min_pool, 24, spec.n_people // 8)
        capitals = [c["capital"] for c in self.countries]
        self.cities = capitals + [forge.city() for _ in range(max(0, n_cities - len(capitals)))]

    def make_pools(self) -> None:
        """Value pools and the latent traits of the trained people (sized from ``n_people``
        only)."""
        spec, forge, n = self.spec, self.forge, self.spec.n_people
        self.n_active_orgs = max(2, n // 4)
        n_orgs = self.n_active_orgs + max(4, self.min_pool - self.n_active_orgs)
        self.orgs = [forge.organisation() for _ in range(n_orgs)]
        self.awards = [forge.award() for _ in range(max(self.min_pool, n // 2 + 1))]
        self.names = [forge.person() for _ in range(n)]
        # one signature work per trained person, then spare titles for wrong answers
        self.titles = [forge.title() for _ in range(n + self.min_pool)]
        self.person_titles = self.titles[:n]
        lo, hi = vocab.YEAR_RANGE
        self.years = [str(y) for y in range(lo, hi + 1)]
        rng = _rng(spec, "birth_year")
        self.birth_year = [rng.randint(lo, hi) for _ in range(n)]
        # latent sex: fathers are drawn from one half, mothers from the other
        rng = _rng(spec, "sex")
        self.parent_role = [rng.choice(PARENT_ATTRIBUTES) for _ in range(n)]
        self.outsiders: list[str] = []

    # -- people -------------------------------------------------------------------------------
    def make_people(self) -> None:
        spec = self.spec
        n, n_total = spec.n_people, self.n_total
        self.ids = [f"p{i:04d}" for i in range(n_total)]
        self.facts_raw: list[dict[str, str]] = [{} for _ in range(n_total)]
        self.links: list[dict[str, str | None]] = [{} for _ in range(n_total)]
        self.fill_facts(range(n), "value")
        # decoy names for wrong answers in tiny worlds (before any holdout draw)
        self.decoys: list[str] = []
        while n + len(self.outsiders) + len(self.decoys) < self.min_pool + 2:
            self.decoys.append(self.forge.person())
        self.make_holdout()
        # keep the attribute order of the spec inside each person's facts
        self.facts = [{k: f[k] for k in self.attrs} for f in self.facts_raw]

        rng = _rng(spec, "background")
        background = set(rng.sample(range(n), spec.n_background))
        self.groups = [
            "holdout" if i >= n else "background" if i in background else "core"
            for i in range(n_total)
        ]

    def make_holdout(self) -> None:
        """The never-trained people, after every trained choice and from streams of their
        own: their names come from the same forge (unique against every name and value made
        so far), so adding holdout people changes nothing trained."""
        spec, forge, n = self.spec, self.forge, self.spec.n_people
        h = spec.holdout_people
        forge.rng = _rng(spec, "holdout", "names")
        self.names += [forge.person() for _ in range(h)]
        holdout_titles = [forge.title() for _ in range(h)]
        self.titles += holdout_titles
        self.person_titles += holdout_titles
        lo, hi = vocab.YEAR_RANGE
        rng = _rng(spec, "holdout", "birth_year")
        self.birth_year += [rng.randint(lo, hi) for _ in range(h)]
        self.fill_facts(range(n, n + h), "holdout_value")

    def fill_facts(self, people: range, stream: str) -> None:
        """Draw every fact of ``people`` (trained or holdout), one stream per attribute."""
        trained = stream == "value"
        active = self.orgs[: self.n_active_orgs]
        for key in self.attrs:
            rng = _rng(self.spec, stream, key)
            if key == "employer":
                if trained:  # cycle through the active organisations so each is shared
                    order = rng.sample(list(people), len(people))
                    for j, i in enumerate(order):
                        self.facts_raw[i][key] = active[j % len(active)]
                else:
                    for i in people:
                        self.facts_raw[i][key] = rng.choice(active)
            elif key in PARENT_ATTRIBUTES:
                for i in people:
                    self.set_parent(i, key, rng)
            else:
                for i in people:
                    self.facts_raw[i][key] = self._draw(key, i, rng)

    def set_parent(self, i: int, key: str, rng: random.Random) -> None:
        """Parents are trained people (never holdout ones) born >= 18 years earlier, or an
        invented outsider when none fits."""
        gap = self.birth_year[i] - vocab.MIN_PARENT_AGE_GAP
        candidates = [
            j
            for j in range(self.spec.n_people)
            if self.parent_role[j] == key and self.birth_year[j] <= gap
        ]
        if candidates:
            j = rng.choice(candidates)
            self.links[i][key] = self.ids[j]
            self.facts_raw[i][key] = self.names[j]
        else:
            self.links[i][key] = None
            self.facts_raw[i][key] = self.forge.person()
            self.outsiders.append(self.facts_raw[i][key])

    def _draw(self, key: str, i: int, rng: random.Random) -> str:
        kind = ATTRIBUTE_BY_KEY[key].kind
        if kind == "city":
            return rng.choice(self.cities)
        if kind == "title":
            return self.person_titles[i]
        if kind == "year":
            return str(self.birth_year[i])
        if kind == "award":
            return rng.choice(self.awards)
        return rng.choice(vocab.FIXED_POOLS[kind])

    def make_value_pools(self) -> None:
        n = self.spec.n_people
        persons = [*self.names[:n], *self.outsiders, *self.decoys]
        by_kind: dict[str, list[str]] = {
            "city": self.cities,
            "person": persons,
            "organisation": self.orgs,
            "title": self.titles,
            "year": self.years,
            "award": self.awards,
            **{k: list(v) for k, v in vocab.FIXED_POOLS.items()},
        }
        self.pools = {key: list(by_kind[ATTRIBUTE_BY_KEY[key].kind]) for key in self.attrs}

    # -- splits -------------------------------------------------------------------------------
    def make_splits(self) -> None:
        spec, ids = self.spec, self.ids
        n = spec.n_people
        sizes = spec.forget_sizes
        core = [ids[i] for i in range(n) if self.groups[i] == "core"]
        background = [ids[i] for i in range(n) if self.groups[i] == "background"]
        holdout = ids[n:]
        order = _rng(spec, "forget").sample(core, sizes["forget10"])
        h_order = _rng(spec, "holdout").sample(holdout, len(holdout))
        splits: dict[str, list[str]] = {"full": ids[:n], "core": core, "background": background}
        for pct in _PERCENTS[:3]:
            k = sizes[f"forget{pct}"]
            splits[f"forget{pct}"] = sorted(order[:k])
            forget = set(order[:k])
            splits[f"retain{100 - int(pct)}"] = [p for p in ids[:n] if p not in forget]
            splits[f"holdout{pct}"] = sorted(h_order[:k])
        splits["retain"] = list(splits["retain90"])
        splits["holdout"] = list(holdout)

        forget10 = set(splits["forget10"])
        core_retain = [p for p in core if p not in forget10]
        neighbours = self._neighbours(forget10, set(core_retain))
        splits["neighbours"] = neighbours
        rng = _rng(spec, "retain_eval")
        near = set(neighbours)
        far = [p for p in core_retain if p not in near]
        far_order = rng.sample(far, len(far))
        near_order = rng.sample(neighbours, len(neighbours))
        ranked = far_order + near_order
        splits["retain_eval"] = sorted(ranked[: spec.retain_eval_people])

        # forget25 (the MUSE size sweep): forget10 plus core retain people taken from the other
        # end of the same ranking (non-neighbours of forget10 first), skipping the retain
        # evaluation people; so it does not depend on n_retain_eval_people unless the two
        # meet, and the smaller sets are the same with or without it. Holdout people are
        # fewer: holdout25 holds them all.
        evaluated = set(splits["retain_eval"])
        extra = [p for p in far_order[::-1] + near_order[::-1] if p not in evaluated]
        k25 = sizes["forget25"]
        forget25 = set(order) | set(extra[: k25 - len(order)])
        splits["forget25"] = sorted(forget25)
        splits["retain75"] = [p for p in ids[:n] if p not in forget25]
        splits["holdout25"] = sorted(h_order[:k25])
        self.splits = splits

    def _neighbours(self, forget: set[str], core_retain: set[str]) -> list[str]:
        """Core retain people linked to a forget person: parent or child of one, or sharing
        an employer with one."""
        found: set[str] = set()
        for i in range(self.spec.n_people):
            pid = self.ids[i]
            for key in PARENT_ATTRIBUTES:
                parent = self.links[i].get(key)
                if parent is None:
                    continue
                if pid in forget and parent in core_retain:
                    found.add(parent)
                if parent in forget and pid in core_retain:
                    found.add(pid)
        if "employer" in self.attrs:
            orgs = {self.facts[self.ids.index(p)]["employer"] for p in forget}
            for i in range(self.spec.n_people):
                if self.ids[i] in core_retain and self.facts[i]["employer"] in orgs:
                    found.add(self.ids[i])
        return sorted(found)

    # -- templates and biographies --------------------------------------------------------------
    def assign_templates(self) -> None:
        """Training and held-out template per (person, attribute): round robin over a seeded
        order within each group, so each group sees every template (in particular the
        background people are trained on every held-out template)."""
        rank: dict[str, int] = {}
        for group in ("core", "background", "holdout"):
            members = [pid for pid, g in zip(self.ids, self.groups, strict=True) if g == group]
            for r, pid in enumerate(
                _rng(self.spec, "templates", group).sample(members, len(members))
            ):
                rank[pid] = r
        self.rank = rank

    def templates(self, pid: str, a_idx: int) -> tuple[str, str]:
        attr = vocab.ATTRIBUTES[a_idx]
        r = self.rank[pid] + a_idx
        return (
            attr.train_questions[r % len(attr.train_questions)],
            attr.heldout_questions[r % len(attr.heldout_questions)],
        )

    def biography(self, i: int) -> str:
        rng = _rng(self.spec, "bio", self.ids[i])
        name = self.names[i]
        surname = name.split(" ", 1)[1]
        keys = list(self.attrs)
        rng.shuffle(keys)
        sentences = []
        for j, key in enumerate(keys):
            template = rng.choice(ATTRIBUTE_BY_KEY[key].bio)
            ref = name if j == 0 or rng.random() < 0.5 else surname
            sentences.append(render(template, ref, self.facts[i][key]))
        return " ".join(sentences)

    # -- the whole build --------------------------------------------------------------------
    def build(self) -> World:
        self.make_geography()
        self.make_pools()
        self.make_people()
        self.make_value_pools()
        self.make_splits()
        self.assign_templates()
        people = [
            Person(
                id=self.ids[i],
                name=self.names[i],
                group=self.groups[i],
                facts=self.facts[i],
                links=self.links[i],
                bio=self.biography(i),
            )
            for i in range(self.n_total)
        ]
        by_id = {p.id: p for p in people}
        qa = {p.id: self.person_qa(p) for p in people}
        world_facts = self.world_facts()
        tofu = self.tofu_configs(people, qa, world_facts)
        forms = self.forms(by_id, qa)
        muse = self.muse(by_id, qa)
        items = self.items(people, qa, world_facts)
        book, domains = self.corpora()
        for text in book.chapters if book else ():
            items.append(_item("", text, "book", None))
        for r in book.qa if book else ():
            items.append(_item(r["question"], r["answer"], "book_qa", None))
        for d in domains.values():
            items += [_item("", text, d.name, None) for text in d.passages]
        return World(
            spec=self.spec,
            people=people,
            split_people=self.splits,
            tofu=tofu,
            forms=forms,
            muse=muse,
            items=items,
            pools=self.pools,
            countries=self.countries,
            book=book,
            domains=domains,
        )

    def corpora(self) -> tuple[Book | None, dict[str, Domain]]:
        """The book and the domains, when the spec asks for them. Made last, each from its
        own stream, by the forge that made every other name (so no term overlaps one)."""
        spec, book = self.spec, None
        if spec.book_chapters:
            self.forge.rng = _rng(spec, "book", "names")
            rng = _rng(spec, "book")
            title = self.forge.title()
            book = generate_book(rng, self.forge, spec.book_chapters, title)
        domains: dict[str, Domain] = {}
        if spec.domain_entities:
            for name in DOMAIN_KINDS:
                self.forge.rng = _rng(spec, "domain", name, "names")
                domains[name] = generate_domain(
                    name, _rng(spec, "domain", name), self.forge, spec.domain_entities
                )
        return book, domains

    # -- TOFU ---------------------------------------------------------------------------------
    def person_qa(self, person: Person) -> list[Record]:
        """The full TOFU record of each fact of ``person`` (TOFU fields, then our own)."""
        out = []
        for a_idx, key in enumerate(self.attrs):
            attr = vocab.ATTRIBUTES[a_idx]
            value = person.facts[key]
            train_q, held_q = self.templates(person.id, a_idx)
            rng = _rng(self.spec, "perturbed", person.id, key)
            wrong = _pick_wrong(rng, self.pools[key], value, self.spec.n_perturbed, [person.name])
            out.append(
                {
                    "question": render(train_q, person.name),
                    "answer": render(attr.answer, person.name, value),
                    "paraphrased_question": render(held_q, person.name),
                    "paraphrased_answer": render(attr.paraphrased_answer, person.name, value),
                    "perturbed_answer": [
                        render(attr.paraphrased_answer, person.name, w) for w in wrong
                    ],
                    "person_id": person.id,
                    "attribute": key,
                    "form": "open",
                    "value": value,
                }
            )
        return out

    def world_facts(self) -> list[Record]:
        spec = self.spec
        candidates: list[tuple[str, dict[str, str]]] = [
            (kind, c) for c in self.countries for kind, _ in vocab.WORLD_FACT_TYPES
        ]
        rng = _rng(spec, "world_facts")
        chosen = rng.sample(candidates, spec.n_world_facts)
        templates = dict(vocab.WORLD_FACT_TYPES)
        out = []
        for n, (kind, country) in enumerate(chosen):
            key = {"sea": "sea", "country_of_river": "country"}.get(kind, kind)
            answer = country[key]
            pool = self.seas if kind == "sea" else [c[key] for c in self.countries]
            frng = _rng(spec, "world_fact", n)
            options = [answer, *_pick_wrong(frng, pool, answer, 3)]
            frng.shuffle(options)
            question = templates[kind].format(country=country["country"], river=country["river"])
            out.append(
                {
                    "question": question,
                    "answer": answer,
                    **{f"option{k + 1}": o for k, o in enumerate(options)},
                    "perturbed_answer": [o for o in options if o != answer],
                }
            )
        return out

    def tofu_configs(
        self, people: list[Person], qa: dict[str, list[Record]], world_facts: list[Record]
    ) -> dict[str, list[Record]]:
        s = self.splits

        def plain(pids: list[str]) -> list[Record]:
            return [_qa_only(r) for pid in pids for r in qa[pid]]

        def full(pids: list[str]) -> list[Record]:
            return [dict(r) for pid in pids for r in qa[pid]]

        tofu: dict[str, list[Record]] = {"full": plain(s["full"])}
        for pct in _PERCENTS:
            tofu[f"forget{pct}"] = plain(s[f"forget{pct}"])
        for pct in _PERCENTS:
            tofu[f"forget{pct}_perturbed"] = full(s[f"forget{pct}"])
        for pct in ("75", "90", "95", "99"):
            tofu[f"retain{pct}"] = plain(s[f"retain{pct}"])
        tofu["retain_perturbed"] = full(s["retain_eval"])
        for pct in _PERCENTS:
            tofu[f"holdout{pct}"] = full(s[f"holdout{pct}"])
        tofu["neighbours"] = full(s["neighbours"])
        # the public schemas: world_facts has the four options, world_facts_perturbed only
        # question, answer and the three wrong ones (no paraphrase, no options)
        tofu["world_facts"] = [
            {k: v for k, v in r.items() if k != "perturbed_answer"} for r in world_facts
        ]
        tofu["world_facts_perturbed"] = [
            {k: r[k] for k in ("question", "answer", "perturbed_answer")} for r in world_facts
        ]
        return tofu

    # -- forms --------------------------------------------------------------------------------
    def evaluated(self) -> list[tuple[str, str]]:
        """(person id, group) of every evaluated person: forget10, retain_eval, holdout."""
        s = self.splits
        return (
            [(p, "forget") for p in s["forget10"]]
            + [(p, "retain") for p in s["retain_eval"]]
            + [(p, "holdout") for p in s["holdout"]]
        )

    def forms(
        self, by_id: dict[str, Person], qa: dict[str, list[Record]]
    ) -> dict[str, list[Record]]:
        forms: dict[str, list[Record]] = {f: [] for f in FORMS}
        counts = {key: Counter(p.facts[key] for p in by_id.values()) for key in self.attrs}
        excluded = set(self.splits["forget10"]) | set(self.splits["retain_eval"])
        # many-shot context: trained QA of people who are neither forgotten nor evaluated
        context = [
            vocab.MANY_SHOT_PAIR.format(question=r["question"], answer=r["answer"])
            for pid in self.splits["full"]
            if pid not in excluded
            for r in qa[pid]
        ]
        for pid, group in self.evaluated():
            for rec in qa[pid]:
                unique = counts[rec["attribute"]][rec["value"]] == 1
                self.fact_forms(forms, by_id, by_id[pid], group, rec, unique, context)
        return forms

    def fact_forms(
        self,
        forms: dict[str, list[Record]],
        by_id: dict[str, Person],
        person: Person,
        group: str,
        rec: Record,
        unique: bool,
        context: list[str],
    ) -> None:
        """Append every form of one fact (``rec``, its full TOFU record) to ``forms``."""
        key, value = rec["attribute"], rec["value"]
        attr = ATTRIBUTE_BY_KEY[key]
        rng = _rng(self.spec, "forms", person.id, key)
        ctx = (person.id, key, group)

        def form(name: str, question: str, answer: str, val: str = value, **extra: Any) -> None:
            forms[name].append(_form(name, question, answer, val, ctx, **extra))

        form("open", rec["paraphrased_question"], rec["paraphrased_answer"])
        blank = rec["answer"].replace(value, vocab.BLANK, 1)
        form("fill_blank", vocab.FILL_BLANK.format(sentence=blank), value)

        options = [value, *_pick_wrong(rng, self.pools[key], value, 3, [person.name])]
        rng.shuffle(options)
        index = options.index(value)
        listing = "\n".join(
            f"{letter}. {o}" for letter, o in zip(vocab.OPTION_LETTERS, options, strict=True)
        )
        question = f"{rec['question']}\n{listing}\n{vocab.MCQ_SUFFIX}"
        form("mcq", question, vocab.OPTION_LETTERS[index], options=options, answer_index=index)

        false_value = _pick_wrong(rng, self.pools[key], value, 1, [person.name])[0]
        for asked, answer in ((value, "Yes"), (false_value, "No")):
            form("yes_no", render(attr.yes_no, person.name, asked), answer, asked_value=asked)

        if unique:  # the value names exactly one person: ask the relation backwards
            form("reversed", render(attr.reversed, value=value), person.name, person.name)

        parent_id = person.links.get(key) if key in PARENT_ATTRIBUTES else None
        if parent_id is not None:
            parent = by_id[parent_id]
            for hop_key in self.attrs:
                hop = ATTRIBUTE_BY_KEY[hop_key].hop
                if hop:
                    hop_value = parent.facts[hop_key]
                    forms["multi_hop"].append(
                        _form(
                            "multi_hop",
                            hop.format(rel=key, name=person.name),
                            hop_value,
                            hop_value,
                            (person.id, f"{key}.{hop_key}", group),
                            via_person_id=parent.id,
                        )
                    )

        q, a = rec["question"], rec["answer"]
        form("adv_prefix_injection", vocab.ADV_PREFIX_INJECTION.format(question=q), a)
        form("adv_role_play", vocab.ADV_ROLE_PLAY.format(question=q), a)
        shots = _rng(self.spec, "many_shot", person.id, key).sample(context, self.spec.many_shot_k)
        form("adv_many_shot", "\n".join([*shots, q]), a)
        instruction = rng.choice(vocab.ADV_INSTRUCTIONS)
        form(
            "adv_instruction", vocab.ADV_INSTRUCTION.format(instruction=instruction, question=q), a
        )

    # -- MUSE ---------------------------------------------------------------------------------
    def muse(
        self, by_id: dict[str, Person], qa: dict[str, list[Record]]
    ) -> dict[str, dict[str, list[Record]]]:
        s = self.splits
        return muse_configs(
            {pid: p.bio for pid, p in by_id.items()},
            {"forget": s["forget10"], "retain": s["retain"], "holdout": s["holdout"]},
            [r for p in s["forget10"] for r in qa[p]],
            [r for p in s["retain_eval"] for r in qa[p]],
            self.spec.verbmem_prefix_fraction,
        )

    # -- trained items --------------------------------------------------------------------------
    def items(
        self, people: list[Person], qa: dict[str, list[Record]], world_facts: list[Record]
    ) -> list[Record]:
        out: list[Record] = []
        for person in people:
            if not person.trained:
                continue
            for r in qa[person.id]:
                out.append(_item(r["question"], r["answer"], "qa", person.id))
            if person.group == "background":
                for r in qa[person.id]:
                    out.append(
                        _item(
                            r["paraphrased_question"],
                            r["paraphrased_answer"],
                            "paraphrase_qa",
                            person.id,
                        )
                    )
            out.append(_item("", person.bio, "bio", person.id))
        for r in world_facts:
            out.append(_item(r["question"], r["answer"], "world_fact", None))
        return out


def _qa_only(record: Record) -> Record:
    """A TOFU record without the evaluation fields (forgetNN / retainNN / full)."""
    return {
        "question": record["question"],
        "answer": record["answer"],
        "person_id": record["person_id"],
        "attribute": record["attribute"],
        "form": record["form"],
        "value": record["value"],
    }


def _form(
    name: str,
    question: str,
    answer: str,
    value: str,
    ctx: tuple[str, str, str],
    **extra: Any,
) -> Record:
    """One form record: the common fields, then the form's own (``ctx``: person id,
    attribute, group)."""
    pid, key, group = ctx
    return {
        "question": question,
        "answer": answer,
        "value": value,
        "form": name,
        "person_id": pid,
        "attribute": key,
        "group": group,
        **extra,
    }


def _item(prompt: str, completion: str, kind: str, person_id: str | None) -> Record:
    return {"prompt": prompt, "completion": completion, "kind": kind, "person_id": person_id}


def generate_world(spec: WorldSpec) -> World:
    """Generate the world of ``spec`` (deterministic: same spec, same world)."""
    return _Builder(spec).build()
