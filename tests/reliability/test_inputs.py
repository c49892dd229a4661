"""Bad inputs (defects 6 and 8 of issue 19), at the library level: each gets a typed error
that names the file (and line, record or byte) and says how to fix it, or a warning naming
the file and records; the CLI side is in test_cli_errors.py."""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import typing
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.architectures import save_tiny_lm
from unlearnkit.core.config import Config, load_yaml_file, parse_overrides
from unlearnkit.core.errors import (
    ConfigError,
    ConfigFileError,
    DataValidationError,
    DataWarning,
    RunFailedError,
    UnknownNameError,
    UnlearnkitError,
)
from unlearnkit.data.loaders import load_muse, load_records, load_tofu
from unlearnkit.models.loading import ModelLoadError, load_causal_lm
from unlearnkit.runner.spec import load_family_spec, load_spec, run_name_problem

REAL_TOFU = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "tofu-sample"


# -- YAML specs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name: x\nmethods: [{name: npo}\n", "line 3, column 1: while parsing a flow sequence"),
        (b"name: x\nbuild: {forget: forget10\n", "check that every [ and { is closed"),
        (b"name: x\n\tseeds: [0]\n", "replace the tabs with spaces"),
        (b"name: a\nseeds: [0]\nname: b\n", "line 3, column 1: duplicate key 'name' (first on"),
        (b"build:\n  train:\n    epochs: 2\n    epochs: 3\n", "duplicate key 'epochs'"),
        (b"name: caf\xe9\n", "0xe9 at byte offset 9 (line 1, column 10"),
        (b"name: \xff\xfe\n", "is not valid UTF-8"),
    ],
    ids=["unclosed-list", "unclosed-map", "tab", "duplicate-key", "nested-dup", "latin1", "ff"],
)
def test_a_broken_spec_file_is_named_with_its_line_and_fix(tmp_path, content, expected):
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigFileError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_a_python_tag_in_a_spec_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "spec.yaml"
    path.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigFileError, match=r"tags such as !!python/object are not allowed"):
        load_spec(path)
    assert not marker.exists()


def test_duplicate_keys_in_an_override_value_are_an_error():
    with pytest.raises(ConfigError, match=r"duplicate key 'lr'"):
        parse_overrides(["methods=[{name: npo, config: {lr: 1e-3, lr: 5}}]"])


def test_every_yaml_reader_of_specs_refuses_duplicates(tmp_path):
    from unlearnkit.runner.families.classifier import ClassifierExperimentSpec as ClassifierSpec

    path = tmp_path / "faces.yaml"
    path.write_text("kind: classifier\nseeds: [0]\nseeds: [1]\n")
    with pytest.raises(ConfigFileError, match="duplicate key 'seeds'"):
        load_family_spec(ClassifierSpec, path, [])
    with pytest.raises(ConfigFileError, match="duplicate key 'seeds'"):
        ClassifierSpec.from_yaml(path)


def test_a_missing_yaml_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigFileError, match="the YAML file does not exist"):
        load_yaml_file(tmp_path / "missing.yaml", "spec")


