"""Defect 6 of issue 19: the CLI's one error path. Every expected failure (config, data,
model, disk, cache) exits with status 2 and one paragraph naming the file and the fix, with
no traceback unless --debug (before or after the command) or UNLEARNKIT_DEBUG=1; a bug
shows its traceback and asks to be reported (status 1); Ctrl-C exits 130. A failed run
leaves status: failed in its folder, and ``report`` says why."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from safetensors import SafetensorError
from typer.testing import CliRunner

from tests.architectures import save_tiny_lm
from unlearnkit.cli import app
from unlearnkit.core.errors import UnlearnkitError

REAL_TOFU = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "tofu-sample"
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env={"UNLEARNKIT_DEBUG": "", **(env or {})})


def expect_clear_error(res, *needles: str, code: int = 2) -> str:
    """Exit ``code``, no traceback, and the error as one paragraph holding ``needles``."""
    out = res.output
    assert res.exit_code == code, out
    assert "Traceback" not in out, out
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    error = [ln for ln in lines if ln.startswith("error:")]
    assert len(error) == 1, out  # one paragraph: one line, no blank line inside
    assert error[0] == lines[-1], out
    for needle in needles:
        assert needle in error[0], (needle, out)
    return error[0]


# -- config files ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"name: x\nmethods: [{name: npo}\n", "check that every [ and { is closed"),
        (b"name: x\n\tseeds: [0]\n", "replace the tabs with spaces"),
        (b'name: !!python/object/apply:os.system ["true"]\n', "!!python/object are not allowed"),
        (b"name: a\nseeds: [0]\nname: b\n", "duplicate key 'name'"),
        (b"name: caf\xe9\n", "not UTF-8 text: 0xe9 at byte offset 9"),
        (b"- a list\n- not a mapping\n", "a YAML mapping"),
    ],
    ids=["unclosed", "tab", "python-tag", "duplicate-key", "latin1", "not-a-mapping"],
)
def test_a_broken_spec_file_is_one_paragraph_naming_it(tmp_path, content, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    expect_clear_error(invoke("run", spec, "--runs", tmp_path / "runs"), str(spec), needle)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "debug",
    [("--debug", "run", "{spec}"), ("run", "{spec}", "--debug"), ("env",)],
    ids=["before", "after", "env"],
)
def test_debug_adds_the_traceback(tmp_path, debug):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: a\nname: b\n")
    env = {"UNLEARNKIT_DEBUG": "1"} if debug == ("env",) else {}
    args = ("run", spec) if debug == ("env",) else [a.format(spec=spec) for a in debug]
    res = invoke(*args, env=env)
    assert res.exit_code == 2 and "Traceback" in res.output
    assert "ConfigFileError" in res.output
    assert res.output.strip().splitlines()[-1].startswith("error: spec file")


def test_a_bad_override_and_a_bad_inline_prompt_format(tmp_path):
    expect_clear_error(invoke("run", "-s", "seeds={a: 1, a: 2}"), "duplicate key 'a'")
    expect_clear_error(
        invoke("run", "-s", "methods=[{name: npo, config: {lr: .inf}}]"),
        "NPOConfig.lr = inf is invalid: must be a finite number",
    )
    res = invoke("eval", "--model", tmp_path, "--data", REAL_TOFU, "--forget", "forget01",
                 "--prompt-format", "{template: [", "-o", tmp_path / "r.json")  # fmt: skip
    expect_clear_error(res, "--prompt-format", "not valid inline YAML")


@pytest.mark.parametrize("name", ["..", ".", "../escape", "/tmp/abs", "a\\b"])
def test_a_run_named_outside_the_runs_folder_is_refused(tmp_path, name):
    runs = tmp_path / "box" / "runs"
    runs.mkdir(parents=True)
    cache = tmp_path / "cache"  # never the user's cache, should a name slip through
    args = ("-s", f"name={json.dumps(name)}", "-s", "build=test")
    res = invoke("run", *args, "--runs", runs, "--cache", cache)
    expect_clear_error(res, "ExperimentSpec.name", "a folder name")
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["runs"]
    assert list(runs.iterdir()) == []


# -- models ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny_lm(tmp_path_factory.mktemp("tiny") / "model")


def _eval(model: Path, tmp_path: Path, data: Path = REAL_TOFU):
    out = tmp_path / "report.json"
    return invoke("eval", "--model", model, "--data", data, "--forget", "forget01", "-o", out)


def test_a_truncated_weights_file_is_named(tiny_model, tmp_path):
    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    expect_clear_error(_eval(model, tmp_path), str(weights), "truncated", "rebuild it")
    assert not (tmp_path / "report.json").exists()


def test_a_broken_config_json_is_named(tiny_model, tmp_path):
    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    (model / "config.json").write_text('{"model_type": ')
    expect_clear_error(_eval(model, tmp_path), str(model / "config.json"), "not valid JSON")


def test_a_folder_without_config_json(tiny_model, tmp_path):
    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    (model / "config.json").unlink()
    expect_clear_error(_eval(model, tmp_path), str(model), "has no config.json")


def test_a_tokenizer_that_is_not_the_models_is_refused_at_load_time(tmp_path):
    model = save_tiny_lm(tmp_path / "model", embedding_rows=64)
    expect_clear_error(
        _eval(model, tmp_path), str(model), "embedding table has 64 rows", "the tokenizer is not"
    )


# -- data ------------------------------------------------------------------------------------
def _real_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REAL_TOFU, tmp_path / "tofu"))


def test_non_utf8_data_is_named_with_its_byte_offset(tiny_model, tmp_path):
    data = _real_copy(tmp_path)
    forget = data / "forget01_perturbed.json"
    raw = forget.read_bytes()
    at = raw.index(b"a")
    forget.write_bytes(raw[:at] + b"\xe9" + raw[at + 1 :])
    res = _eval(tiny_model, tmp_path, data)
    expect_clear_error(res, str(forget), f"0xe9 at byte offset {at} (line")


def test_a_repeated_forget_record_is_named(tiny_model, tmp_path):
    data = _real_copy(tmp_path)
    forget = data / "forget01_perturbed.json"
    lines = forget.read_text(encoding="utf-8").splitlines()
    forget.write_text("\n".join([*lines, lines[3]]) + "\n", encoding="utf-8")
    res = _eval(tiny_model, tmp_path, data)
    expect_clear_error(res, str(forget), f"record {len(lines)} repeats record 3")


def test_readme_data_files_outside_the_folder_are_refused(tiny_model, tmp_path):
    data = _real_copy(tmp_path)
    readme = data / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("data_files: retain99.json", "data_files: ../x.json"))
    expect_clear_error(_eval(tiny_model, tmp_path, data), str(readme), "outside the dataset")


# -- disks -----------------------------------------------------------------------------------
def test_a_full_disk_while_writing_names_the_place_and_the_fix(tmp_path, monkeypatch):
    def full(fd: int) -> None:  # what a full disk reports at fsync (or write)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "world"
    res = invoke("world", "--out", out, "--preset", "test")
    expect_clear_error(res, "the disk is full while writing", str(tmp_path), f"--out {out}")
    assert "Free some space" in res.output
    assert not out.exists()


def test_a_full_disk_inside_safetensors_is_recognised(tmp_path, monkeypatch):
    import unlearnkit.data.world as world

    def full(*args, **kwargs):  # the Rust library's I/O error: no errno, only text
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")  # fmt: skip

    monkeypatch.setattr(world, "generate_world", full)
    res = invoke("world", "--out", tmp_path / "w", "--preset", "test")
    expect_clear_error(res, "the disk is full", f"--out {tmp_path / 'w'}")


def test_a_read_only_output_folder(tmp_path, monkeypatch):
    def read_only(suffix=None, prefix=None, dir=None):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{dir}/{prefix}abc{suffix}")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    res = invoke("world", "--out", tmp_path / "w", "--preset", "test")
    expect_clear_error(res, "read-only file system", str(tmp_path), "Write elsewhere")


def test_a_runs_folder_we_may_not_write(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    mkdir = Path.mkdir

    def forbidden(self, *args, **kwargs):
        if str(self).startswith(str(runs)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", forbidden)
    res = invoke("run", "-s", "build=test", "--runs", runs, "--cache", tmp_path / "cache")
    expect_clear_error(res, "permission denied for", str(runs), f"--runs {runs}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_a_really_read_only_runs_folder(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    try:
        res = invoke("run", "-s", "build=test", "--runs", runs, "--cache", tmp_path / "cache")
    finally:
        runs.chmod(0o755)
    expect_clear_error(res, "permission denied for", str(runs))


# -- runs ------------------------------------------------------------------------------------
def test_a_failed_run_says_why_and_report_repeats_it(tmp_path, monkeypatch):
    from unlearnkit.runner.families import lm as lm_family

    def damaged(*args, **kwargs):
        raise UnlearnkitError("cached target /x/model.safetensors is damaged: delete it")

    monkeypatch.setattr(lm_family, "_locate", damaged)
    runs = tmp_path / "runs"
    res = invoke(
        "run", "-s", "build=test", "-s", "name=broken", "--runs", runs, "--cache", tmp_path / "c"
    )
    expect_clear_error(res, "cached target /x/model.safetensors is damaged")
    (run_dir,) = (runs / "broken").iterdir()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and "damaged" in status["error"]["message"]
    assert not (run_dir / "results.json").exists()
    report = invoke("report", run_dir)
    expect_clear_error(report, f"the run in {run_dir} failed", "is damaged: delete it")


def test_report_on_a_damaged_results_file_names_it(tmp_path):
    run_dir = tmp_path / "runs" / "demo" / "abc"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text('{"kind": "unlearnkit.run", "rows": [')
    res = invoke("report", run_dir)
    expect_clear_error(res, f"{run_dir / 'results.json'} is damaged", "run the experiment again")


def test_warnings_are_one_paragraph_before_the_error(tmp_path, monkeypatch):
    import warnings

    import unlearnkit.data.world as world
    from unlearnkit.core.errors import DataWarning

    def warn_then_fail(*args, **kwargs):
        warnings.warn("forget.json: record 3 repeats record 0", DataWarning, stacklevel=2)
        raise UnlearnkitError("and then it failed")

    monkeypatch.setattr(world, "generate_world", warn_then_fail)
    res = invoke("world", "--out", tmp_path / "w")
    expect_clear_error(res, "and then it failed")
    assert "warning: forget.json: record 3 repeats record 0\n" in res.output
    assert "warnings.warn(" not in res.output  # no source line


# -- bugs and interruptions ------------------------------------------------------------------
def test_an_unexpected_exception_is_a_bug_with_its_traceback(tmp_path, monkeypatch):
    import unlearnkit.data.world as world

    def bug(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(world, "generate_world", bug)
    res = invoke("world", "--out", tmp_path / "w")
    assert res.exit_code == 1
    assert "Traceback" in res.output and "ZeroDivisionError" in res.output
    assert "This is a bug in unlearnkit" in res.output and "please report it" in res.output


def test_ctrl_c_exits_130(tmp_path, monkeypatch):
    import unlearnkit.data.world as world

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(world, "generate_world", interrupted)
    res = invoke("world", "--out", tmp_path / "w")
    assert res.exit_code == 130 and "interrupted" in res.output
    assert "Traceback" not in res.output
