"""The evaluation core end to end on the test preset: suites, sanity laws, report, CLI."""

from __future__ import annotations

import json
import math

import pytest

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.evaluation import EvalContext, EvalReport, Split, evaluate, run_suite
from unlearnkit.evaluation.data import eval_data
from unlearnkit.evaluation.mia import MIA_ATTACKS
from unlearnkit.models.adapters import CausalLMAdapter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(test_preset_cache):
    return test_preset_cache[0]


@pytest.fixture(scope="module")
def report(built, tmp_path_factory):
    """The target against the oracle, every suite (a small bootstrap keeps it quick)."""
    cache = tmp_path_factory.mktemp("evalcache")
    return evaluate(
        built.target_dir, built.world, oracle=built.oracle_dir, bootstrap=200, cache_dir=cache
    )


def test_every_suite_reports_its_results_with_intervals(report):
    assert set(report.results) == {"tofu", "muse", "mia"}
    tofu = report.results["tofu"]
    for key in (
        "forget/probability",
        "forget/rouge_l",
        "forget/truth_ratio",
        "forget/forget_quality",
        "forget/exact_memorisation",
        "forget/extraction_strength",
        "retain/probability",
        "retain/truth_ratio",
        "world_facts/probability",
        "model_utility",
    ):
        assert key in tofu, key
    # the world has no real-authors set: skipped with the reason, not silently dropped
    assert report.skipped["tofu"]["real_authors/probability"] == (
        "the data has no real_authors split"
    )
    assert set(report.results["muse"]) == {
        "verbmem_forget",
        "verbmem_forget/extraction_strength",
        "knowmem_forget",
        "knowmem_retain",
        "privleak_auc",
        "privleak",
    }
    assert set(report.results["mia"]) == {f"mia_{a}" for a in MIA_ATTACKS.names()}
    for suite in report.results.values():
        for key, r in suite.items():
            assert r.ci is not None, key
            low, high = r.ci
            assert low <= r.aggregate + 1e-9 and r.aggregate - 1e-9 <= high, key


def test_per_example_values_are_kept(report, built):
    forget = built.world.tofu["forget10_perturbed"]
    r = report.results["tofu"]["forget/probability"]
    assert len(r.values) == len(forget) and len(set(r.ids)) == len(forget)
    mia = report.results["mia"]["mia_loss"]
    assert mia.extra["n_members"] == len(forget)
    assert len(mia.values) == len(forget) + len(built.world.tofu["holdout10"])


def test_truth_ratios_lie_in_their_ranges(report):
    tofu = report.results["tofu"]
    for key in ("forget/truth_ratio", "retain/truth_ratio", "world_facts/truth_ratio"):
        vals = [v for v in tofu[key].values if not math.isnan(v)]
        assert vals and all(0.0 <= v <= 1.0 for v in vals), key
        assert all(r > 0 for r in tofu[key].extra["ratios"])
    for key in ("forget/probability", "forget/rouge_l", "forget/extraction_strength"):
        assert all(0.0 <= v <= 1.0 for v in tofu[key].values), key
    assert 0.0 <= tofu["forget/forget_quality"].aggregate <= 1.0


def test_the_trained_target_is_far_from_the_oracle(report):
    tofu = report.results["tofu"]
    # trained on the forget set: remembers it, and its truth ratios differ from the oracle's
    assert tofu["forget/exact_memorisation"].aggregate > 0.95
    assert tofu["forget/forget_quality"].aggregate < 0.05
    assert report.results["mia"]["mia_loss"].aggregate >= 0.9
    # PrivLeak in MUSE's sign: a target that still leaks membership scores below 0
    assert report.results["muse"]["privleak"].aggregate < 0


def test_the_reference_attack_is_never_judged_against_itself(report):
    """The reference model defaults to the oracle: the target is judged against it, but the
    oracle's own Reference AUC (0.5 by construction) is not computed, and the report says why."""
    ref = report.results["mia"]["mia_reference"]
    assert "auc_oracle" not in ref.extra and "privleak" not in ref.extra
    assert "0.5 by construction" in ref.extra["oracle_skipped"]
    assert "auc_oracle" in report.results["mia"]["mia_loss"].extra


def test_the_oracle_against_itself(built, tmp_path):
    """Sanity law: forget quality 1.0 and PrivLeak 0 for the oracle judged by itself."""
    rep = evaluate(
        built.oracle_dir,
        built.world,
        ["tofu", "muse"],
        oracle=built.oracle_dir,
        bootstrap=0,
        cache_dir=tmp_path,
    )
    assert rep.results["tofu"]["forget/forget_quality"].aggregate == 1.0
    assert rep.results["muse"]["privleak"].aggregate == 0.0
    # bootstrap=0 reaches the composite too: no interval on model utility
    assert rep.results["tofu"]["model_utility"].ci is None


