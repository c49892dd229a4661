"""A damaged ``RUNS/index.json``: ``unlearnkit compare`` names the file and the fix (exit 2,
no traceback) instead of a JSONDecodeError, AttributeError, KeyError or TypeError, and a run
that finishes onto it replaces it with a warning instead of failing after all its work."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.runs import RunsIndexError, read_runs_index
from unlearnkit.report.tables import compare_runs

runner = CliRunner()
RECOMMENDER = ["-s", "world=test", "-s", "methods=[{name: reverse_bpr}]"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={"UNLEARNKIT_DEBUG": ""})


def one_error_paragraph(res) -> str:
    out = res.output
    assert res.exit_code == 2, out
    assert "Traceback" not in out, out
    (error,) = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert error == out.strip().splitlines()[-1], out
    return error


BROKEN = {
    "cut-short": (b'{"kind": "unlearnkit.runs", "runs": [{"run_dir": "r', "it is not JSON"),
    "empty": (b"", "it is not JSON"),
    "latin1": (b'{"runs": [{"name": "caf\xe9"}]}', "it is not UTF-8 text (byte 0xe9 at offset 23)"),
    "a-list": (b"[]", "it is not an unlearnkit runs index"),
    "foreign-kind": (b'{"kind": "something.else", "runs": []}', "it is not an unlearnkit runs"),
    "runs-not-a-list": (b'{"kind": "unlearnkit.runs", "runs": 5}', "its 'runs' is not a list"),
    "entry-not-an-object": (b'{"runs": ["runs/demo/abc"]}', "its run 1 lacks a run_dir"),
    "entry-without-run_dir": (b'{"runs": [{"name": "demo", "id": "abc"}]}', "its run 1 lacks"),
    "run_dir-a-number": (
        b'{"runs": [{"run_dir": "a", "name": "x", "id": "y"}, '
        b'{"run_dir": 5, "name": "x", "id": "y"}]}',
        "its run 2 lacks a run_dir, name or id",
    ),
}


@pytest.mark.parametrize(("content", "problem"), BROKEN.values(), ids=BROKEN.keys())
def test_compare_on_a_damaged_index_names_it(tmp_path, content, problem):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "index.json").write_bytes(content)
    error = one_error_paragraph(invoke("compare", "--runs", runs))
    assert f"the runs index {runs / 'index.json'} is damaged: {problem}" in error
    assert "Delete it (or move it away)" in error and "the run folders are untouched" in error
    # the library raises the same, typed
    with pytest.raises(RunsIndexError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        compare_runs(runs)


def test_the_index_error_is_typed_and_crosses_processes(tmp_path):
    (tmp_path / "index.json").write_text("{")
    with pytest.raises(RunsIndexError) as caught:
        read_runs_index(tmp_path)
    exc = caught.value
    assert isinstance(exc, UnlearnkitError) and isinstance(exc, ValueError)
    assert exc.path == tmp_path / "index.json" and "not JSON" in exc.problem
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is RunsIndexError and str(again) == str(exc) and again.path == exc.path


def test_no_index_is_no_runs_but_compare_says_where_it_looked(tmp_path):
    assert read_runs_index(tmp_path) == []
    error = one_error_paragraph(invoke("compare", "--runs", tmp_path))
    assert f"no runs index at {str(tmp_path / 'index.json')!r}" in error


def test_a_run_onto_a_damaged_index_replaces_it_and_compare_works(tmp_path):
    # before: the run did all its work, then failed on the index (AttributeError for a JSON
    # list, UnicodeDecodeError for Latin-1 bytes) with a traceback and exit 1
    runs = tmp_path / "runs"
    runs.mkdir()
    index = runs / "index.json"
    index.write_bytes(b"[\xff]")
    res = invoke(
        "run", "recommender", *RECOMMENDER, "--runs", runs, "--cache", tmp_path / "c", "--no-report"
    )
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    warning = next(ln for ln in res.output.splitlines() if ln.startswith("warning:"))
    assert f"the runs index {index} is damaged" in warning and "not UTF-8" in warning
    (entry,) = json.loads(index.read_text())["runs"]
    assert entry["name"] == "recsys" and Path(entry["run_dir"]).is_dir()
    assert invoke("compare", "--runs", runs).exit_code == 0
    lines = compare_runs(runs)
    assert [(ln["run"], ln["label"]) for ln in lines][-1] == ("recsys", "reverse_bpr")


def test_an_index_listing_a_failed_or_deleted_run_leaves_it_out(tmp_path):
    runs = tmp_path / "runs"
    failed = runs / "demo" / "abc"
    failed.mkdir(parents=True)
    (failed / "status.json").write_text(json.dumps({"kind": "unlearnkit.run-status"}))
    entries = [
        {"run_dir": str(failed), "name": "demo", "id": "abc", "updated": 3},  # not a string
        {"run_dir": str(runs / "gone" / "x"), "name": "gone", "id": "x"},
    ]
    (runs / "index.json").write_text(json.dumps({"kind": "unlearnkit.runs", "runs": entries}))
    assert compare_runs(runs) == []
    error = one_error_paragraph(invoke("compare", "--runs", runs))
    assert "no finished runs in" in error