# -- non-finite numbers ----------------------------------------------------------------------
def _config_classes() -> list[type[Config]]:
    import unlearnkit.runner.families  # noqa: F401  (imports every family's configs)
    from unlearnkit.methods.api import register_builtin_methods

    register_builtin_methods()
    seen: dict[str, type[Config]] = {}
    todo = list(Config.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("unlearnkit."):
            seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [seen[k] for k in sorted(seen)]


def _float_fields(cls: type[Config]) -> list[str]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints.get(f.name)
        args = typing.get_args(tp)
        if tp is float or (float in args and type(None) in args and len(args) == 2):
            out.append(f.name)
    return out


CONFIGS = [c for c in _config_classes() if _float_fields(c)]


def test_the_float_sweep_covers_the_method_and_run_configs():
    names = {c.__name__ for c in CONFIGS}
    assert {"NPOConfig", "EvalConfig", "ExperimentSpec", "TrainConfig"} <= names
    assert sum(len(_float_fields(c)) for c in CONFIGS) > 200


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_no_float_setting_accepts_nan_or_inf(cls):
    try:
        base = cls()
    except (ConfigError, TypeError):  # required fields: not constructible from defaults
        pytest.skip(f"{cls.__name__} has required fields")
    checked = 0
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in _float_fields(cls):
        allowed = fields[name].metadata.get("choices") or ()
        for bad in (math.inf, -math.inf, math.nan):
            if bad in allowed:  # GradNorm's p=inf is a norm, listed as a choice
                assert getattr(base.replace(**{name: bad}), name) == bad
                continue
            with pytest.raises(ConfigError, match=r"finite number|must be"):
                base.replace(**{name: bad})
            checked += 1
    assert checked > 0


def test_lr_inf_in_a_run_spec_is_refused():
    with pytest.raises(ConfigError, match=r"NPOConfig.lr = inf is invalid: must be a finite"):
        load_spec(None, ["methods=[{name: npo, config: {lr: .inf}}]"])
    with pytest.raises(ConfigError, match=r"ci_level = nan is invalid"):
        load_spec(None, ["ci_level=.nan"])


# -- run names -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["..", ".", "", " ", "a/b", "../up", "/abs", "a\\b", "C:evil", "x\x00y", "tab\tname"]
)
def test_a_run_name_must_be_one_folder_name(name):
    assert run_name_problem(name) is not None
    with pytest.raises(ConfigError, match=r"ExperimentSpec.name"):
        load_spec(None, [f"name={json.dumps(name)}"])


def test_ordinary_run_names_pass():
    for name in ("demo", "tofu-npo_v2", "my run", "a.b", "..x"):
        assert run_name_problem(name) is None


@pytest.mark.parametrize("family", ["classifier", "recommender"])
def test_family_specs_refuse_names_outside_the_runs_folder(family):
    from unlearnkit.runner.families.classifier import ClassifierExperimentSpec as ClassifierSpec
    from unlearnkit.runner.families.recommender import RecommenderExperimentSpec as RecommenderSpec

    cls = ClassifierSpec if family == "classifier" else RecommenderSpec
    with pytest.raises(ConfigError, match=r"\.name = '\.\.' is invalid"):
        load_family_spec(cls, None, ["name=.."])


def test_a_dot_dot_name_writes_nothing_outside_runs(tmp_path, monkeypatch):
    from unlearnkit.runner import run as run_module
    from unlearnkit.runner.families import lm as lm_family

    runs = tmp_path / "sandbox" / "runs"
    runs.mkdir(parents=True)
    monkeypatch.setattr(lm_family, "_locate", _no_models)
    with pytest.raises(ConfigError):
        spec = load_spec(None, ["build=test", "name=.."])
        run_module.run_experiment(spec, runs_dir=runs, progress=False)
    assert sorted(p.name for p in (tmp_path / "sandbox").iterdir()) == ["runs"]
    assert list(runs.iterdir()) == []


def _no_models(*args, **kwargs):
    raise AssertionError("not reached: the spec is refused first")


# -- data files ------------------------------------------------------------------------------
def _qa(tag: str, k: int, **extra) -> dict:
    return {"question": f"What does {tag} do ({k})?", "answer": f"{tag} writes ({k}).", **extra}


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _tofu(root: Path, forget: list[dict], retain: list[dict], files=None) -> Path:
    _write_jsonl(root / "forget10.json", forget)
    _write_jsonl(root / "retain90.json", retain)
    files = files or {"forget10": "forget10.json", "retain90": "retain90.json"}
    configs = [{"config_name": c, "data_files": f} for c, f in files.items()]
    front = yaml.safe_dump({"configs": configs}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{front}---\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "listed", ["../secret.json", "/etc/passwd", "sub/../../secret.json", "..\\secret.json"]
)
def test_readme_data_files_outside_the_dataset_folder_are_refused(tmp_path, listed):
    secret = _write_jsonl(tmp_path / "secret.json", [_qa("s", 1)])
    root = _tofu(tmp_path / "data", [_qa("f", 1)], [_qa("r", 1)])
    files = {"forget10": listed, "retain90": "retain90.json"}
    _tofu(root, [_qa("f", 1)], [_qa("r", 1)], files)
    with pytest.raises(DataValidationError, match="outside the dataset folder") as info:
        load_tofu(root)
    assert info.value.file == str(root / "README.md") and repr(listed) in str(info.value)
    assert secret.exists()


