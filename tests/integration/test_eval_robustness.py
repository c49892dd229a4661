"""A real-model evaluation finishes and stays correct, end to end on the test preset: an
oracle without a training record (a model someone else trained) still gives a strict-JSON
report, and the Reference attack never judges a model against itself."""

from __future__ import annotations

import json

import pytest

from unlearnkit.evaluation import EvalContext, evaluate, run_suite
from unlearnkit.evaluation.data import eval_data
from unlearnkit.models.adapters import CausalLMAdapter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(test_preset_cache):
    return test_preset_cache[0]


def test_the_oracle_is_not_its_own_reference(built):
    """Judging the oracle with itself as the Reference attack's reference would give AUC 0.5
    by construction: the suite skips it and says why."""
    from unlearnkit.evaluation.suites import Suite, SuiteItem

    ctx = EvalContext(CausalLMAdapter.from_pretrained(built.oracle_dir), name="oracle")
    suite = Suite(
        "ref", "", (SuiteItem("mia_reference", "attack", "reference", ("forget", "holdout")),)
    )
    out = run_suite(suite, ctx, eval_data(built.world), reference=ctx, oracle=ctx)
    assert out.results == {}
    assert "0.5 by construction" in out.skipped["mia_reference"]


def test_an_oracle_without_a_training_record_still_gives_a_report(built, tmp_path):
    """A real model's oracle has no build.json: the retraining fraction is null, the report
    says why, and the report is written (strict JSON)."""
    import shutil

    oracle = tmp_path / "someone_elses_oracle"
    shutil.copytree(built.oracle_dir, oracle)
    assert not (oracle / "build.json").exists() and not (tmp_path / "build.json").exists()
    record = {
        "wall_time_s": 4.0,
        "peak_memory_mb": 100.0,
        "steps": 10,
        "parameters_changed": 50,
        "parameters_total": 200,
    }
    rep = evaluate(
        built.target_dir,
        built.world,
        ["muse"],
        oracle=oracle,
        record=record,
        bootstrap=0,
        cache_dir=tmp_path / "cache",
        max_new_tokens=8,
    )
    e = rep.efficiency
    assert e["time_fraction_of_retraining"] is None and e["oracle_wall_time_s"] is None
    assert "build.json" in e["time_fraction_note"]
    data = json.loads(rep.save(tmp_path / "results.json").read_text())
    assert data["efficiency"]["time_fraction_of_retraining"] is None
    # the generation budget reaches every ROUGE-type metric
    assert data["results"]["muse"]["verbmem_forget"]["config"]["max_new_tokens"] == 8
