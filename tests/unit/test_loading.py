"""Loading local Hugging Face causal-LM directories: options and clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from unlearnkit.data.formatting import PRESETS, PromptFormat, PromptFormatError
from unlearnkit.models.loading import META_FILE, ModelLoadError, load_causal_lm, save_causal_lm


def test_round_trip_keeps_weights_and_prompt_format(tiny_lm, tmp_path):
    fmt = PromptFormat(template="Q: {question}\nA:", stop=("\n", "Q:"))
    path = save_causal_lm(tiny_lm.model, tiny_lm.tokenizer, tmp_path / "m", prompt_format=fmt)
    assert (path / "model.safetensors").is_file()
    assert json.loads((path / META_FILE).read_text())["prompt_format"]["template"] == fmt.template
    model, tok, loaded_fmt = load_causal_lm(path)
    assert loaded_fmt == fmt
    assert tok.eos_token == tiny_lm.tokenizer.eos_token
    for (n1, p1), (n2, p2) in zip(
        tiny_lm.model.state_dict().items(), model.state_dict().items(), strict=True
    ):
        assert n1 == n2 and torch.equal(p1, p2)
    assert not model.training


def test_dtype_option(tiny_lm):
    model, _, _ = load_causal_lm(tiny_lm.path, dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ModelLoadError, match="dtype 'int3' is not supported"):
        load_causal_lm(tiny_lm.path, dtype="int3")


def test_a_model_without_a_declared_prompt_format_is_refused(tiny_lm, tmp_path):
    tiny_lm.model.save_pretrained(tmp_path / "plain")
    tiny_lm.tokenizer.save_pretrained(tmp_path / "plain")
    with pytest.raises(PromptFormatError, match="declares no prompt format") as err:
        load_causal_lm(tmp_path / "plain")
    assert "--prompt-format" in str(err.value) and "tofu" in str(err.value)
    _, _, fmt = load_causal_lm(tmp_path / "plain", prompt_format="unlearnkit")
    assert fmt == PRESETS["unlearnkit"]
    _, _, fmt = load_causal_lm(tmp_path / "plain", prompt_format={"preset": "tofu", "stop": ["\n"]})
    assert fmt.template == "Question: {question}\nAnswer: " and fmt.stop == ("\n",)


def test_a_given_prompt_format_overrides_the_stored_one_with_a_warning(tiny_lm):
    with pytest.warns(UserWarning, match="instead of the one stored"):
        _, _, fmt = load_causal_lm(tiny_lm.path, prompt_format="tofu")
    assert fmt.name == "tofu"


def test_models_the_toolkit_writes_always_carry_their_prompt_format(tiny_lm):
    meta = json.loads((tiny_lm.path / META_FILE).read_text())
    assert PromptFormat.from_dict(meta["prompt_format"]) == PromptFormat()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/no/such/model", "does not exist"),
        ("./relative/missing", "does not exist"),
        ("not a hub id", "does not exist"),
        ("a/b/c", "does not exist"),
    ],
)
def test_missing_models_fail_clearly(source, message):
    with pytest.raises(ModelLoadError, match=message):
        load_causal_lm(source)


def test_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_causal_lm(tmp_path)


def test_cuda_request_without_cuda(tiny_lm):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        load_causal_lm(tiny_lm.path, device="cuda")


def test_hub_ids_go_to_transformers_with_remote_code_off(monkeypatch):
    calls = []

    class Stop(Exception):
        pass

    def fake(ref, **kwargs):
        calls.append((ref, kwargs))
        raise Stop

    monkeypatch.setattr("unlearnkit.models.loading.AutoTokenizer.from_pretrained", fake)
    with pytest.raises(Stop):
        load_causal_lm("some-org/some-model", revision="v1")
    ref, kwargs = calls[0]
    assert ref == "some-org/some-model"
    assert kwargs["trust_remote_code"] is False and kwargs["revision"] == "v1"


def test_naming_the_stored_format_by_its_preset_gives_no_warning(tiny_lm):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, fmt = load_causal_lm(tiny_lm.path, prompt_format="unlearnkit")
    assert fmt.same_as(PromptFormat())