def test_readme_data_files_inside_the_folder_still_load(tmp_path):
    root = _tofu(tmp_path / "data", [_qa("f", 1)], [_qa("r", 1)])
    _write_jsonl(root / "splits" / "forget.json", [_qa("f", 2)])
    files = {"forget10": "splits/../splits/forget.json", "retain90": "./retain90.json"}
    _tofu(root, [_qa("f", 1)], [_qa("r", 1)], files)
    assert load_tofu(root).forget == [_qa("f", 2)]


def test_an_exact_repeat_in_a_tofu_forget_set_is_an_error(tmp_path):
    forget = [_qa("f", 1), _qa("f", 2), _qa("f", 3), _qa("f", 1)]
    root = _tofu(tmp_path, forget, [_qa("r", 1)])
    with pytest.raises(DataValidationError, match=r"record 3 repeats record 0") as info:
        load_tofu(root)
    assert info.value.file == str(root / "forget10.json")


def test_repeats_elsewhere_are_a_warning_naming_the_file_and_records(tmp_path):
    retain = [_qa("r", 1), _qa("r", 2), _qa("r", 1), _qa("r", 3)]
    root = _tofu(tmp_path, [_qa("f", 1)], retain)
    with pytest.warns(DataWarning, match=r"retain90.json: .*record 2 repeats record 0"):
        data = load_tofu(root)
    assert len(data.retain) == 4  # kept: the warning says, the user decides


def test_a_case_or_space_repeat_in_the_forget_set_is_a_warning(tmp_path):
    twin = {"question": "WHAT does  f do (1)?", "answer": "f writes (1). "}
    root = _tofu(tmp_path, [_qa("f", 1), twin], [_qa("r", 1)])
    with pytest.warns(DataWarning, match=r"forget10.json: .*record 1 repeats record 0"):
        load_tofu(root)


def test_the_real_tofu_sample_has_no_repeats():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        data = load_tofu(REAL_TOFU, forget="forget01")
    assert len(data.forget) == 40


@pytest.mark.parametrize(
    "variant",
    [
        lambda r: {**r, "question": r["question"].upper(), "answer": r["answer"].lower()},
        lambda r: {**r, "question": "  " + r["question"].replace(" ", "   ")},
        lambda r: {**r, "question": r["question"].replace(" ", "\t"), "answer": r["answer"] + "\n"},
    ],
    ids=["case", "spaces", "tabs-newline"],
)
def test_the_overlap_check_ignores_case_and_whitespace(tmp_path, variant):
    forget = [_qa("f", 1), _qa("f", 2)]
    retain = [_qa("r", 1), variant(_qa("f", 2))]
    with pytest.raises(DataValidationError, match="overlaps the retain set") as info:
        load_tofu(_tofu(tmp_path, forget, retain))
    assert info.value.record == 1 and "record 1 of" in str(info.value)


def test_muse_texts_differing_only_in_whitespace_overlap(tmp_path):
    _write_jsonl(tmp_path / "raw" / "forget.json", [{"text": "Alpha was born in Xville."}])
    _write_jsonl(tmp_path / "raw" / "retain.json", [{"text": "alpha was  born in Xville. "}])
    with pytest.raises(DataValidationError, match="overlaps the retain set"):
        load_muse(tmp_path)


