"""The loaders on the public files as their publishers ship them: the real TOFU sample
(``tests/fixtures/real/tofu-sample``), and small files in the real MUSE, WMDP and MMLU
layouts (hub download with its README ``configs:``, hub shards, the hub's parquet
conversion ``<config>/<split>/0000.parquet``). The suites read the fields TOFU and
open-unlearning read."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import datasets
import pytest
import yaml

from unlearnkit.core.errors import DataValidationError
from unlearnkit.data.loaders import load_muse, load_records, load_tofu, load_wmdp_dir
from unlearnkit.data.schemas import validate_records
from unlearnkit.evaluation.metrics import METRICS, Split
from unlearnkit.evaluation.suites import SUITES

REAL_TOFU = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "tofu-sample"


def _lines(name: str) -> list[dict[str, Any]]:
    text = (REAL_TOFU / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def real_tofu():
    return load_tofu(REAL_TOFU, forget="forget01")


# ----------------------------------------------------------------------------------------
# the real TOFU sample
def test_real_tofu_sample_loads_for_forget01(real_tofu) -> None:
    assert real_tofu.configs == {
        "forget": "forget01_perturbed",
        "retain": "retain99",
        "retain_eval": "retain_perturbed",
        "holdout": "holdout01",
        "world_facts": "world_facts_perturbed",
        "real_authors": "real_authors_perturbed",
    }
    counts = {role: len(getattr(real_tofu, role)) for role in real_tofu.configs}
    assert counts == {
        "forget": 40,
        "retain": 100,
        "retain_eval": 40,
        "holdout": 40,
        "world_facts": 117,
        "real_authors": 100,
    }
    assert real_tofu.full is None and real_tofu.neighbours is None
    assert real_tofu.files["forget"] == str(REAL_TOFU / "forget01_perturbed.json")
    # records come back exactly as the file holds them
    assert real_tofu.forget == _lines("forget01_perturbed.json")
    assert real_tofu.real_authors == _lines("real_authors_perturbed.json")


def test_real_tofu_fields_per_set(real_tofu) -> None:
    evaluated = {"question", "answer", "paraphrased_question", "paraphrased_answer"}
    for records in (real_tofu.forget, real_tofu.retain_eval):
        for r in records:
            assert evaluated | {"perturbed_answer"} == set(r)
            assert len(r["perturbed_answer"]) == 5
    for records in (real_tofu.world_facts, real_tofu.real_authors):
        for r in records:
            assert set(r) == {"question", "answer", "perturbed_answer"}
            assert len(r["perturbed_answer"]) == 3 and r["answer"] not in r["perturbed_answer"]
    for records in (real_tofu.retain, real_tofu.holdout):
        assert all(set(r) == {"question", "answer"} for r in records)
    # forget01 and its perturbed view are the same questions and answers
    plain = _lines("forget01.json")
    assert [(r["question"], r["answer"]) for r in real_tofu.forget] == [
        (r["question"], r["answer"]) for r in plain
    ]


def test_real_real_author_and_world_fact_sets_validate() -> None:
    for name in ("real_authors", "world_facts"):
        plain = _lines(f"{name}.json")
        validate_records(plain, "tofu_options", file=f"{name}.json")
        assert all(r["answer"] in [r[f"option{k}"] for k in range(1, 5)] for r in plain)
        perturbed = _lines(f"{name}_perturbed.json")
        validate_records(perturbed, "tofu_options_perturbed", file=f"{name}_perturbed.json")
        # the forget / retain schema needs a paraphrase, which these sets do not have
        with pytest.raises(DataValidationError) as info:
            validate_records(perturbed, "tofu_perturbed", file=f"{name}_perturbed.json")
        assert (info.value.record, info.value.field) == (0, "paraphrased_answer")


def test_real_sample_lacks_the_larger_forget_sets_and_says_so() -> None:
    with pytest.raises(DataValidationError, match=r"'forget10' .* Available configs: .*forget01"):
        load_tofu(REAL_TOFU, forget="forget10")


def _copy_real(tmp_path: Path) -> Path:
    root = tmp_path / "tofu"
    shutil.copytree(REAL_TOFU, root)
    for path in root.iterdir():
        path.chmod(0o644)
    return root


@pytest.mark.parametrize(
    ("config", "index", "field"),
    [
        ("real_authors_perturbed", 3, "answer"),
        ("world_facts_perturbed", 7, "perturbed_answer"),
        ("forget01_perturbed", 12, "paraphrased_answer"),
    ],
)
def test_missing_required_field_in_a_real_file_names_file_record_and_field(
    tmp_path: Path, config: str, index: int, field: str
) -> None:
    root = _copy_real(tmp_path)
    records = _lines(f"{config}.json")
    del records[index][field]
    path = root / f"{config}.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        load_tofu(root, forget="forget01")
    err = info.value
    assert (err.file, err.record, err.field) == (str(path), index, field)
    message = str(err)
    assert f"{config}.json" in message and f"record {index}" in message
    assert repr(field) in message and "missing" in message


def test_real_tofu_as_the_hubs_parquet_conversion(tmp_path: Path, real_tofu) -> None:
    # refs/convert/parquet: <config>/<split>/0000.parquet, no README
    for name in ("forget01_perturbed", "retain99", "retain_perturbed", "real_authors_perturbed"):
        target = tmp_path / name / "train" / "0000.parquet"
        target.parent.mkdir(parents=True)
        datasets.Dataset.from_list(_lines(f"{name}.json")).to_parquet(str(target))
    data = load_tofu(tmp_path, forget="forget01")
    assert data.forget == real_tofu.forget and data.real_authors == real_tofu.real_authors
    assert data.files["retain"] == str(tmp_path / "retain99" / "train" / "0000.parquet")
    assert data.world_facts is None and data.holdout is None


# ----------------------------------------------------------------------------------------
# the suites read the fields TOFU and open-unlearning read
def _tofu_item(key: str):
    (item,) = [i for i in SUITES.get("tofu").items if i.key == key]
    return item


def test_tofu_suite_fields_follow_open_unlearning() -> None:
    for s in ("real_authors", "world_facts"):
        # ra/wf_Truth_Ratio: correct = answer of the _perturbed set, wrong = perturbed_answer
        tr = METRICS.get("truth_ratio")(_tofu_item(f"{s}/truth_ratio").config).config
        assert (tr.paraphrased_field, tr.perturbed_field, tr.aggregation) == (
            "answer",
            "perturbed_answer",
            "retain",
        )
        # ra/wf_Q_A_Prob_normalised: answer against the perturbed answers
        item = _tofu_item(f"{s}/probability")
        assert item.name == "normalised_probability"
        cfg = METRICS.get(item.name)(item.config).config
        assert (cfg.answer_field, cfg.wrong_field) == ("answer", "perturbed_answer")
    # forget / retain truth ratios: paraphrased_answer against perturbed_answer
    for key, aggregation in (("forget/truth_ratio", "forget"), ("retain/truth_ratio", "retain")):
        tr = METRICS.get("truth_ratio")(_tofu_item(key).config).config
        assert (tr.paraphrased_field, tr.aggregation) == ("paraphrased_answer", aggregation)
    assert set(_tofu_item("model_utility").inputs) == {
        f"{s}/{m}"
        for s in ("retain", "real_authors", "world_facts")
        for m in ("probability", "rouge_l", "truth_ratio")
    }


class _Format:
    def prompt(self, question: str) -> str:
        return f"Q: {question}\nA:"

    def continuation(self, answer: str) -> str:
        return " " + answer


def test_real_author_truth_ratio_scores_answer_against_the_wrong_ones(real_tofu) -> None:
    ctx = SimpleNamespace(adapter=SimpleNamespace(prompt_format=_Format()))
    split = Split("real_authors", real_tofu.real_authors[:2], source="real_authors_perturbed")
    metric = METRICS.get("truth_ratio")(_tofu_item("real_authors/truth_ratio").config)
    first = real_tofu.real_authors[0]
    prompt = f"Q: {first['question']}\nA:"
    assert metric.requests(ctx, split)[:4] == [
        (prompt, " " + first["answer"]),
        *((prompt, " " + wrong) for wrong in first["perturbed_answer"]),
    ]
    # the truth ratio's default (TOFU's forget / retain sets) would need a paraphrase
    with pytest.raises(DataValidationError, match="paraphrased_answer"):
        METRICS.get("truth_ratio")({}).requests(ctx, split)


@pytest.mark.slow
def test_tofu_suite_runs_on_the_real_sample(real_tofu, tiny_lm) -> None:
    """Every TOFU item that needs no oracle runs on the public records (the first few of
    each set, to stay quick): no field is missing, every item has one value per record."""
    from unlearnkit.evaluation import EvalContext, eval_data, run_suite
    from unlearnkit.models.adapters import CausalLMAdapter

    n = 6
    roles = ("forget", "retain", "retain_eval", "holdout", "world_facts", "real_authors")
    sample = dataclasses.replace(real_tofu, **{r: getattr(real_tofu, r)[:n] for r in roles})
    ctx = EvalContext(CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=8))
    out = run_suite(
        SUITES.get("tofu"),
        ctx,
        eval_data(sample),
        configure=lambda item: {"max_new_tokens": 8} if item.name == "rouge_l" else {},
    )
    assert out.skipped == {
        "forget/forget_quality": "needs the retrain oracle (pass --oracle / oracle=...)",
        "neighbours/probability": "the data has no neighbours split",
        "neighbours/rouge_l": "the data has no neighbours split",
        "neighbours/truth_ratio": "the data has no neighbours split",
    }
    forget = ("probability", "rouge_l", "truth_ratio", "exact_memorisation", "extraction_strength")
    assert set(out.results) == {
        *(f"forget/{m}" for m in forget),
        *(
            f"{s}/{m}"
            for s in ("retain", "real_authors", "world_facts")
            for m in ("probability", "rouge_l", "truth_ratio")
        ),
        "model_utility",
    }
    for key, result in out.results.items():
        if key != "model_utility":
            assert len(result.values) == n, key
    for s in ("real_authors", "world_facts"):
        ratios = out.results[f"{s}/truth_ratio"].extra["ratios"]
        assert len(ratios) == n and all(r > 0 for r in ratios)
    assert 0.0 <= out.results["model_utility"].aggregate <= 1.0


# ----------------------------------------------------------------------------------------
# MUSE as muse-bench ships it
_BIOS = [f"Article {i}: the council of town {i} met on day {i} and voted." for i in range(12)]


def _muse_public() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """MUSE-News' configs and split names (README of muse-bench/MUSE-News), tiny."""
    text = [{"text": b} for b in _BIOS]
    qa = [{"question": f"When did town {i} vote?", "answer": f"day {i}"} for i in range(6)]
    return {
        "raw": {
            "forget": text[0:2],
            "retain1": text[2:4],
            "retain2": text[4:6],
            "holdout": text[6:8],
        },
        "verbmem": {
            "forget": [{"prompt": "Article 0: the council", "gt": " of town 0 met on day 0."}]
        },
        "knowmem": {
            "forget_qa": qa[0:1],
            "forget_qa_icl": qa[1:2],
            "retain_qa": qa[2:3],
            "retain_qa_icl": qa[3:4],
        },
        "privleak": {"forget": text[0:1], "retain": text[4:5], "holdout": text[8:9]},
        "train": {"forget": text[0:2], "retain1": text[2:4], "retain2": text[4:6]},
        "scal": {"forget_1": text[0:1], "forget_2": text[0:2]},
        "sust": {"forget_1": text[0:1], "forget_2": text[9:10]},
    }


