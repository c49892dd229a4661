"""A model fine-tuned elsewhere, as users bring it: a GPT-2-architecture model with the real
GPT-2 tokenizer (no BOS, no pad), fine-tuned on the real TOFU sample with TOFU's template and
saved as a plain Hugging Face directory (no unlearnkit.json), with its retain-only oracle.
``unlearnkit eval`` and ``unlearnkit run`` take it with a declared prompt format, refuse it
without one, and write NaN-free results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.data.loaders import load_tofu

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
TOFU = FIXTURES / "tofu-sample"
GPT2 = FIXTURES / "tokenizers" / "gpt2"


def _finetune(out: Path, records: list[dict], seed: int) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from unlearnkit.data.formatting import PRESETS, bind_prompt_format
    from unlearnkit.models.training import TrainConfig, TrainExample, train_causal_lm

    tok = AutoTokenizer.from_pretrained(GPT2)
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=256)
    model = GPT2LMHeadModel(cfg)
    fmt = bind_prompt_format(PRESETS["tofu"], tok)
    examples = [TrainExample(*fmt.pair(r["question"], r["answer"])) for r in records]
    train_causal_lm(
        model,
        tok,
        examples,
        TrainConfig(epochs=3, batch_size=16, lr=3e-3, seed=seed),
        progress=False,
        prompt_format=fmt,
    )
    model.save_pretrained(out)  # a foreign checkpoint: no unlearnkit.json
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def real_models(tmp_path_factory):
    """(target, oracle, root, data): ``data`` holds the first 8 records of every file of
    the real sample, as published (JSON Lines), so that evaluation takes seconds."""
    root = tmp_path_factory.mktemp("real")
    data = root / "tofu"
    data.mkdir()
    for path in sorted(TOFU.glob("*.json")):
        lines = path.read_text(encoding="utf-8").splitlines()[:8]
        (data / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    tofu = load_tofu(data, forget="forget01")
    target = _finetune(root / "target", tofu.forget + tofu.retain, seed=0)
    oracle = _finetune(root / "oracle", tofu.retain, seed=1)
    return target, oracle, root, data


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_eval_refuses_a_model_without_a_declared_prompt_format(real_models, tmp_path):
    target, _, _, data = real_models
    common = ["--data", str(data), "--forget", "forget01", "--suite", "tofu"]
    res = _invoke(["eval", "--model", str(target), *common, "-o", str(tmp_path / "r.json")])
    assert res.exit_code != 0
    assert "declares no prompt format" in res.output and "--prompt-format" in res.output
    assert not (tmp_path / "r.json").exists()


def test_eval_on_the_public_tofu_layout(real_models, tmp_path):
    target, oracle, _, data = real_models
    out = tmp_path / "results.json"
    models = ["--model", str(target), "--oracle", str(oracle)]
    common = ["--data", str(data), "--forget", "forget01", "--suite", "tofu,mia"]
    res = _invoke(
        ["eval", *models, *common, "--prompt-format", "tofu", "-o", str(out), "bootstrap=20"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())  # strict JSON: no NaN anywhere
    tofu = report["results"]["tofu"]
    fq = tofu["forget/forget_quality"]
    assert 0.0 <= fq["aggregate"] <= 1.0
    assert len(fq["values"]) == 8
    for key in ("real_authors/truth_ratio", "world_facts/truth_ratio", "model_utility"):
        assert key in tofu, sorted(tofu)
    assert report["results"]["mia"], report["skipped"]["mia"]


def test_run_with_a_real_model_oracle_and_data_and_without_an_oracle(real_models, tmp_path):
    target, oracle, root, data = real_models
    for name, with_oracle in (("real", True), ("real-no-oracle", False)):
        spec = {
            "name": name,
            "model": str(target),
            "data": str(data),
            "forget": "forget01",
            "prompt_format": "tofu",
            "suites": ["tofu"],
            "bootstrap": 0,
            "batch_size": 32,
            "methods": [{"name": "grad_ascent", "config": {"epochs": 1, "batch_size": 8}}],
        }
        if with_oracle:
            spec["oracle"] = str(oracle)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(spec))
        where = ["--runs", str(tmp_path / "runs"), "--cache", str(root / "cache")]
        res = _invoke(["run", str(path), *where, "--no-report"])
        assert res.exit_code == 0, res.output
        (results,) = (tmp_path / "runs" / name).glob("*/results.json")
        payload = json.loads(results.read_text())
        rows = {r["label"] if "label" in r else r.get("model"): r for r in payload["rows"]}
        assert any("grad_ascent" in str(k) for k in rows), list(rows)