def test_membership_inference_on_two_halves_of_the_holdout_is_chance(built):
    """Sanity law: members and non-members both never trained ⇒ AUC ≈ 0.5.

    The holdout count is an evaluation-only setting: a world with 60 holdout people trains
    exactly what the test target trained on, so its holdout people are all unseen."""
    from unlearnkit.data.world import generate_world

    world = generate_world(built.spec.world.replace(n_holdout_people=60))
    assert world.training_items() == built.world.training_items()
    holdout = [r for r in world.forms["open"] if r["group"] == "holdout"]
    people = sorted({r["person_id"] for r in holdout})
    first = set(people[: len(people) // 2])
    a = Split("holdout_a", [r for r in holdout if r["person_id"] in first])
    b = Split("holdout_b", [r for r in holdout if r["person_id"] not in first])
    assert len(a.records) >= 100 and len(b.records) >= 100
    ctx = EvalContext(CausalLMAdapter.from_pretrained(built.target_dir, batch_size=64))
    for name in ("loss", "zlib", "min_k", "min_k_pp"):
        res = MIA_ATTACKS.get(name)({"bootstrap": 0}).evaluate(ctx, a, b)
        assert abs(res.aggregate - 0.5) <= 0.1, (name, res.aggregate)


def test_each_split_costs_one_teacher_forced_pass_and_results_are_reused(built):
    ctx = EvalContext(CausalLMAdapter.from_pretrained(built.target_dir, batch_size=512))
    data = eval_data(built.world)
    calls: list[int] = []
    original = ctx.adapter.score

    def spy(prompts, conts, **kw):
        calls.append(len(prompts))
        return original(prompts, conts, **kw)

    ctx.adapter.score = spy  # type: ignore[method-assign]
    run_suite("mia", ctx, data, configure=lambda item: {"bootstrap": 0})
    # forget and holdout: one batched pass each, shared by LOSS, ZLib, Min-K% and Min-K%++
    assert len(calls) == 2
    scored = ctx.counts.scored
    run_suite("mia", ctx, data, configure=lambda item: {"bootstrap": 0})
    assert len(calls) == 2 and ctx.counts.scored == scored and ctx.counts.score_hits > 0


def test_the_oracle_reference_values_are_cached_on_disk(built, tmp_path):
    first = evaluate(
        built.target_dir,
        built.world,
        ["tofu"],
        oracle=built.oracle_dir,
        bootstrap=0,
        cache_dir=tmp_path,
    )
    assert first.passes["oracle"]["scored"] > 0
    again = evaluate(
        built.target_dir,
        built.world,
        ["tofu"],
        oracle=built.oracle_dir,
        bootstrap=0,
        cache_dir=tmp_path,
    )
    assert again.passes["oracle"]["scored"] == 0  # the oracle was not run again
    fq = "forget/forget_quality"
    assert again.results["tofu"][fq].aggregate == first.results["tofu"][fq].aggregate


def test_the_report_round_trips_and_checks_its_version(report, tmp_path):
    path = report.save(tmp_path / "eval.json")
    data = json.loads(path.read_text())
    assert data["kind"] == "unlearnkit.eval" and data["version"] == 1
    assert data["model"]["fingerprint"] and data["oracle"]["fingerprint"]
    assert {"unlearnkit", "torch", "transformers", "python"} <= set(data["versions"])
    assert data["config"]["suites"] == ["tofu", "muse", "mia"]
    back = EvalReport.load(path)
    assert back.summary().keys() == report.summary().keys()
    for k, v in report.summary().items():
        assert back.summary()[k] == pytest.approx(v, nan_ok=True)
    data["version"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(UnlearnkitError, match="version 99"):
        EvalReport.load(tmp_path / "bad.json")


def test_efficiency_is_carried_from_the_record(built, tmp_path):
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
        oracle=built.oracle_dir,
        record=record,
        bootstrap=0,
        cache_dir=tmp_path,
    )
    e = rep.efficiency
    oracle_s = built.records["oracle"]["train_record"]["wall_time_s"]
    assert e["oracle_wall_time_s"] == pytest.approx(oracle_s)
    assert e["time_fraction_of_retraining"] == pytest.approx(4.0 / oracle_s)
    assert e["fraction_changed"] == 0.25
    assert e["time_fraction_note"] is None


def test_bad_inputs_fail_clearly(built):
    with pytest.raises(UnlearnkitError, match="unknown suite 'tofo'"):
        evaluate(built.target_dir, built.world, ["tofo"])
    with pytest.raises(UnlearnkitError, match="does not exist"):
        evaluate(built.target_dir, built.world_dir / "nope")
    with pytest.raises(UnlearnkitError, match="no 'forget07'"):
        evaluate(built.target_dir, built.world, forget="forget07")


def test_without_an_oracle_the_oracle_metrics_are_skipped_with_the_reason(built):
    rep = evaluate(built.target_dir, built.world, ["tofu", "mia"], bootstrap=0)
    assert "forget/forget_quality" in rep.skipped["tofu"]
    assert "oracle" in rep.skipped["tofu"]["forget/forget_quality"]
    assert "reference" in rep.skipped["mia"]["mia_reference"]
    assert "auc_oracle" not in rep.results["mia"]["mia_loss"].extra


def test_a_written_world_reads_the_same_as_the_world_in_memory(built):
    from_dir, in_memory = eval_data(built.world_dir), eval_data(built.world)
    for role in ("forget", "retain", "holdout", "world_facts", "neighbours", "verbmem_forget"):
        a, b = from_dir.split(role), in_memory.split(role)
        assert a is not None and b is not None, role
        assert [dict(r) for r in a.records] == [dict(r) for r in b.records], role
    assert from_dir.split("real_authors") is None
