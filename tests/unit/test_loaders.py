"""Data loaders and record schemas: the TOFU hub-layout fixture, plain-file layouts, JSON /
JSON Lines / parquet, MUSE layouts, the hub-id code path (monkeypatched, no network) and a
clear error for every kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml

from unlearnkit.core.errors import ConfigError, DataValidationError, UnknownNameError
from unlearnkit.data.loaders import (
    MuseData,
    TofuData,
    load_muse,
    load_records,
    load_tofu,
)
from unlearnkit.data.schemas import SCHEMAS, get_schema, validate_records


# ----------------------------------------------------------------------------------------
# helpers
def _fixture_dir() -> Path:
    """The TOFU hub-layout fixture: ``$UNLEARNKIT_FIXTURES/tofu-hub-layout`` when set (to test
    another copy), else the copy vendored under ``tests/fixtures`` (from shared/fixtures)."""
    env = os.environ.get("UNLEARNKIT_FIXTURES")
    if env:
        path = Path(env) / "tofu-hub-layout"
        if not path.is_dir():
            raise FileNotFoundError(f"UNLEARNKIT_FIXTURES={env} has no tofu-hub-layout/")
        return path
    return Path(__file__).resolve().parents[1] / "fixtures" / "tofu-hub-layout"


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    return _fixture_dir()


def _qa(person: str, k: int, *, perturbed: bool = False, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "question": f"What is fact {k} of {person}?",
        "answer": f"Fact {k} of {person} is v{k}.",
    }
    if perturbed:
        record |= {
            "paraphrased_question": f"Tell me fact {k} of {person}.",
            "paraphrased_answer": f"{person}'s fact {k} is v{k}.",
            "perturbed_answer": [
                f"Fact {k} of {person} is w{k}.",
                f"Fact {k} of {person} is z{k}.",
            ],
        }
    return record | extra


def _people(names: list[str], *, perturbed: bool = False) -> list[dict[str, Any]]:
    return [_qa(p, k, perturbed=perturbed, person_id=p) for p in names for k in (1, 2)]


def _tofu_splits() -> dict[str, list[dict[str, Any]]]:
    """A tiny valid TOFU-format dataset: forget p1, retain p2-p4, holdout p9."""
    return {
        "full": _people(["p1", "p2", "p3", "p4"]),
        "forget10": _people(["p1"]),
        "forget10_perturbed": _people(["p1"], perturbed=True),
        "retain90": _people(["p2", "p3", "p4"]),
        "retain_perturbed": _people(["p2"], perturbed=True),
        "holdout10": _people(["p9"], perturbed=True),
        "world_facts": [
            {
                "question": "Capital of Nowhere?",
                "answer": "Ville",
                "option1": "Ville",
                "option2": "Bourg",
                "option3": "Hameau",
                "option4": "Cite",
            }
        ],
    }


def _write(path: Path, records: Any, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    elif fmt == "parquet":
        datasets.Dataset.from_list(records).to_parquet(str(path))
    else:
        raise ValueError(fmt)


def _write_hub(
    root: Path, splits: dict[str, Any], *, ext: str = "json", fmt: str = "jsonl"
) -> Path:
    """TOFU hub layout: README configs + one file per config (split train)."""
    configs = []
    for name, records in splits.items():
        _write(root / f"{name}.{ext}", records, fmt)
        configs.append(
            {"config_name": name, "data_files": [{"split": "train", "path": f"{name}.{ext}"}]}
        )
    _write_readme(root, configs)
    return root


def _write_readme(root: Path, configs: list[dict[str, Any]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    front = yaml.safe_dump({"pretty_name": "test", "configs": configs}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{front}---\n\nA test dataset.\n", encoding="utf-8")


def _muse_splits() -> dict[str, dict[str, list[dict[str, Any]]]]:
    bio = [f"Biography {i}: person {i} was born in town {i}." for i in range(6)]
    return {
        "raw": {
            "forget": [{"text": bio[0]}, {"text": bio[1]}],
            "retain": [{"text": bio[2]}, {"text": bio[3]}],
            "holdout": [{"text": bio[4]}],
        },
        "verbmem": {"forget": [{"prompt": "Biography 0: person 0", "gt": " was born in town 0."}]},
        "knowmem": {
            "forget_qa": [{"question": "Where was person 0 born?", "answer": "town 0"}],
            "retain_qa": [{"question": "Where was person 2 born?", "answer": "town 2"}],
        },
        "privleak": {
            "forget": [{"text": bio[0]}],
            "retain": [{"text": bio[2]}],
            "holdout": [{"text": bio[5]}],
        },
    }


def _write_muse(root: Path, splits: dict[str, dict[str, Any]], *, readme: bool = True) -> Path:
    configs = []
    for config, by_split in splits.items():
        data_files = []
        for split, records in by_split.items():
            _write(root / config / f"{split}.json", records, "jsonl")
            data_files.append({"split": split, "path": f"{config}/{split}.json"})
        configs.append({"config_name": config, "data_files": data_files})
    if readme:
        _write_readme(root, configs)
    return root


# ----------------------------------------------------------------------------------------
# the TOFU hub-layout fixture
def test_fixture_loads_forget10_with_every_split(fixture_dir: Path) -> None:
    data = load_tofu(fixture_dir)
    assert isinstance(data, TofuData)
    assert data.forget_name == "forget10"
    assert data.source == str(fixture_dir)
    lengths = {
        role: len(getattr(data, role))
        for role in ("forget", "retain", "retain_eval", "holdout", "world_facts", "real_authors")
    }
    assert lengths == {
        "forget": 10,
        "retain": 90,
        "retain_eval": 10,
        "holdout": 10,
        "world_facts": 40,
        "real_authors": 40,
    }
    assert data.neighbours is None  # not in the public TOFU layout
    assert data.full is not None and len(data.full) == 100
    assert data.forget_is_perturbed
    assert data.configs["forget"] == "forget10_perturbed"
    assert data.configs["retain"] == "retain90"
    assert data.configs["world_facts"] == "world_facts_perturbed"
    assert data.files["forget"] == str(fixture_dir / "forget10_perturbed.json")
    first = data.forget[0]
    assert {"question", "answer", "paraphrased_question", "paraphrased_answer"} <= set(first)
    assert isinstance(first["perturbed_answer"], list) and len(first["perturbed_answer"]) == 5
    # the real-author / world-fact perturbed sets hold only question, answer and the three
    # wrong answers in TOFU: no paraphrase, no options
    for records in (data.world_facts, data.real_authors):
        assert set(records[0]) == {"question", "answer", "perturbed_answer"}
        assert len(records[0]["perturbed_answer"]) == 3


@pytest.mark.parametrize(
    ("forget", "retain", "n_forget", "n_retain"),
    [
        ("forget01", "retain99", 5, 95),
        ("forget05", "retain95", 5, 95),
        ("forget10", "retain90", 10, 90),
    ],
)
def test_fixture_forget_sizes_pick_the_matching_retain_and_holdout(
    fixture_dir: Path, forget: str, retain: str, n_forget: int, n_retain: int
) -> None:
    data = load_tofu(fixture_dir, forget=forget)
    assert data.configs["retain"] == retain
    assert data.configs["holdout"] == "holdout" + forget[-2:]
    assert (len(data.forget), len(data.retain)) == (n_forget, n_retain)


def test_fixture_records_match_datasets_reading_the_hub_layout(
    fixture_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # load_dataset pings the hub to count downloads, even for a local directory: not here
    monkeypatch.setattr(datasets.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
    ours = load_tofu(fixture_dir).forget
    theirs = datasets.load_dataset(  # its cache in tmp_path, not the user's ~/.cache
        str(fixture_dir), name="forget10_perturbed", split="train", cache_dir=str(tmp_path)
    )
    assert ours == theirs.to_list()


def test_load_records_reads_one_config_of_a_hub_dir_and_one_file(fixture_dir: Path) -> None:
    by_config = load_records(fixture_dir, "world_facts", schema="tofu_options")
    by_file = load_records(fixture_dir / "world_facts.json")
    assert by_config == by_file
    assert len(by_file) == 40 and by_file[0]["option4"] == "Paris"


def test_load_records_on_a_dir_without_config_lists_the_configs(fixture_dir: Path) -> None:
    with pytest.raises(ConfigError, match="forget10_perturbed"):
        load_records(fixture_dir)


# ----------------------------------------------------------------------------------------
# layouts and formats
@pytest.mark.parametrize(
    ("ext", "fmt"), [("jsonl", "jsonl"), ("json", "json"), ("parquet", "parquet")]
)
def test_plain_files_layout_in_every_format(tmp_path: Path, ext: str, fmt: str) -> None:
    for name, records in _tofu_splits().items():
        _write(tmp_path / f"{name}.{ext}", records, fmt)
    data = load_tofu(tmp_path)
    assert data.configs["forget"] == "forget10_perturbed"
    assert data.files["forget"] == str(tmp_path / f"forget10_perturbed.{ext}")
    assert data.forget == _tofu_splits()["forget10_perturbed"]
    assert len(data.retain) == 6 and len(data.holdout) == 2 and len(data.world_facts) == 1
    assert data.real_authors is None and data.neighbours is None


def test_hub_layout_with_json_arrays(tmp_path: Path) -> None:
    _write_hub(tmp_path, _tofu_splits(), fmt="json")
    data = load_tofu(tmp_path)
    assert data.retain == _tofu_splits()["retain90"]


def test_plain_forget_is_used_when_no_perturbed_version_exists(tmp_path: Path) -> None:
    splits = _tofu_splits()
    del splits["forget10_perturbed"]
    _write_hub(tmp_path, splits)
    data = load_tofu(tmp_path)
    assert data.configs["forget"] == "forget10"
    assert not data.forget_is_perturbed
    assert "perturbed_answer" not in data.forget[0]


def test_readme_data_files_as_plain_string_and_glob(tmp_path: Path) -> None:
    splits = _tofu_splits()
    for name, records in splits.items():
        _write(tmp_path / "data" / f"{name}.json", records, "jsonl")
    configs = [
        {"config_name": n, "data_files": f"data/{n}.json"} for n in splits if n != "retain90"
    ]
    configs.append(
        {"config_name": "retain90", "data_files": [{"split": "train", "path": "data/retain9*"}]}
    )
    _write_readme(tmp_path, configs)
    data = load_tofu(tmp_path)
    assert len(data.retain) == 6
    assert data.files["retain"] == str(tmp_path / "data" / "retain90.json")


def test_readme_listing_a_missing_file_names_the_readme(tmp_path: Path) -> None:
    _write_hub(tmp_path, _tofu_splits())
    (tmp_path / "retain90.json").unlink()
    with pytest.raises(DataValidationError, match=r"retain90.json") as info:
        load_tofu(tmp_path)
    assert info.value.file == str(tmp_path / "README.md")


def test_paths_with_glob_characters_are_read_literally(tmp_path: Path) -> None:
    root = tmp_path / "odd [name]*"
    for name, records in _tofu_splits().items():
        _write(root / f"{name}.json", records, "jsonl")
    assert len(load_tofu(root).forget) == 2


def test_world_root_resolves_to_its_tofu_and_muse_subdirs(tmp_path: Path) -> None:
    (tmp_path / "world.json").write_text("{}", encoding="utf-8")
    _write_hub(tmp_path / "tofu", _tofu_splits())
    _write_muse(tmp_path / "muse", _muse_splits())
    assert load_tofu(tmp_path).source == str(tmp_path / "tofu")
    assert load_muse(tmp_path).source == str(tmp_path / "muse")


# ----------------------------------------------------------------------------------------
# bad inputs: each gives a clear error
def _bad(tmp_path: Path, config: str, records: Any) -> Path:
    splits: dict[str, Any] = _tofu_splits()
    splits[config] = records
    return _write_hub(tmp_path, splits)


def test_missing_field_names_file_record_and_field(tmp_path: Path) -> None:
    records = _people(["p1"], perturbed=True)
    del records[1]["answer"]
    root = _bad(tmp_path, "forget10_perturbed", records)
    with pytest.raises(DataValidationError) as info:
        load_tofu(root)
    err = info.value
    assert (err.file, err.record, err.field) == (str(root / "forget10_perturbed.json"), 1, "answer")
    message = str(err)
    assert "forget10_perturbed.json" in message and "record 1" in message
    assert "'answer'" in message and "missing" in message and "count from 0" in message


def test_perturbed_answer_as_a_string_is_a_type_error(tmp_path: Path) -> None:
    records = _people(["p1"], perturbed=True)
    for r in records:
        r["perturbed_answer"] = "just one wrong answer"
    root = _bad(tmp_path, "forget10_perturbed", records)
    with pytest.raises(
        DataValidationError, match=r"expected non-empty list of str, got str"
    ) as info:
        load_tofu(root)
    assert (info.value.record, info.value.field) == (0, "perturbed_answer")


def test_answer_as_an_int_is_a_type_error(tmp_path: Path) -> None:
    records = _people(["p2", "p3", "p4"])
    records[3]["answer"] = 1954
    root = _bad(tmp_path, "retain90", records)
    with pytest.raises(
        DataValidationError, match=r"expected non-empty str, got int \(1954\)"
    ) as info:
        load_tofu(root)
    assert (info.value.file, info.value.record) == (str(root / "retain90.json"), 3)


def test_empty_string_answer_is_rejected(tmp_path: Path) -> None:
    records = _people(["p2", "p3", "p4"])
    records[2]["answer"] = "   "
    with pytest.raises(DataValidationError, match="empty string") as info:
        load_tofu(_bad(tmp_path, "retain90", records))
    assert (info.value.record, info.value.field) == (2, "answer")


def test_empty_perturbed_answer_list_is_rejected(tmp_path: Path) -> None:
    records = _people(["p2"], perturbed=True)
    records[0]["perturbed_answer"] = []
    with pytest.raises(DataValidationError, match="empty list") as info:
        load_tofu(_bad(tmp_path, "retain_perturbed", records))
    assert info.value.field == "perturbed_answer"


@pytest.mark.parametrize("content", ["", "[]", "\n  \n"])
def test_empty_split_is_an_error(tmp_path: Path, content: str) -> None:
    root = _write_hub(tmp_path, _tofu_splits())
    (root / "forget10_perturbed.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataValidationError, match="empty split") as info:
        load_tofu(root)
    assert info.value.file == str(root / "forget10_perturbed.json")


def test_forget_overlapping_retain_names_both_files_and_the_record(tmp_path: Path) -> None:
    retain = _people(["p2", "p3"])
    retain.append(_qa("p1", 2))  # the forget person's second fact, without person_id
    root = _bad(tmp_path, "retain90", retain)
    with pytest.raises(DataValidationError, match="overlaps the retain set") as info:
        load_tofu(root)
    err = info.value
    assert err.file == str(root / "forget10_perturbed.json") and err.record == 1
    assert str(root / "retain90.json") in str(err) and "record 4" in str(err)
    assert "question and answer" in str(err)


def test_forget_sharing_a_person_id_with_retain_is_an_overlap(tmp_path: Path) -> None:
    retain = [*_people(["p2", "p3"]), _qa("p7", 5, person_id="p1")]
    with pytest.raises(DataValidationError, match="same person_id") as info:
        load_tofu(_bad(tmp_path, "retain90", retain))
    assert (info.value.record, info.value.field) == (0, "person_id")


def test_holdout_overlapping_forget_is_an_error(tmp_path: Path) -> None:
    holdout = [*_people(["p9"], perturbed=True), _qa("p1", 1, perturbed=True)]
    with pytest.raises(
        DataValidationError, match=r"holdout set .* overlaps the forget set"
    ) as info:
        load_tofu(_bad(tmp_path, "holdout10", holdout))
    assert info.value.record == 2
    assert "forget10_perturbed.json" in str(info.value)


def test_holdout_overlapping_retain_is_an_error(tmp_path: Path) -> None:
    holdout = [_qa("p9", 1, person_id="p3")]
    with pytest.raises(DataValidationError, match="overlaps the retain set"):
        load_tofu(_bad(tmp_path, "holdout10", holdout))


def test_overlap_check_can_be_switched_off(tmp_path: Path) -> None:
    root = _bad(tmp_path, "holdout10", [_qa("p1", 1)])
    assert load_tofu(root, check_disjoint=False).holdout == [_qa("p1", 1)]


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    root = _write_hub(tmp_path, _tofu_splits())
    good = json.dumps(_qa("p2", 1))
    (root / "retain90.json").write_text(f"{good}\n{good[:-5]}\n{good}\n", encoding="utf-8")
    with pytest.raises(
        DataValidationError, match=r"line 2 \(counting from 1\) is not valid JSON"
    ) as info:
        load_tofu(root)
    assert info.value.file == str(root / "retain90.json")


def test_malformed_json_array_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n {"question": "q", "answer": "a"},\n {"question": }\n]\n', encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"not valid JSON: .* line 3") as info:
        load_records(path)
    assert info.value.file == str(path)


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n["q", "a"]\n', encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"line 2 .* not an object"):
        load_records(path)


def test_binary_garbage_is_neither_json_nor_parquet(tmp_path: Path) -> None:
    path = tmp_path / "forget10.json"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataValidationError, match="nor parquet") as info:
        load_records(path)
    assert info.value.file == str(path)


def test_truncated_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "forget10.parquet"
    _write(path, _people(["p1"]), "parquet")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataValidationError, match="not a valid one") as info:
        load_records(path)
    assert info.value.file == str(path)


def test_unknown_forget_name_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Did you mean 'forget10'") as info:
        load_tofu(_write_hub(tmp_path, _tofu_splits()), forget="forget_10")
    assert info.value.field == "forget"


def test_missing_forget_config_lists_what_is_there(tmp_path: Path) -> None:
    root = _write_hub(tmp_path, _tofu_splits())
    with pytest.raises(DataValidationError, match=r"'forget05' .* Available configs: .*forget10"):
        load_tofu(root, forget="forget05")


def test_missing_retain_config_lists_what_is_there(tmp_path: Path) -> None:
    splits = _tofu_splits()
    del splits["retain90"]
    with pytest.raises(
        DataValidationError, match=r"'retain90' \(the retain set of forget10\) not found. Available"
    ):
        load_tofu(_write_hub(tmp_path, splits))


def test_missing_directory_that_is_not_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="no such directory"):
        load_tofu(tmp_path / "nope")


def test_a_single_file_is_not_a_dataset_directory(tmp_path: Path) -> None:
    path = tmp_path / "forget10.json"
    _write(path, _people(["p1"]), "jsonl")
    with pytest.raises(DataValidationError, match="use load_records"):
        load_tofu(path)
    with pytest.raises(ConfigError, match="single file"):
        load_records(path, "forget10")


def test_revision_only_applies_to_hub_ids(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="revision"):
        load_tofu(_write_hub(tmp_path, _tofu_splits()), revision="main")


def test_two_files_for_one_config_is_ambiguous(tmp_path: Path) -> None:
    for name, records in _tofu_splits().items():
        _write(tmp_path / f"{name}.json", records, "jsonl")
    _write(tmp_path / "retain90.parquet", _people(["p2"]), "parquet")
    with pytest.raises(DataValidationError, match="two files"):
        load_tofu(tmp_path)


# ----------------------------------------------------------------------------------------
# the hub-id code path (monkeypatched: never touches the network)
class _FakeHub:
    def __init__(self, repo: str, data: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
        self.repo, self.data = repo, data
        self.loaded: list[tuple[str, str]] = []

    def config_names(self, path: str, **kwargs: Any) -> list[str]:
        assert path == self.repo
        return list(self.data)

    def split_names(self, path: str, config_name: str, **kwargs: Any) -> list[str]:
        assert path == self.repo
        return list(self.data[config_name])

    def load_dataset(self, path: str, name: str | None = None, split: str | None = None, **kw: Any):
        assert path == self.repo, f"unexpected load_dataset({path!r})"
        assert name is not None and split is not None
        self.loaded.append((name, split))
        return datasets.Dataset.from_list(self.data[name][split])


def _install(monkeypatch: pytest.MonkeyPatch, hub: _FakeHub) -> None:
    monkeypatch.setattr(datasets, "load_dataset", hub.load_dataset)
    monkeypatch.setattr(datasets, "get_dataset_config_names", hub.config_names)
    monkeypatch.setattr(datasets, "get_dataset_split_names", hub.split_names)


def test_tofu_hub_id_reads_the_named_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = _FakeHub("locuslab/TOFU", {n: {"train": r} for n, r in _tofu_splits().items()})
    _install(monkeypatch, hub)
    data = load_tofu("locuslab/TOFU", forget="forget10")
    assert data.source == "locuslab/TOFU"
    assert {name for name, _ in hub.loaded} == {
        "forget10_perturbed",
        "retain90",
        "retain_perturbed",
        "holdout10",
        "world_facts",
        "full",
    }
    assert {split for _, split in hub.loaded} == {"train"}
    assert data.forget == _tofu_splits()["forget10_perturbed"]
    assert "locuslab/TOFU" in data.files["retain"] and "retain90" in data.files["retain"]


def test_tofu_hub_id_errors_name_the_hub_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    splits = _tofu_splits()
    splits["retain90"] = [{"question": "q"}]
    _install(monkeypatch, _FakeHub("locuslab/TOFU", {n: {"train": r} for n, r in splits.items()}))
    with pytest.raises(DataValidationError, match=r"locuslab/TOFU \(config 'retain90'") as info:
        load_tofu("locuslab/TOFU")
    assert info.value.field == "answer"


def test_muse_hub_id_uses_the_public_split_names(monkeypatch: pytest.MonkeyPatch) -> None:
    muse = _muse_splits()
    public = {
        "raw": {
            "forget": muse["raw"]["forget"],
            "retain1": muse["raw"]["retain"],
            "retain2": [{"text": "Another retained article."}],
            "holdout": muse["raw"]["holdout"],
        },
        "verbmem": muse["verbmem"],
        "knowmem": {
            "forget_qa": muse["knowmem"]["forget_qa"],
            "forget_qa_icl": muse["knowmem"]["forget_qa"],
            "retain2_qa": muse["knowmem"]["retain_qa"],
        },
        "privleak": {
            "forget": muse["privleak"]["forget"],
            "retain2": muse["privleak"]["retain"],
            "holdout": muse["privleak"]["holdout"],
        },
        "scal": {"forget_1": muse["raw"]["forget"]},
    }
    hub = _FakeHub("muse-bench/MUSE-News", public)
    _install(monkeypatch, hub)
    data = load_muse("muse-bench/MUSE-News")
    assert data.configs["retain"] == "raw/retain1"
    assert data.configs["retain_eval"] == "raw/retain2"
    assert data.configs["knowmem_retain_qa"] == "knowmem/retain2_qa"
    assert data.configs["privleak_retain"] == "privleak/retain2"
    assert data.knowmem_forget_qa_icl == muse["knowmem"]["forget_qa"]
    assert data.knowmem_retain_qa_icl is None
    assert "scal" not in {config for config, _ in hub.loaded}


# ----------------------------------------------------------------------------------------
# MUSE layouts
def test_muse_hub_layout_dir_loads_every_split(tmp_path: Path) -> None:
    muse = _muse_splits()
    data = load_muse(_write_muse(tmp_path, muse))
    assert isinstance(data, MuseData)
    assert data.forget == muse["raw"]["forget"] and data.retain == muse["raw"]["retain"]
    assert data.holdout == muse["raw"]["holdout"]
    assert data.verbmem_forget == muse["verbmem"]["forget"]
    assert data.knowmem_forget_qa == muse["knowmem"]["forget_qa"]
    assert data.knowmem_retain_qa == muse["knowmem"]["retain_qa"]
    assert data.privleak_forget == muse["privleak"]["forget"]
    assert data.privleak_retain == muse["privleak"]["retain"]
    assert data.privleak_holdout == muse["privleak"]["holdout"]
    assert data.retain_eval is None
    assert data.files["verbmem_forget"] == str(tmp_path / "verbmem" / "forget.json")


def test_muse_plain_layout_with_parquet_shards(tmp_path: Path) -> None:
    muse = _muse_splits()
    _write_muse(tmp_path, {"raw": {"retain": muse["raw"]["retain"]}}, readme=False)
    _write(tmp_path / "raw" / "forget-00000-of-00002.parquet", muse["raw"]["forget"][:1], "parquet")
    _write(tmp_path / "raw" / "forget-00001-of-00002.parquet", muse["raw"]["forget"][1:], "parquet")
    data = load_muse(tmp_path)
    assert data.forget == muse["raw"]["forget"]
    assert data.verbmem_forget is None and data.holdout is None
    assert "forget-00001-of-00002.parquet" in data.files["forget"]


def test_muse_verbmem_missing_gt(tmp_path: Path) -> None:
    muse = _muse_splits()
    muse["verbmem"]["forget"] = [{"prompt": "Biography 0"}]
    with pytest.raises(DataValidationError, match="muse_verbmem") as info:
        load_muse(_write_muse(tmp_path, muse))
    assert (info.value.record, info.value.field) == (0, "gt")
    assert info.value.file == str(tmp_path / "verbmem" / "forget.json")


def test_muse_forget_text_in_retain_is_an_overlap(tmp_path: Path) -> None:
    muse = _muse_splits()
    muse["raw"]["retain"].append(muse["raw"]["forget"][1])
    with pytest.raises(DataValidationError, match="overlaps the retain set") as info:
        load_muse(_write_muse(tmp_path, muse))
    assert info.value.record == 1 and info.value.field == "text"
    assert str(tmp_path / "raw" / "retain.json") in str(info.value)


def test_muse_without_raw_config_lists_what_is_there(tmp_path: Path) -> None:
    muse = _muse_splits()
    del muse["raw"]
    with pytest.raises(DataValidationError, match=r"'raw' .* Available configs: knowmem"):
        load_muse(_write_muse(tmp_path, muse))


def test_muse_without_retain_split(tmp_path: Path) -> None:
    muse = _muse_splits()
    del muse["raw"]["retain"]
    with pytest.raises(DataValidationError, match=r"raw/retain not found .*retain, retain1"):
        load_muse(_write_muse(tmp_path, muse))


def test_load_records_reads_one_split_of_a_muse_dir(tmp_path: Path) -> None:
    muse = _muse_splits()
    root = _write_muse(tmp_path, muse)
    assert load_records(root, "raw", split="holdout") == muse["raw"]["holdout"]
    with pytest.raises(DataValidationError, match="several splits"):
        load_records(root, "raw")
    with pytest.raises(DataValidationError, match="Did you mean 'forget'"):
        load_records(root, "raw", split="foget")


# ----------------------------------------------------------------------------------------
# validate_records directly
def test_schemas_cover_the_public_kinds() -> None:
    assert {"tofu_qa", "tofu_perturbed", "tofu_options", "muse_text", "muse_verbmem"} <= set(
        SCHEMAS
    )
    assert get_schema("muse_knowmem").required == ("question", "answer")
    assert "paraphrased_question" in get_schema("tofu_perturbed").optional
    assert get_schema("tofu_options").required[-1] == "option4"


def test_unknown_schema_name_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'tofu_qa'"):
        get_schema("tofu_q")


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"person_id": ["p1"]}, "person_id", "expected str or int, got list"),
        ({"answer_index": True}, "answer_index", "expected int, got bool"),
        ({"options": ["a", 3]}, "options", "item 1 .* expected str, got int"),
        ({"value": {"year": 1}}, "value", "expected str or int or float, got dict"),
    ],
)
def test_own_optional_fields_are_type_checked_when_present(
    extra: dict[str, Any], field: str, message: str
) -> None:
    records = [_qa("p1", 1), _qa("p1", 2) | extra]
    with pytest.raises(DataValidationError, match=message) as info:
        validate_records(records, "tofu_qa", file="x.json")
    assert (info.value.file, info.value.record, info.value.field) == ("x.json", 1, field)


def test_own_fields_and_extra_fields_pass() -> None:
    record = _qa("p1", 1, person_id=7, attribute="birth_city", form="open", value="v1")
    record |= {"group": "g1", "options": ["a", "b"], "answer_index": 0, "unknown": [1, 2]}
    validate_records([record], "tofu_qa", file="x.json")


def test_a_record_that_is_not_a_mapping() -> None:
    with pytest.raises(DataValidationError, match="expected a record") as info:
        validate_records([_qa("p1", 1), ["q", "a"]], "tofu_qa", file="x.json")  # type: ignore[list-item]
    assert info.value.record == 1


def test_empty_record_list() -> None:
    with pytest.raises(DataValidationError, match="empty split: no records") as info:
        validate_records([], SCHEMAS["muse_text"], file="raw/forget.json")
    assert info.value.file == "raw/forget.json"
