"""Sanity laws of the robustness audit on the test world's target and oracle.

- attacks on the target leave it knowing the facts;
- the oracle does not "recover" forget facts by relearning others beyond what the same
  relearning does to never-trained holdout people;
- a probe on the oracle reads forget people no better than holdout people, while on the
  target it reads them (the probe works).
"""

from __future__ import annotations

import copy

import pytest

from unlearnkit.audit import knowledge
from unlearnkit.audit.forms import CHOICE_FORMS, form_gaps, form_knowledge
from unlearnkit.audit.probes import attribute_probe, representation_cka
from unlearnkit.audit.quantization import quantized_copy
from unlearnkit.audit.relearning import RelearnConfig, relearn, split_records
from unlearnkit.audit.tampering import noisy_copy
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(test_preset_cache):
    built, _ = test_preset_cache
    target = CausalLMAdapter.from_pretrained(built.target_dir)
    oracle = CausalLMAdapter.from_pretrained(built.oracle_dir)
    return built.world, target, oracle


def like(adapter: CausalLMAdapter, model) -> CausalLMAdapter:
    return CausalLMAdapter(model, adapter.tokenizer, prompt_format=adapter.prompt_format)


def test_attacks_on_the_target_leave_it_knowing(models):
    world, target, _ = models
    forget = world.tofu["forget10"]
    assert knowledge(target, forget).value_acc == 1.0
    for bits in (8, 4):
        assert knowledge(like(target, quantized_copy(target.model, bits)), forget).value_acc >= 0.9
    assert knowledge(like(target, noisy_copy(target.model, 0.01)), forget).value_acc >= 0.9
    curve = relearn(
        target,
        world.tofu["retain90"][:20],
        lambda m: knowledge(m, forget).value_acc,
        RelearnConfig(steps=(1, 4)),
    )
    assert curve.steps == [0, 1, 4] and min(curve.values) >= 0.9


def test_the_oracle_recovers_no_more_than_holdout_people_under_relearning(models):
    world, _, oracle = models
    relearned, measured = split_records(world.tofu["forget10"], 0.5, seed=0)
    holdout = world.tofu["holdout10"]
    cfg = RelearnConfig(steps=(4, 16))
    on_forget = relearn(oracle, relearned, lambda m: knowledge(m, measured).value_acc, cfg)
    on_holdout = relearn(oracle, relearned, lambda m: knowledge(m, holdout).value_acc, cfg)
    gain_forget = on_forget.values[-1] - on_forget.values[0]
    gain_holdout = on_holdout.values[-1] - on_holdout.values[0]
    assert gain_forget <= gain_holdout + 0.2, (on_forget.values, on_holdout.values)
    # the relearned half itself is learnt (the attack does train)
    learnt = relearn(oracle, relearned, lambda m: knowledge(m, relearned).value_acc, cfg)
    assert learnt.values[-1] > learnt.values[0] + 0.2


def test_lora_relearning_leaves_the_audited_model_untouched(models):
    world, target, _ = models
    before = {k: v.clone() for k, v in target.model.state_dict().items()}
    curve = relearn(
        target,
        world.tofu["forget10"][:4],
        lambda m: knowledge(m, world.tofu["forget10"][4:]).value_acc,
        RelearnConfig(steps=(2,), lora=True),
    )
    assert len(curve.values) == 2
    for k, v in target.model.state_dict().items():  # the audited model is untouched
        assert (v == before[k]).all()
    again = relearn(
        target,
        world.tofu["forget10"][:4],
        lambda m: knowledge(m, world.tofu["forget10"][4:]).answer_logprob,
        RelearnConfig(steps=(2,), lora=True),
    )
    twice = relearn(
        target,
        world.tofu["forget10"][:4],
        lambda m: knowledge(m, world.tofu["forget10"][4:]).answer_logprob,
        RelearnConfig(steps=(2,), lora=True),
    )
    assert again.values == twice.values  # the adapters are seeded


def test_probe_reads_forget_people_from_the_target_not_from_the_oracle(models):
    world, target, oracle = models
    train = world.tofu["retain90"]
    tests = {"forget": world.tofu["forget10"], "holdout": world.tofu["holdout10"]}
    on_target = attribute_probe(target, train, tests)
    on_oracle = attribute_probe(oracle, train, tests)
    last = -1
    assert on_target["accuracy"]["forget"][last] >= on_target["accuracy"]["holdout"][last] + 0.3
    assert on_oracle["accuracy"]["forget"][last] <= on_oracle["accuracy"]["holdout"][last] + 0.2
    cka = representation_cka(target, oracle, world.tofu["retain90"][:40])
    assert set(cka) == {1, 2} and all(0 < v <= 1 + 1e-9 for v in cka.values())
    assert representation_cka(target, target, world.tofu["forget10"])[2] == pytest.approx(1.0)


def test_form_probes_cover_every_form_and_group(models):
    world, target, oracle = models
    table = form_knowledge(target, world.forms)
    assert set(table) == set(world.forms)
    for form, by_group in table.items():
        assert set(by_group) == {"forget", "retain", "holdout"}, form
    # the target knows its forget people in the held-out open form better than holdout people
    assert table["open"]["forget"].value_acc > table["open"]["holdout"].value_acc + 0.2
    trained = knowledge(oracle, world.tofu["forget10"]).value_acc
    gaps = form_gaps(form_knowledge(oracle, world.forms, only=["open", *CHOICE_FORMS]), trained)
    assert set(gaps) == {"open", *CHOICE_FORMS}
    with pytest.raises(KeyError, match="unknown forms"):
        form_knowledge(target, world.forms, only=["haiku"])