def _parquet(path: Path, records: list[dict[str, Any]], features=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(records, features=features).to_parquet(str(path))


def _readme(root: Path, configs: dict[str, list[str]], pattern: str) -> None:
    """A hub card's ``configs:`` with ``- split: S / path: <config>/<S>-*`` entries."""
    entries = [
        {
            "config_name": config,
            "data_files": [
                {"split": s, "path": pattern.format(config=config, split=s)} for s in splits
            ],
        }
        for config, splits in configs.items()
    ]
    front = yaml.safe_dump({"license": "cc-by-4.0", "configs": entries}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{front}---\n\n# A card\n", encoding="utf-8")


def _check_muse(data, muse) -> None:
    assert data.forget == muse["raw"]["forget"]
    assert data.retain == muse["raw"]["retain1"]
    assert data.retain_eval == muse["raw"]["retain2"]
    assert data.holdout == muse["raw"]["holdout"]
    assert data.verbmem_forget == muse["verbmem"]["forget"]
    assert data.knowmem_forget_qa == muse["knowmem"]["forget_qa"]
    assert data.knowmem_forget_qa_icl == muse["knowmem"]["forget_qa_icl"]
    assert data.knowmem_retain_qa == muse["knowmem"]["retain_qa"]
    assert data.knowmem_retain_qa_icl == muse["knowmem"]["retain_qa_icl"]
    assert data.privleak_forget == muse["privleak"]["forget"]
    assert data.privleak_retain == muse["privleak"]["retain"]
    assert data.privleak_holdout == muse["privleak"]["holdout"]
    assert data.configs["retain"] == "raw/retain1"


def test_muse_hub_download_with_shards_and_the_legacy_json_beside_them(tmp_path: Path) -> None:
    muse = _muse_public()
    for config, splits in muse.items():
        for split, records in splits.items():
            _parquet(tmp_path / config / f"{split}-00000-of-00001.parquet", records)
    # muse-bench keeps its first upload's JSON files next to the parquet shards; the card's
    # configs point at the shards only
    (tmp_path / "verbmem" / "forget.json").write_text(json.dumps([{"other": 1}]))
    (tmp_path / "knowmem" / "forget-qa.json").write_text(json.dumps([{"other": 1}]))
    _readme(tmp_path, {c: list(s) for c, s in muse.items()}, "{config}/{split}-*")
    data = load_muse(tmp_path)
    _check_muse(data, muse)
    assert data.files["forget"] == str(tmp_path / "raw" / "forget-00000-of-00001.parquet")
    # the configs the suites do not read load by name
    assert (
        load_records(tmp_path, "scal", split="forget_2", schema="muse_text")
        == (muse["scal"]["forget_2"])
    )
    assert load_records(tmp_path, "train", split="retain2") == muse["train"]["retain2"]


def test_muse_shards_without_readme(tmp_path: Path) -> None:
    muse = _muse_public()
    for config, splits in muse.items():
        for split, records in splits.items():
            _parquet(tmp_path / config / f"{split}-00000-of-00001.parquet", records)
    # an older push_to_hub name (with a fingerprint) and a hyphenated JSON name: their own
    # splits, neither mistaken for another split's shard
    _parquet(
        tmp_path / "sust" / "forget_3-00000-of-00001-5bd1c7e94a2f1c6d.parquet",
        muse["raw"]["holdout"],
    )
    (tmp_path / "knowmem" / "forget-qa.json").write_text(
        json.dumps(muse["knowmem"]["retain_qa"]), encoding="utf-8"
    )
    _check_muse(load_muse(tmp_path), muse)
    assert load_records(tmp_path, "sust", split="forget_3") == muse["raw"]["holdout"]
    assert load_records(tmp_path, "knowmem", split="forget-qa") == muse["knowmem"]["retain_qa"]


def test_muse_as_the_hubs_parquet_conversion(tmp_path: Path) -> None:
    muse = _muse_public()
    for config, splits in muse.items():
        for split, records in splits.items():
            _parquet(tmp_path / config / split / "0000.parquet", records)
    data = load_muse(tmp_path)
    _check_muse(data, muse)
    assert data.files["verbmem_forget"] == str(tmp_path / "verbmem" / "forget" / "0000.parquet")
    assert load_records(tmp_path, "scal", split="forget_1") == muse["scal"]["forget_1"]


def test_conversion_shards_of_one_split_are_read_in_order(tmp_path: Path) -> None:
    muse = _muse_public()
    _parquet(tmp_path / "raw" / "retain1" / "0000.parquet", muse["raw"]["retain1"])
    _parquet(tmp_path / "raw" / "forget" / "0000.parquet", muse["raw"]["forget"][:1])
    _parquet(tmp_path / "raw" / "forget" / "0001.parquet", muse["raw"]["forget"][1:])
    data = load_muse(tmp_path)
    assert data.forget == muse["raw"]["forget"]
    shards = [str(tmp_path / "raw" / "forget" / f"000{k}.parquet") for k in (0, 1)]
    assert data.files["forget"] == ", ".join(shards)


def test_one_split_from_two_sources_is_an_error_naming_both(tmp_path: Path) -> None:
    muse = _muse_public()
    _parquet(tmp_path / "raw" / "retain1-00000-of-00001.parquet", muse["raw"]["retain1"])
    _parquet(tmp_path / "raw" / "forget-00000-of-00001.parquet", muse["raw"]["forget"])
    (tmp_path / "raw" / "forget.json").write_text(json.dumps(muse["raw"]["forget"]))
    with pytest.raises(DataValidationError, match="two files") as info:
        load_muse(tmp_path)
    message = str(info.value)
    assert "raw/forget.json" in message and "raw/forget-00000-of-00001.parquet" in message


def test_a_partial_conversion_is_read_with_a_warning(tmp_path: Path) -> None:
    _parquet(tmp_path / "raw" / "partial-forget" / "0000.parquet", [{"text": "t"}])
    with pytest.warns(UserWarning, match="partial parquet conversion"):
        assert load_records(tmp_path, "raw") == [{"text": "t"}]


# ----------------------------------------------------------------------------------------
# WMDP and MMLU as cais ships them
def _mcq(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "answer": k % 4,
            "question": f"{prefix} question {k}?",
            "choices": [f"{prefix} option {k}.{j}" for j in range(4)],
        }
        for k in range(n)
    ]


_WMDP = {"wmdp-bio": _mcq("bio", 3), "wmdp-chem": _mcq("chem", 2), "wmdp-cyber": _mcq("cyber", 4)}


def test_wmdp_hub_download(tmp_path: Path) -> None:
    # cais/wmdp: README configs wmdp-bio/chem/cyber, split test, wmdp-bio/test-*.parquet
    for config, records in _WMDP.items():
        _parquet(tmp_path / config / "test-00000-of-00001.parquet", records)
    (tmp_path / "dataset.png").write_bytes(b"\x89PNG\r\n")
    _readme(tmp_path, {c: ["test"] for c in _WMDP}, "{config}/{split}-*")
    sets = load_wmdp_dir(tmp_path)
    assert sets == _WMDP
    assert all(type(r["answer"]) is int for rs in sets.values() for r in rs)
    assert load_wmdp_dir(tmp_path, configs=["wmdp-chem"]) == {"wmdp-chem": _WMDP["wmdp-chem"]}


def test_wmdp_as_the_hubs_parquet_conversion(tmp_path: Path) -> None:
    for config, records in _WMDP.items():
        _parquet(tmp_path / config / "test" / "0000.parquet", records)
    assert load_wmdp_dir(tmp_path) == _WMDP


def test_wmdp_corpora_next_to_the_questions_are_skipped(tmp_path: Path) -> None:
    for config, records in _WMDP.items():
        path = tmp_path / f"{config}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (tmp_path / "cyber-forget-corpus.jsonl").write_text('{"text": "a passage"}\n')
    assert load_wmdp_dir(tmp_path) == _WMDP


def test_mmlu_hub_download_reads_the_test_split_of_each_subject(tmp_path: Path) -> None:
    # cais/mmlu: <subject>/{test,validation,dev}-*.parquet, answer a ClassLabel, a subject
    # column; auxiliary_train holds its rows in a nested "train" column and has no test split
    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "subject": datasets.Value("string"),
            "choices": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.ClassLabel(names=["A", "B", "C", "D"]),
        }
    )
    subjects = {"abstract_algebra": {}, "anatomy": {}}
    for subject, splits in subjects.items():
        for split, n in (("test", 3), ("validation", 2), ("dev", 1)):
            records = [r | {"subject": subject} for r in _mcq(f"{subject} {split}", n)]
            splits[split] = records
            _parquet(tmp_path / subject / f"{split}-00000-of-00001.parquet", records, features)
    aux = [{"train": _mcq("aux", 1)[0] | {"subject": ""}}]
    _parquet(tmp_path / "auxiliary_train" / "train-00000-of-00001.parquet", aux)
    layout = {s: ["test", "validation", "dev"] for s in subjects} | {"auxiliary_train": ["train"]}
    _readme(tmp_path, layout, "{config}/{split}-*")

    sets = load_wmdp_dir(tmp_path)
    assert sets == {s: subjects[s]["test"] for s in subjects}
    assert sets["anatomy"][2]["answer"] == 2  # the ClassLabel comes back as its index
    assert load_wmdp_dir(tmp_path, split="dev") == {s: subjects[s]["dev"] for s in subjects}
    with pytest.raises(DataValidationError, match=r"no question set has a split 'tset'"):
        load_wmdp_dir(tmp_path, split="tset")
    with pytest.raises(DataValidationError, match=r"Did you mean 'anatomy'"):
        load_wmdp_dir(tmp_path, configs=["anatomi"])


