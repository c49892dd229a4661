"""The synthetic world: determinism, split structure, record schemas, forms, the hub layouts
(read back with ``datasets``), the lessons of BENCHMARK_WORLD.md, and spec validation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import datasets
import pytest
import yaml

from unlearnkit.core.errors import ConfigError, UnknownNameError
from unlearnkit.data.world import (
    ATTRIBUTES,
    FORMS,
    WORLD_PRESETS,
    World,
    WorldSpec,
    generate_world,
    world_preset,
)
from unlearnkit.data.world.vocab import ATTRIBUTE_BY_KEY, BLANK, OPTION_LETTERS, render
from unlearnkit.data.world.world import WORLD_VERSION

TOFU_FILES = [
    "full",
    "forget01",
    "forget05",
    "forget10",
    "forget25",
    "forget01_perturbed",
    "forget05_perturbed",
    "forget10_perturbed",
    "forget25_perturbed",
    "retain75",
    "retain90",
    "retain95",
    "retain99",
    "retain_perturbed",
    "holdout01",
    "holdout05",
    "holdout10",
    "holdout25",
    "neighbours",
    "world_facts",
    "world_facts_perturbed",
]
MUSE_FILES = {
    "raw": ["forget", "retain", "holdout"],
    "verbmem": ["forget"],
    "knowmem": ["forget_qa", "retain_qa"],
    "privleak": ["forget", "retain", "holdout"],
}
TOFU_PUBLIC = ["question", "answer", "paraphrased_question", "paraphrased_answer"]
OWN = ["person_id", "attribute", "form", "value"]
FORM_FIELDS = ["question", "answer", "value", "form", "person_id", "attribute", "group"]


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(world_preset("test"))


@pytest.fixture(scope="module")
def demo() -> World:
    return generate_world(world_preset("demo"))


@pytest.fixture(scope="module")
def written(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return world.write(tmp_path_factory.mktemp("world") / "w")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- determinism and layout ------------------------------------------------------------------
def test_same_spec_gives_byte_identical_files(tmp_path: Path) -> None:
    spec = world_preset("test")
    a = all_files(generate_world(spec).write(tmp_path / "a"))
    b = all_files(generate_world(WorldSpec.from_dict(spec.to_dict())).write(tmp_path / "b"))
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    a = all_files(generate_world(world_preset("test")).write(tmp_path / "a"))
    b = all_files(generate_world(world_preset("test").replace(seed=1)).write(tmp_path / "b"))
    assert a.keys() == b.keys()
    changed = [k for k in a if a[k] != b[k]]
    assert "train/items.json" in changed and "tofu/forget10_perturbed.json" in changed
    assert "muse/raw/forget.json" in changed and "world.json" in changed


def test_files_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    code = (
        "import sys; from unlearnkit.data.world import generate_world, world_preset; "
        "generate_world(world_preset('test')).write(sys.argv[1])"
    )
    for h in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": h}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / h)], check=True, env=env)
    assert all_files(tmp_path / "1") == all_files(tmp_path / "2")


def test_layout_matches_docs(written: Path) -> None:
    expected = {"world.json", "train/items.json", "tofu/README.md", "forms/README.md"}
    expected |= {f"tofu/{n}.json" for n in TOFU_FILES}
    expected |= {f"forms/{n}.json" for n in FORMS}
    expected |= {"muse/README.md"} | {
        f"muse/{c}/{s}.json" for c, ss in MUSE_FILES.items() for s in ss
    }
    assert set(all_files(written)) == expected
    # JSON Lines, one compact object per line, non-ASCII kept as is
    for name in expected - {"world.json", "tofu/README.md", "forms/README.md", "muse/README.md"}:
        lines = (written / name).read_text(encoding="utf-8").splitlines()
        assert lines and all(line.startswith("{") and line.endswith("}") for line in lines), name


def test_write_replaces_an_existing_directory(tmp_path: Path) -> None:
    out = tmp_path / "w"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    generate_world(world_preset("test")).write(out)
    assert not (out / "stale.txt").exists() and (out / "world.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name != "w"]  # no temporary left over


def test_world_json(world: World, written: Path) -> None:
    data = json.loads((written / "world.json").read_text(encoding="utf-8"))
    assert data["format"] == "unlearnkit.world" and data["version"] == WORLD_VERSION == 3
    assert WorldSpec.from_dict(data["spec"]) == world.spec
    assert data["splits"] == world.split_people
    assert [p["id"] for p in data["people"]] == [p.id for p in world.people]
    first = data["people"][0]
    assert set(first) == {"id", "name", "group", "facts", "links"}
    assert list(first["facts"]) == list(world.spec.attributes)


# -- people and splits ----------------------------------------------------------------------
def test_forget_sets_nested_and_disjoint(world: World, demo: World) -> None:
    for w in (world, demo):
        s = {k: set(v) for k, v in w.split_people.items()}
        sizes = w.spec.forget_sizes
        assert all(len(s[k]) == sizes[k] for k in sizes)
        assert s["forget01"] < s["forget05"] < s["forget10"] or (
            s["forget01"] <= s["forget05"] <= s["forget10"]
            and sizes["forget01"] == sizes["forget05"]
        )
        assert s["forget10"] <= s["core"] and not s["forget10"] & s["background"]
        assert not s["forget10"] & s["retain"] and not s["forget10"] & s["holdout"]
        assert not s["retain"] & s["holdout"] and s["retain"] | s["forget10"] == s["full"]
        for pct, keep in (("01", "99"), ("05", "95"), ("10", "90"), ("25", "75")):
            assert s[f"retain{keep}"] == s["full"] - s[f"forget{pct}"]
            assert s[f"holdout{pct}"] <= s["holdout"]
            assert len(s[f"holdout{pct}"]) == min(sizes[f"forget{pct}"], len(s["holdout"]))
        assert s["holdout01"] <= s["holdout05"] <= s["holdout10"] <= s["holdout25"]
        # forget25 holds forget10, stays in the core and spares the retain evaluation people
        assert s["forget10"] < s["forget25"] <= s["core"]
        assert not s["forget25"] & s["retain_eval"]
        assert s["retain_eval"] <= s["core"] - s["forget10"]
        assert s["neighbours"] <= s["core"] - s["forget10"]
        assert len(s["retain_eval"]) == w.spec.retain_eval_people
        # the TOFU files hold exactly the people of their split
        for config in (
            "forget01",
            "forget10_perturbed",
            "forget25_perturbed",
            "retain95",
            "retain75",
            "holdout05",
            "neighbours",
        ):
            split = config.removesuffix("_perturbed")
            assert {r["person_id"] for r in w.tofu[config]} == s[split], config


def test_demo_sizes(demo: World) -> None:
    s = demo.split_people
    assert len(s["full"]) == 200 and len(s["holdout"]) == 20 and len(s["background"]) == 40
    assert [len(s[k]) for k in ("forget01", "forget05", "forget10", "forget25")] == [2, 10, 20, 50]
    # forget25 takes no neighbour of forget10 when enough others exist
    assert not set(s["forget25"]) & set(s["neighbours"])
    assert len(demo.tofu["full"]) == 2000 and len(demo.tofu["forget10_perturbed"]) == 200
    assert len(demo.tofu["world_facts"]) == 40
    kinds = Counter(it["kind"] for it in demo.items)
    assert kinds == {"qa": 2000, "paraphrase_qa": 400, "bio": 200, "world_fact": 40}
    # retain evaluation people avoid neighbours when enough others exist
    assert not set(s["retain_eval"]) & set(s["neighbours"])


def test_demo_generates_and_writes_fast(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    generate_world(world_preset("demo")).write(tmp_path / "demo")
    assert time.perf_counter() - t0 < 5.0


def test_names_unique_and_not_colliding(demo: World) -> None:
    names = [p.name for p in demo.people]
    assert len(set(names)) == len(names)
    values = {v for pool in demo.pools.values() for v in pool} - set(demo.pools["father"])
    assert not set(names) & values
    # no name inside another name or any other value (substring search is safe)
    lowered = [n.lower() for n in names]
    for n in lowered[:50]:
        assert sum(n in m for m in lowered) == 1
        assert not any(n in v.lower() or v.lower() in n for v in values)


def test_people_facts_and_links(demo: World) -> None:
    trained = {p.id for p in demo.people if p.trained}
    names = {p.name: p for p in demo.people}
    employers = Counter(p.facts["employer"] for p in demo.people)
    for p in demo.people:
        assert list(p.facts) == list(demo.spec.attributes)
        for rel in ("father", "mother"):
            parent_id = p.links[rel]
            if parent_id is None:  # an invented outsider, never a person of the world
                assert p.facts[rel] not in names
                continue
            parent = demo.person(parent_id)
            assert parent_id in trained and parent.name == p.facts[rel]
            assert int(parent.facts["birth_year"]) <= int(p.facts["birth_year"]) - 18
        assert p.facts["father"] != p.facts["mother"]
        assert employers[p.facts["employer"]] >= 2  # employers are shared
    titles = [p.facts["signature_work"] for p in demo.people]
    assert len(set(titles)) == len(titles)
    # nobody is both a father and a mother
    fathers = {p.links["father"] for p in demo.people} - {None}
    mothers = {p.links["mother"] for p in demo.people} - {None}
    assert fathers and mothers and not fathers & mothers


def test_neighbours_are_linked_to_forget_people(demo: World) -> None:
    forget = set(demo.split_people["forget10"])
    neighbours = demo.people_in("neighbours")
    assert neighbours
    forget_people = [demo.person(p) for p in forget]
    forget_orgs = {p.facts["employer"] for p in forget_people}
    for n in neighbours:
        assert n.group == "core" and n.id not in forget
        parent_of_forget = any(n.id in f.links.values() for f in forget_people)
        child_of_forget = any(v in forget for v in n.links.values())
        assert parent_of_forget or child_of_forget or n.facts["employer"] in forget_orgs


# -- TOFU records ---------------------------------------------------------------------------
def test_tofu_record_schema(world: World) -> None:
    for config, records in world.tofu.items():
        assert records, config
        for r in records:
            if config == "world_facts":  # TOFU's public schema: four options
                assert list(r) == ["question", "answer", *(f"option{k}" for k in range(1, 5))]
                options = [r[f"option{k}"] for k in range(1, 5)]
                assert r["answer"] in options and len(set(options)) == 4
            elif config == "world_facts_perturbed":  # only the three wrong answers, no paraphrase
                assert list(r) == ["question", "answer", "perturbed_answer"]
                plain = world.tofu["world_facts"][records.index(r)]
                assert (r["question"], r["answer"]) == (plain["question"], plain["answer"])
                options = {plain[f"option{k}"] for k in range(1, 5)}
                assert sorted(r["perturbed_answer"]) == sorted(options - {r["answer"]})
            elif config in ("full", "forget01", "forget05", "forget10", "forget25") or (
                config.startswith("retain") and config != "retain_perturbed"
            ):
                assert list(r) == ["question", "answer", *OWN]
            else:
                assert list(r) == [*TOFU_PUBLIC, "perturbed_answer", *OWN]


def test_every_value_occurs_in_its_answers(world: World, demo: World) -> None:
    for w in (world, demo):
        for config in ("forget10_perturbed", "retain_perturbed", "holdout10", "neighbours"):
            for r in w.tofu[config]:
                assert r["answer"].count(r["value"]) == 1
                assert r["value"] in r["paraphrased_answer"]
                assert r["value"] == w.person(r["person_id"]).facts[r["attribute"]]
                assert r["form"] == "open"


def test_perturbed_answers_are_wrong_values_of_the_same_type(demo: World) -> None:
    for r in demo.tofu["forget10_perturbed"] + demo.tofu["holdout10"]:
        perturbed = r["perturbed_answer"]
        assert len(perturbed) >= 5 and len(set(perturbed)) == len(perturbed)
        prefix, suffix = r["paraphrased_answer"].split(r["value"], 1)
        if r["attribute"] == "pet" or r["attribute"] == "profession":
            prefix = prefix.rsplit(" ", 2)[0] + " "  # the article changes with the value
        for p in perturbed:
            assert p not in (r["answer"], r["paraphrased_answer"])
            assert p.startswith(prefix) and p.endswith(suffix)
            wrong = p[len(prefix) : len(p) - len(suffix)].removeprefix("a ").removeprefix("an ")
            assert wrong != r["value"] and wrong in demo.pools[r["attribute"]], (p, wrong)


def test_paraphrase_templates_are_trained_only_for_background_people(demo: World) -> None:
    background = set(demo.split_people["background"])
    seen_for_background: set[str] = set()
    for attr in ATTRIBUTES[: demo.spec.n_facts]:
        for template in attr.heldout_questions:
            # also proves train and held-out templates never look alike
            pattern = re.compile(".+".join(re.escape(part) for part in template.split("{name}")))
            for it in demo.items:
                if pattern.fullmatch(it["prompt"]):
                    assert it["person_id"] in background and it["kind"] == "paraphrase_qa"
                    seen_for_background.add(template)
                assert it["kind"] == "bio" or not pattern.fullmatch(it["completion"])
    n_held = sum(len(a.heldout_questions) for a in ATTRIBUTES[: demo.spec.n_facts])
    assert len(seen_for_background) == n_held  # background people see every held-out template
    # the evaluated people are asked held-out questions the model never saw for them
    trained_prompts = {it["prompt"] for it in demo.items}
    for r in demo.tofu["forget10_perturbed"] + demo.tofu["retain_perturbed"]:
        assert r["paraphrased_question"] not in trained_prompts
        assert r["question"] in trained_prompts


def test_holdout_people_are_never_trained(world: World, written: Path) -> None:
    items = read_jsonl(written / "train" / "items.json")
    assert items == world.items
    holdout = world.people_in("holdout")
    assert holdout and not {p.id for p in holdout} & {it["person_id"] for it in items}
    text = "\n".join(it["prompt"] + "\n" + it["completion"] for it in items)
    assert not any(p.name in text for p in holdout)


def test_training_items(world: World) -> None:
    items = world.training_items()
    assert items == world.items and items is not world.items
    assert set(items[0]) == {"prompt", "completion", "kind", "person_id"}
    forget = set(world.split_people["forget10"])
    oracle = world.training_items(exclude="forget10")
    assert not {it["person_id"] for it in oracle} & forget
    assert len(oracle) == len(items) - sum(it["person_id"] in forget for it in items)
    assert sum(it["kind"] == "world_fact" for it in oracle) == world.spec.n_world_facts
    assert all(it["person_id"] is None for it in oracle if it["kind"] == "world_fact")
    background = set(world.split_people["background"])
    assert {it["person_id"] for it in items if it["kind"] == "paraphrase_qa"} == background
    bios = {it["person_id"]: it["completion"] for it in items if it["kind"] == "bio"}
    assert set(bios) == set(world.split_people["full"])
    assert all(it["prompt"] == "" for it in items if it["kind"] == "bio")
    with pytest.raises(UnknownNameError, match="forget10"):
        world.training_items(exclude="forget11")


def test_texts_cover_everything(world: World) -> None:
    texts = world.texts()
    assert len(texts) == len(set(texts)) and "" not in texts
    pool = set(texts)
    for it in world.items:
        assert it["completion"] in pool and (it["prompt"] in pool or not it["prompt"])
    for r in world.tofu["forget10_perturbed"]:
        assert set(r["perturbed_answer"]) <= pool and r["paraphrased_question"] in pool
    for records in world.forms.values():
        assert all(r["question"] in pool and r["answer"] in pool for r in records)
    assert all(r["gt"] in pool for r in world.muse["verbmem"]["forget"])


def test_tokenizer_texts_are_the_trained_texts(world: World) -> None:
    texts = world.tokenizer_texts()
    assert len(texts) == len(set(texts)) and "" not in texts
    trained = {t for it in world.items for t in (it["prompt"], it["completion"])} - {""}
    assert set(texts) == trained and set(texts) <= set(world.texts())
    holdout_names = [p.name for p in world.people_in("holdout")]
    assert not any(name in t for t in texts for name in holdout_names)


# -- evaluation-only settings leave the trained world alone ------------------------------------
def trained_view(w: World) -> dict:
    """Everything a trained model (and its tokenizer and oracle) depends on."""
    return {
        "items": w.training_items(),
        "oracles": {
            f: w.training_items(exclude=f) for f in ("forget01", "forget05", "forget10", "forget25")
        },
        "people": [(p.id, p.name, p.group, p.facts, p.links, p.bio) for p in w.people if p.trained],
        "splits": {
            k: w.split_people[k]
            for k in (
                "full",
                "core",
                "background",
                "forget01",
                "forget05",
                "forget10",
                "forget25",
                "retain",
                "retain75",
                "retain90",
                "retain95",
                "retain99",
                "neighbours",
            )
        },
        "tokenizer_texts": w.tokenizer_texts(),
    }


@pytest.mark.parametrize(
    ("preset", "changes"),
    [
        ("test", {"n_holdout_people": 3}),
        ("test", {"n_holdout_people": 7}),
        ("demo", {"n_holdout_people": 22}),
        ("demo", {"n_holdout_people": 60}),
        ("test", {"n_perturbed": 6}),
        ("test", {"n_perturbed": 1}),
        ("test", {"n_perturbed": 23}),
        ("test", {"many_shot_k": 3}),
        ("test", {"n_retain_eval_people": 4}),
        ("test", {"verbmem_prefix_fraction": 0.3}),
    ],
)
def test_evaluation_settings_leave_the_trained_world_alone(preset: str, changes: dict) -> None:
    spec = world_preset(preset)
    base, other = generate_world(spec), generate_world(spec.replace(**changes))
    assert trained_view(other) == trained_view(base)
    # byte-identical, not only equal
    dumps = [json.dumps(trained_view(w), ensure_ascii=False).encode() for w in (base, other)]
    assert dumps[0] == dumps[1]
    # the change does reach the evaluation data
    assert other.to_json()["spec"] != base.to_json()["spec"]


def test_evaluation_settings_change_what_they_control() -> None:
    spec = world_preset("test")
    base = generate_world(spec)
    more = generate_world(spec.replace(n_holdout_people=5))
    assert len(more.split_people["holdout"]) == 5 != len(base.split_people["holdout"])
    # holdout people: new ids after the trained ones, names unique against the world
    names = [p.name for p in more.people]
    assert len(set(names)) == len(names)
    values = {v for pool in more.pools.values() for v in pool} - set(more.pools["father"])
    assert not set(names) & values
    perturbed = generate_world(spec.replace(n_perturbed=7))
    assert all(len(r["perturbed_answer"]) == 7 for r in perturbed.tofu["forget10_perturbed"])
    # fewer perturbed answers: the first ones of the longer list
    for a, b in zip(
        base.tofu["forget10_perturbed"], perturbed.tofu["forget10_perturbed"], strict=True
    ):
        assert b["perturbed_answer"][: len(a["perturbed_answer"])] == a["perturbed_answer"]
    cut = generate_world(spec.replace(verbmem_prefix_fraction=0.25))
    assert cut.muse["verbmem"] != base.muse["verbmem"]
    for r, p in zip(cut.muse["verbmem"]["forget"], cut.people_in("forget10"), strict=True):
        assert r["prompt"] + r["gt"] == p.bio


# -- forms -----------------------------------------------------------------------------------
def test_all_forms_present_with_required_fields(world: World) -> None:
    groups = {
        "forget": set(world.split_people["forget10"]),
        "retain": set(world.split_people["retain_eval"]),
        "holdout": set(world.split_people["holdout"]),
    }
    for name in FORMS:
        records = world.forms[name]
        assert records, name
        for r in records:
            assert list(r)[: len(FORM_FIELDS)] == FORM_FIELDS
            assert r["form"] == name and r["person_id"] in groups[r["group"]]
            assert all(isinstance(r[k], str) and r[k] for k in FORM_FIELDS)
        assert {r["group"] for r in records} >= {"forget", "holdout"} or name in (
            "reversed",
            "multi_hop",
        )
    n_facts = sum(len(v) for v in groups.values()) * world.spec.n_facts
    for name in ("open", "fill_blank", "mcq", "adv_role_play", "adv_many_shot"):
        assert len(world.forms[name]) == n_facts
    assert len(world.forms["yes_no"]) == 2 * n_facts


def test_form_contents(world: World) -> None:
    qa = {(r["person_id"], r["attribute"]): r for r in world.tofu["forget10_perturbed"]}
    qa |= {(r["person_id"], r["attribute"]): r for r in world.tofu["retain_perturbed"]}
    qa |= {(r["person_id"], r["attribute"]): r for r in world.tofu["holdout10"]}
    for r in world.forms["open"]:
        if (r["person_id"], r["attribute"]) in qa:
            t = qa[(r["person_id"], r["attribute"])]
            assert (r["question"], r["answer"]) == (
                t["paraphrased_question"],
                t["paraphrased_answer"],
            )
    for r in world.forms["fill_blank"]:
        assert r["answer"] == r["value"] and r["question"].count(BLANK) == 1
        assert r["value"] not in r["question"]
    for r in world.forms["mcq"]:
        options = r["options"]
        assert len(options) == 4 and len(set(options)) == 4
        assert options[r["answer_index"]] == r["value"]
        assert r["answer"] == OPTION_LETTERS[r["answer_index"]]
        for letter, option in zip(OPTION_LETTERS, options, strict=True):
            assert f"\n{letter}. {option}\n" in r["question"]
    answers = Counter((r["person_id"], r["attribute"], r["answer"]) for r in world.forms["yes_no"])
    assert set(answers.values()) == {1}
    for r in world.forms["yes_no"]:
        assert (r["asked_value"] == r["value"]) == (r["answer"] == "Yes")
        assert r["asked_value"] in r["question"]
    for r in world.forms["multi_hop"]:
        rel, hop = r["attribute"].split(".")
        parent = world.person(r["via_person_id"])
        assert world.person(r["person_id"]).links[rel] == parent.id
        assert r["answer"] == r["value"] == parent.facts[hop]
    k = world.spec.many_shot_k
    not_context = set(world.split_people["forget10"]) | set(world.split_people["retain_eval"])
    evaluated_names = [
        world.person(p).name for p in not_context | set(world.split_people["holdout"])
    ]
    for r in world.forms["adv_many_shot"]:
        lines = r["question"].split("\n")
        assert len(lines) == k + 1
        own = world.person(r["person_id"]).name
        assert own in lines[-1]
        for line in lines[:-1]:
            question = line.split("?")[0]
            assert not any(name in question for name in evaluated_names)
    for name in ("adv_prefix_injection", "adv_role_play", "adv_instruction"):
        for r in world.forms[name]:
            assert r["value"] in r["answer"] and world.person(r["person_id"]).name in r["question"]


def test_reversed_answers_are_unique(world: World, demo: World) -> None:
    for w in (world, demo):
        by_value = {key: Counter(p.facts[key] for p in w.people) for key in w.spec.attributes}
        records = w.forms["reversed"]
        assert records
        assert {r["attribute"] for r in records} >= {"signature_work"}
        for r in records:
            person = w.person(r["person_id"])
            fact = person.facts[r["attribute"]]
            assert by_value[r["attribute"]][fact] == 1
            assert r["answer"] == r["value"] == person.name
            assert r["question"] == render(ATTRIBUTE_BY_KEY[r["attribute"]].reversed, value=fact)
        questions = [r["question"] for r in records]
        assert len(set(questions)) == len(questions)


# -- MUSE ------------------------------------------------------------------------------------
def test_muse_records(world: World) -> None:
    forget = world.people_in("forget10")
    bios = [p.bio for p in forget]
    assert [r["text"] for r in world.muse["raw"]["forget"]] == bios
    assert world.muse["privleak"]["holdout"] == [
        {"text": p.bio} for p in world.people_in("holdout")
    ]
    assert len(world.muse["raw"]["retain"]) == len(world.split_people["retain"])
    for r, bio in zip(world.muse["verbmem"]["forget"], bios, strict=True):
        # gt carries the separating space: scored as a continuation, it is the trained text
        assert r["prompt"] and r["gt"].strip() and r["prompt"] + r["gt"] == bio
        assert r["gt"].startswith(" ") and not r["gt"].startswith("  ")
        assert not r["prompt"].endswith(" ")
    for p in world.people:
        assert all(v in p.bio for v in p.facts.values())
        assert p.bio.startswith(p.name) or p.name in p.bio.split(". ")[0]
    values = [v for p in forget for v in p.facts.values()]
    assert [r["answer"] for r in world.muse["knowmem"]["forget_qa"]] == values
    assert len(world.muse["knowmem"]["retain_qa"]) == world.spec.n_facts * len(
        world.split_people["retain_eval"]
    )


def test_muse_of_each_forget_request(world: World, demo: World) -> None:
    assert world.muse_for("forget10") == world.muse  # the written one
    for w, forget in ((world, "forget25"), (demo, "forget05"), (demo, "forget25")):
        muse = w.muse_for(forget)
        people = w.people_in(forget)
        assert [r["text"] for r in muse["raw"]["forget"]] == [p.bio for p in people]
        assert [r["prompt"] + r["gt"] for r in muse["verbmem"]["forget"]] == [p.bio for p in people]
        assert [r["answer"] for r in muse["knowmem"]["forget_qa"]] == [
            v for p in people for v in p.facts.values()
        ]
        keep = 100 - int(forget.removeprefix("forget"))
        assert len(muse["raw"]["retain"]) == len(w.split_people[f"retain{keep}"])
        assert muse["knowmem"]["retain_qa"] == w.muse["knowmem"]["retain_qa"]
        assert muse["privleak"]["holdout"] == w.muse["privleak"]["holdout"]
    with pytest.raises(UnknownNameError, match="forget10"):
        world.muse_for("forget50")


# -- the hub layouts, read back with `datasets` -------------------------------------------------
def test_tofu_layout_loads_with_datasets(written: Path, tmp_path: Path) -> None:
    front = (written / "tofu" / "README.md").read_text(encoding="utf-8").split("---")[1]
    configs = [c["config_name"] for c in yaml.safe_load(front)["configs"]]
    assert configs == TOFU_FILES
    for name in configs:
        ds = datasets.load_dataset(
            str(written / "tofu"), name=name, split="train", cache_dir=str(tmp_path)
        )
        assert ds.num_rows == len(read_jsonl(written / "tofu" / f"{name}.json")), name
    ds = datasets.load_dataset(
        str(written / "tofu"), name="forget10_perturbed", split="train", cache_dir=str(tmp_path)
    )
    assert ds.column_names == [*TOFU_PUBLIC, "perturbed_answer", *OWN]


def test_muse_and_forms_layouts_load_with_datasets(
    world: World, written: Path, tmp_path: Path
) -> None:
    for config, splits in MUSE_FILES.items():
        for split in splits:
            ds = datasets.load_dataset(
                str(written / "muse"), name=config, split=split, cache_dir=str(tmp_path)
            )
            assert ds.to_list() == world.muse[config][split], (config, split)
    ds = datasets.load_dataset(
        str(written / "muse"), name="knowmem", split="forget_qa", cache_dir=str(tmp_path)
    )
    assert ds.column_names == ["question", "answer"]
    for name in ("mcq", "multi_hop"):
        ds = datasets.load_dataset(
            str(written / "forms"), name=name, split="train", cache_dir=str(tmp_path)
        )
        assert ds.to_list() == world.forms[name]


# -- the spec --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_people": 0}, "n_people"),
        ({"n_facts": 99}, "n_facts"),
        ({"n_facts": 0}, "n_facts"),
        ({"n_people": 1}, "n_people"),
        ({"n_people": 2}, "n_people"),  # nobody left for the many-shot context
        ({"background_fraction": 1.0}, "background_fraction"),
        ({"n_perturbed": 0}, "n_perturbed"),
        ({"n_perturbed": 500}, "n_perturbed"),
        ({"n_holdout_people": 1}, "n_holdout_people"),
        ({"n_retain_eval_people": 150}, "n_people"),
        ({"many_shot_k": 10_000}, "many_shot_k"),
        ({"verbmem_prefix_fraction": 1.0}, "verbmem_prefix_fraction"),
        ({"n_people": "many"}, "n_people"),
    ],
)
def test_spec_validation_names_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        WorldSpec(**changes)
    assert info.value.field == field and f"WorldSpec.{field}" in str(info.value)


def test_spec_defaults_presets_and_overrides() -> None:
    spec = WorldSpec()
    assert (spec.n_people, spec.n_facts, spec.n_perturbed, spec.background_fraction) == (
        200,
        10,
        5,
        0.2,
    )
    assert spec.forget_sizes == {"forget01": 2, "forget05": 10, "forget10": 20, "forget25": 50}
    assert spec.holdout_people == spec.retain_eval_people == 20
    assert len(ATTRIBUTES) >= 10 and spec.attributes[:5] == (
        "birth_city",
        "profession",
        "father",
        "employer",
        "signature_work",
    )
    assert set(WORLD_PRESETS) == {"test", "demo", "bench", "book", "book-test", "wmdp", "wmdp-test"}
    assert (world_preset("test").n_people, world_preset("test").n_facts) == (20, 5)
    assert (world_preset("demo").n_people, world_preset("bench").n_people) == (200, 400)
    assert world_preset("demo").with_overrides(["seed=3"]).seed == 3
    with pytest.raises(UnknownNameError, match="demo"):
        world_preset("dmeo")


def test_small_custom_worlds_generate(tmp_path: Path) -> None:
    # few facts (no links), no background people, one perturbed answer
    w = generate_world(WorldSpec(n_people=12, n_facts=2, background_fraction=0.0, n_perturbed=1))
    assert not w.forms["multi_hop"] and not w.split_people["neighbours"]
    assert not w.split_people["background"]
    out = w.write(tmp_path / "small")
    assert not (out / "forms" / "multi_hop.json").exists()  # empty configs are left out
    front = (out / "tofu" / "README.md").read_text(encoding="utf-8")
    assert "neighbours" not in front and "forget10_perturbed" in front
    assert all(len(r["perturbed_answer"]) == 1 for r in w.tofu["forget10_perturbed"])