def test_audit_model_reports_every_attack_in_a_reduced_form(models):
    from unlearnkit.audit.api import AuditConfig, audit_model, summary_row
    from unlearnkit.core.errors import ConfigError

    world, target, oracle = models
    cfg = AuditConfig(
        bits=(4,), noise=(0.01,), relearn_steps=(2,), lora_steps=(1,), forms=("open", "mcq")
    )
    report = audit_model(
        target, world.tofu, forms=world.forms, oracle=oracle, target_knowledge=1.0, config=cfg
    )
    assert report["knowledge"]["forget"]["value_acc"] == 1.0
    assert set(report["quantization"]) == {"4"} and set(report["noise"]) == {"0.01"}
    assert report["relearn_forget"]["steps"] == [0, 2]
    assert report["relearn_related"]["steps"] == [0, 2]
    assert report["lora_recovery"]["steps"] == [0, 1]
    assert set(report["forms"]) == {"open", "mcq"}
    assert report["relearn_forget_steps_to_half"] == 0  # the target has no gap to close
    assert set(report["cka_to_oracle"]) == {"forget", "retain"}
    assert "traces" not in report  # no target given
    row = summary_row(report)
    assert row["forget"] == 1.0 and {"int4", "relearn@2", "lora@1", "probe forget"} <= set(row)
    with pytest.raises(ConfigError, match="bit widths"):
        AuditConfig(bits=(1,))
    with pytest.raises(KeyError, match="no 'forget99' split"):
        audit_model(target, world.tofu, config=AuditConfig(forget="forget99"))


def test_the_oracle_moved_its_traces_by_definition(models):
    from unlearnkit.audit.api import AuditConfig, audit_model

    world, target, oracle = models
    off = {"bits": (), "noise": (), "relearn_steps": (), "lora_steps": (), "probe": False}
    report = audit_model(
        oracle, world.tofu, oracle=oracle, target=target, config=AuditConfig(**off, traces_k=5)
    )
    assert report["traces"]["moved"] == pytest.approx(1.0)
    assert len(report["traces"]["vectors"]) == 5
    # switched-off attacks are left out
    assert report["quantization"] == {} and report["noise"] == {}
    assert {"relearn_forget", "lora_recovery", "probe", "cka_to_oracle"}.isdisjoint(report)


def test_audit_command_writes_a_report_and_the_table(test_preset_cache, tmp_path):
    import json

    from typer.testing import CliRunner

    from unlearnkit.cli import app

    built, _ = test_preset_cache
    out = tmp_path / "audit.json"
    common = [
        "audit",
        "--model",
        str(built.oracle_dir),
        "--data",
        str(built.world_dir),
        "--out",
        str(out),
    ]
    quick = ["relearn_steps=[1]", "lora_steps=[1]", "bits=[8]", "noise=[0.01]", "forms=[open]"]
    result = CliRunner().invoke(
        app,
        [*common, "--target", str(built.target_dir), "--oracle", str(built.oracle_dir), *quick],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "forgetting left" in result.output
    report = json.loads(out.read_text())
    assert report["kind"] == "unlearnkit.audit"
    assert set(report["reports"]) == {"model", "target", "oracle"}
    model = report["reports"]["model"]
    assert set(model["forms"]) == {"open"} and model["relearn_forget"]["steps"] == [0, 1]
    assert model["traces"]["moved"] == pytest.approx(1.0)  # the model is the oracle
    bad = CliRunner().invoke(app, [*common, "bits=[1]"])
    assert bad.exit_code == 2 and "bit widths" in bad.output


def test_sequential_requests_partition_the_forget_people_and_track_each_step(models):
    import math

    from unlearnkit.audit.sequential import sequential_unlearning, split_requests
    from unlearnkit.core.errors import UnlearnkitError
    from unlearnkit.evaluation.api import evaluate

    world, target, oracle = models
    forget = world.tofu["forget10"]
    groups = split_requests(forget, 2, seed=0)
    people = [{r["person_id"] for r in g} for g in groups]
    assert people[0].isdisjoint(people[1]) and sum(len(g) for g in groups) == len(forget)
    assert split_requests(forget, 2, seed=0) == groups
    with pytest.raises(ValueError, match="number of forget people"):
        split_requests(forget, 50)
    model = like(target, copy.deepcopy(target.model))
    out = sequential_unlearning(
        model,
        forget,
        world.tofu["retain90"],
        "grad_diff",
        requests=2,
        config={"max_steps": 3, "batch_size": 4, "lr": 5e-3},
        data=world,
        oracle=oracle,
    )
    first, last = out["history"]
    assert [h["request"] for h in out["history"]] == [1, 2]
    assert first["requested"] < 1.0 and first["pending"] > first["requested"]
    assert math.isnan(last["pending"]) and last["retain"] > 0.5
    assert knowledge(target, forget).value_acc == 1.0  # the audited target is untouched
    # forget quality and utility after each request; after the last one, exactly the
    # one-shot judgement of the final model against the oracle of the whole forget set
    assert all(
        0 <= h["forget_quality"] <= 1 and 0 <= h["model_utility"] <= 1 for h in (first, last)
    )
    once = evaluate(model, world, suites=("tofu",), oracle=oracle, bootstrap=0).results["tofu"]
    assert last["forget_quality"] == pytest.approx(once["forget/forget_quality"].aggregate)
    assert last["model_utility"] == pytest.approx(once["model_utility"].aggregate)
    with pytest.raises(UnlearnkitError, match="same forget request"):
        sequential_unlearning(
            like(target, copy.deepcopy(target.model)),
            world.tofu["forget05"],
            world.tofu["retain95"],
            "grad_diff",
            requests=1,
            data=world,
            oracle=oracle,
        )