@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_non_utf8_data_names_the_file_byte_and_line(tmp_path, layout):
    path = tmp_path / f"forget.{layout}"
    good = json.dumps(_qa("f", 1)).encode()
    bad = '{"question": "Où?", "answer": "Là"}'.encode("latin-1")
    body = good + b"\n" + bad + b"\n" if layout == "jsonl" else b"[" + good + b",\n" + bad + b"]"
    path.write_bytes(body)
    with pytest.raises(DataValidationError, match=r"0xf9 at byte offset \d+ \(line 2") as info:
        load_records(path)
    assert info.value.file == str(path) and "save the file as UTF-8" in str(info.value)


def test_a_non_utf8_readme_is_named(tmp_path):
    root = _tofu(tmp_path, [_qa("f", 1)], [_qa("r", 1)])
    (root / "README.md").write_bytes(b"---\npretty_name: caf\xe9\n---\n")
    with pytest.raises(DataValidationError, match=r"0xe9 at byte offset") as info:
        load_tofu(root)
    assert info.value.file == str(root / "README.md")


def test_a_git_lfs_pointer_is_named_as_such(tmp_path):
    path = tmp_path / "forget.parquet"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n")
    with pytest.raises(DataValidationError, match=r"Git LFS pointer, not the data"):
        load_records(path)


# -- models ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny_lm(tmp_path_factory.mktemp("tiny") / "model")


def _damaged(tiny: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny, copy)
    return copy


@pytest.mark.parametrize(
    ("damage", "file", "expected"),
    [
        (lambda d: _cut(d / "model.safetensors", 0.5), "model.safetensors", "truncated"),
        (lambda d: _append(d / "model.safetensors"), "model.safetensors", "bytes after the last"),
        (lambda d: _garbage(d / "model.safetensors"), "model.safetensors", "not a safetensors"),
        (lambda d: _cut(d / "config.json", 0.5), "config.json", "not valid JSON"),
        (lambda d: _cut(d / "tokenizer.json", 0.5), "tokenizer.json", "not valid JSON"),
        (lambda d: _cut(d / "unlearnkit.json", 0.5), "unlearnkit.json", "not valid JSON"),
        (lambda d: (d / "model.safetensors").unlink(), "", "holds no model weights"),
        (lambda d: (d / "tokenizer.json").write_text('{"model": {}}'), "tokenizer.json", ""),
        (lambda d: (d / "config.json").write_text('{"model_type": "nope"}'), "", "nope"),
    ],
    ids=[
        "truncated-weights",
        "extra-bytes",
        "garbage-weights",
        "broken-config",
        "broken-tokenizer-json",
        "broken-meta",
        "no-weights",
        "tokenizer-not-a-tokenizer",
        "unknown-architecture",
    ],
)
def test_a_damaged_model_directory_is_named(tiny_model, tmp_path, damage, file, expected):
    model = _damaged(tiny_model, tmp_path)
    damage(model)
    with pytest.raises(ModelLoadError) as info:
        load_causal_lm(model)
    message = str(info.value)
    assert str(model) in message and file in message and expected in message
    assert "Re-save or re-download" in message and "\n" not in message


def test_a_tokenizer_larger_than_the_embedding_is_refused_at_load_time(tmp_path):
    model = save_tiny_lm(tmp_path / "model", embedding_rows=100)
    with pytest.raises(ModelLoadError, match=r"has 100 rows, so ids from 100 on cannot"):
        load_causal_lm(model)


def _cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def _append(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"junk")


def _garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 8)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_weights_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        model = save_tiny_lm(tmp_path / "model")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in model.iterdir()}
    assert modes["model.safetensors"] == mode, modes
    assert set(modes.values()) == {mode}


