"""The build pipeline on the test preset: world -> tokenizer -> target + oracle, cached."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import ConfigError, UnknownNameError
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.runner.build import build, build_spec, training_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(test_preset_cache):
    return test_preset_cache


def test_everything_is_built_then_reused(built, tmp_path):
    first, cache = built
    assert all(first.built.values())
    # (the cache's own .locks folder aside)
    assert sorted(p.name for p in cache.root.iterdir() if p.name != ".locks") == [
        "oracle",
        "target",
        "tokenizer",
        "world",
    ]
    again = build(build_spec("test"), cache=cache, progress=False, log=lambda m: None)
    assert not any(again.built.values())
    assert (again.target_dir, again.oracle_dir) == (first.target_dir, first.oracle_dir)


def test_changing_training_rebuilds_only_the_models(built):
    _, cache = built
    spec = build_spec("test", ["train.epochs=2"])
    b = build(spec, cache=cache, progress=False, log=lambda m: None)
    assert b.built == {"world": False, "tokenizer": False, "target": True, "oracle": True}


def test_saved_models_load_with_plain_transformers(built):
    b, _ = built
    for path in (b.target_dir, b.oracle_dir):
        model = AutoModelForCausalLM.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
        assert model.config.model_type == "llama"
        assert any(p.suffix == ".safetensors" for p in path.iterdir())
        ids = tok("Question: Where was he born?\nAnswer:", return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=3, do_sample=False)
        assert out.shape[1] == ids["input_ids"].shape[1] + 3 or tok.eos_token_id in out[0]


def test_oracle_never_saw_the_forget_people(built):
    b, _ = built
    forget_ids = set(b.world.split_people["forget10"])
    items = b.world.training_items(exclude="forget10")
    assert forget_ids and not forget_ids & {i["person_id"] for i in items}
    target_rec = b.records["target"]["train_record"]
    oracle_rec = b.records["oracle"]["train_record"]
    assert target_rec["examples"] == len(b.world.training_items())
    assert oracle_rec["examples"] == len(items) < target_rec["examples"]
    assert b.records["oracle"]["exclude"] == "forget10"


def test_target_memorises_and_oracle_does_not(built):
    b, _ = built
    target = CausalLMAdapter.from_pretrained(b.target_dir)
    oracle = CausalLMAdapter.from_pretrained(b.oracle_dir)
    assert target.fingerprint() != oracle.fingerprint()
    forget = b.world.tofu["forget10_perturbed"]
    fmt = target.prompt_format

    def value_hits(adapter):
        gens = adapter.generate([fmt.prompt(r["question"]) for r in forget], max_new_tokens=24)
        return sum(r["value"] in g for r, g in zip(forget, gens, strict=True)) / len(forget)

    assert value_hits(target) >= 0.9
    assert value_hits(oracle) <= 0.5


def test_same_spec_gives_identical_weights(built, tmp_path):
    b, _ = built
    again = build(build_spec("test"), cache=Cache(tmp_path), progress=False, log=lambda m: None)
    a = CausalLMAdapter.from_pretrained(b.target_dir).fingerprint()
    assert CausalLMAdapter.from_pretrained(again.target_dir).fingerprint() == a


def test_training_examples_use_the_prompt_format(built):
    b, _ = built
    fmt = b.spec.prompt_format
    ex = training_examples(b.world, fmt, None)
    qa = next(e for e in ex if e.prompt)
    assert qa.prompt.startswith("Question: ") and qa.completion.startswith(" ")
    bio = next(e for e in ex if not e.prompt)
    assert bio.completion[0] != " "


def test_build_log_is_written(built):
    b, _ = built
    lines = (b.target_dir.parent / "train_log.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert last["step"] == b.records["target"]["train_record"]["steps"]
    assert last["loss"] < first["loss"]


def test_bad_specs_fail_clearly():
    with pytest.raises(UnknownNameError, match="Did you mean 'demo'"):
        build_spec("dmeo")
    with pytest.raises(ConfigError, match=r"TrainConfig\.lr = -1\.0 is invalid"):
        build_spec("test", ["train.lr=-1"])
    with pytest.raises(ConfigError, match="forget"):
        build_spec("test", ["forget=forget20"])
    with pytest.raises(ConfigError, match="no such field"):
        build_spec("test", ["train.epoch=3"])


def test_side_by_side_training_gives_the_same_weights_as_one_by_one(tmp_path):
    """Target and oracle train in two worker processes when both are missing; each pins
    spec.threads, so the weights are bit-identical to training them one after the other."""
    from safetensors.torch import load_file

    spec = build_spec("test", ["train.epochs=2"])
    threads = torch.get_num_threads()
    quiet = {"progress": False, "log": lambda m: None}
    one = build(spec, cache=Cache(tmp_path / "one"), workers=1, **quiet)
    two = build(spec, cache=Cache(tmp_path / "two"), workers=2, **quiet)
    assert torch.get_num_threads() == threads  # pinned while training, restored after
    for a, b in ((one.target_dir, two.target_dir), (one.oracle_dir, two.oracle_dir)):
        wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
        assert wa.keys() == wb.keys()
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_evaluation_only_world_settings_reuse_the_models(built):
    _, cache = built
    b = build(
        build_spec("test", ["world.n_perturbed=6", "world.many_shot_k=3"]),
        cache=cache,
        progress=False,
        log=lambda m: None,
    )
    assert b.built == {"world": True, "tokenizer": False, "target": False, "oracle": False}


def test_model_keys_hold_what_the_models_are_made_of(built):
    from unlearnkit.runner.build import _keys

    b, _ = built
    keys = _keys(b.spec, b.world)
    assert keys["target"]["items"] != keys["oracle"]["items"]
    assert {"device", "torch", "transformers", "texts"} <= set(keys["target"])