def test_wmdp_answer_out_of_range_names_the_shard_and_record(tmp_path: Path) -> None:
    bad = _mcq("bio", 3)
    bad[1]["answer"] = 4
    _parquet(tmp_path / "wmdp-bio" / "test" / "0000.parquet", _mcq("bio", 2))
    _parquet(tmp_path / "wmdp-bio" / "test" / "0001.parquet", bad)
    with pytest.raises(DataValidationError, match="answer 4 is not the index") as info:
        load_wmdp_dir(tmp_path)
    err = info.value
    assert (err.file, err.record, err.field) == (
        str(tmp_path / "wmdp-bio" / "test" / "0001.parquet"),
        1,
        "answer",
    )


def test_wmdp_missing_choices_names_file_record_and_field(tmp_path: Path) -> None:
    records = _mcq("chem", 3)
    del records[2]["choices"]
    path = tmp_path / "wmdp-chem" / "test-00000-of-00001.parquet"
    _parquet(path, records)
    with pytest.raises(DataValidationError, match="missing required field") as info:
        load_wmdp_dir(tmp_path)
    assert (info.value.file, info.value.record, info.value.field) == (str(path), 2, "choices")


# ----------------------------------------------------------------------------------------
# the synthetic world writes the public TOFU schema too
def test_written_world_tofu_files_have_the_public_fields(tmp_path: Path) -> None:
    from unlearnkit.data.world import generate_world, world_preset

    world = generate_world(world_preset("test"))
    root = world.write(tmp_path / "world") / "tofu"
    for name, fields in (
        ("world_facts_perturbed", {"question", "answer", "perturbed_answer"}),
        ("world_facts", {"question", "answer", "option1", "option2", "option3", "option4"}),
    ):
        records = load_records(root / f"{name}.json")
        assert all(set(r) == fields for r in records), name
    data = load_tofu(root, forget="forget10")
    assert data.configs["world_facts"] == "world_facts_perturbed"
    # the world's own evaluated sets keep the paraphrase the truth ratio reads
    assert all(r["paraphrased_answer"] for r in data.forget + data.retain_eval)