def test_cache_entries_written_by_safetensors_follow_the_umask(tmp_path):
    import torch
    from safetensors.torch import save_file

    from unlearnkit.core.cache import Cache

    def build(tmp: Path) -> None:
        save_file({"w": torch.zeros(4)}, str(tmp / "model.safetensors"))  # makes 0600 itself

    old = os.umask(0o022)
    try:
        entry, built = Cache(tmp_path / "cache").get_or_build("target", {"k": 1}, build)
    finally:
        os.umask(old)
    assert built and (entry / "model.safetensors").stat().st_mode & 0o777 == 0o644


# -- errors cross process boundaries ---------------------------------------------------------
ERRORS = [
    ConfigError("NPOConfig", "lr", -1.0, "must be > 0"),
    ConfigFileError("ExperimentSpec", "spec.yaml", "not valid YAML at line 2"),
    DataValidationError("missing field", file="f.json", record=3, field="answer"),
    UnknownNameError("method", "npoo", ["npo", "simnpo"]),
    ModelLoadError("model/config.json is damaged"),
    RunFailedError("the run failed"),
]


@pytest.mark.parametrize("exc", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_survives_pickling(exc):
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc) and back.__dict__ == exc.__dict__


def test_a_config_error_raised_in_a_worker_process_reaches_the_parent_intact():
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        future = pool.submit(parse_overrides, ["no-equals-sign"])
        with pytest.raises(ConfigError, match="expected key=value") as info:
            future.result(timeout=120)
    assert info.value.field == "no-equals-sign"


# -- run folders -----------------------------------------------------------------------------
def _failing_locate(*args, **kwargs):
    raise UnlearnkitError("the target model folder is damaged: rebuild it")


def test_a_failed_run_writes_status_failed_and_no_results(tmp_path, monkeypatch):
    from unlearnkit.runner import run as run_module
    from unlearnkit.runner.families import lm as lm_family

    spec = load_spec(None, ["build=test", "name=broken"])
    run_dir = tmp_path / "runs" / "broken" / run_module.run_id(spec)
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text("{}")  # an earlier invocation's
    monkeypatch.setattr(lm_family, "_locate", _failing_locate)
    with pytest.raises(UnlearnkitError, match="damaged"):
        run_module.run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["error"]["type"] == "UnlearnkitError"
    assert status["error"]["message"] == "the target model folder is damaged: rebuild it"
    assert "Traceback" in status["error"]["traceback"]
    assert not (run_dir / "results.json").exists() and (run_dir / "spec.yaml").is_file()
    with pytest.raises(RunFailedError, match=r"failed .*UnlearnkitError: the target model"):
        run_module.load_results(run_dir)
    from unlearnkit.report import write_report

    with pytest.raises(RunFailedError, match="It has no results"):
        write_report(run_dir)


def test_an_interrupted_run_says_so(tmp_path, monkeypatch):
    from unlearnkit.runner import run as run_module
    from unlearnkit.runner.families import lm as lm_family

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    spec = load_spec(None, ["build=test", "name=stopped"])
    monkeypatch.setattr(lm_family, "_locate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_module.run_experiment(spec, runs_dir=tmp_path, progress=False)
    status = run_module.read_status(tmp_path / "stopped" / run_module.run_id(spec))
    assert status["status"] == "failed" and status["error"]["type"] == "KeyboardInterrupt"
    assert status["error"]["message"] == "interrupted (Ctrl-C)"


def test_run_status_ok_and_a_killed_run(tmp_path):
    from unlearnkit.core.runs import STATUS_FILE, load_results, read_status, run_status

    done = tmp_path / "done"
    with run_status(done):
        assert read_status(done)["status"] == "running"
        (done / "results.json").write_text("{}")
    assert read_status(done)["status"] == "ok"

    killed = tmp_path / "killed"
    with run_status(killed):
        status = read_status(killed)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that is gone
    for pid, message in ((os.getpid(), "has not finished yet"), (child.pid, "is gone")):
        (killed / STATUS_FILE).write_text(json.dumps({**status, "pid": pid}))
        with pytest.raises(RunFailedError, match=message):
            load_results(killed)
