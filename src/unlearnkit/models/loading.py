"""Loading and saving causal LMs as standard Hugging Face model directories.

Any local HF causal-LM directory loads (safetensors preferred); a hub id loads when the
machine is online. ``trust_remote_code`` stays off unless asked for. Our own models carry an
extra ``unlearnkit.json`` with their prompt format; plain transformers ignores it.

A model that declares no prompt format (a checkpoint fine-tuned elsewhere) is refused unless
the caller names one: with the wrong prompt every number is silently wrong.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from unlearnkit.core.errors import UnlearnkitError, is_hub_id
from unlearnkit.core.io import atomic_dir, atomic_write_json
from unlearnkit.data.formatting import (
    PRESETS,
    BoundPromptFormat,
    PromptFormat,
    PromptFormatError,
    bind_prompt_format,
    resolve_prompt_format,
)

META_FILE = "unlearnkit.json"
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


class ModelLoadError(UnlearnkitError):
    """A model directory or hub id cannot be loaded."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for, but CUDA is not available here")
    return torch.device(device)


def load_causal_lm(
    source: str | Path,
    *,
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "float32",
    device: str = "cpu",
    trust_remote_code: bool = False,
    revision: str | None = None,
    local_files_only: bool | None = None,
    prompt_format: PromptFormat | BoundPromptFormat | Mapping[str, Any] | str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, PromptFormat]:
    """Load ``(model, tokenizer, prompt_format)`` from a local directory or a hub id.

    dtype: weights dtype ("auto" keeps the checkpoint's). device: "cpu", "cuda", "cuda:1" or
    "auto". A local path must exist and hold a ``config.json``; anything that is not a local
    path but looks like ``org/name`` is treated as a hub id (needs network).
    prompt_format: how the model was prompted in training (a preset name such as ``tofu``
    or ``llama-3-instruct``, a mapping of fields, a YAML/JSON file or a
    :class:`PromptFormat`). Defaults to the one stored in ``unlearnkit.json``; a given one
    that differs from the stored one wins, with a warning. A model with neither is refused
    (:class:`PromptFormatError` saying how to declare one).
    """
    if dtype != "auto" and dtype not in DTYPES:
        raise ModelLoadError(f"dtype {dtype!r} is not supported; use auto, {', '.join(DTYPES)}")
    path = Path(source).expanduser()
    is_local = path.exists()
    if not is_local:
        text = str(source)
        looks_local = text.startswith((".", "/", "~")) or text.count("/") != 1
        if looks_local or not is_hub_id(text):
            raise ModelLoadError(
                f"model directory {text!r} does not exist (and it is not a hub id of the form "
                "org/name); check the path"
            )
    elif not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{path} is not a Hugging Face model directory: it has no config.json "
            "(expected the output of save_pretrained)"
        )
    target = resolve_device(device)
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code, "revision": revision}
    if local_files_only is not None:
        common["local_files_only"] = local_files_only
    ref = str(path) if is_local else str(source)
    tokenizer = AutoTokenizer.from_pretrained(ref, **common)
    model = AutoModelForCausalLM.from_pretrained(
        ref,
        dtype="auto" if dtype == "auto" else DTYPES[dtype],
        use_safetensors=True if is_local and any(path.glob("*.safetensors")) else None,
        **common,
    )
    model.to(target)
    model.eval()
    fmt = choose_prompt_format(source, stored_prompt_format(path), prompt_format)
    bind_prompt_format(fmt, tokenizer)  # fails now, not mid-run, if it does not fit
    return model, tokenizer, fmt


def stored_prompt_format(path: str | Path) -> PromptFormat | None:
    """The prompt format stored with a model directory (``unlearnkit.json``), if any."""
    meta_path = Path(path).expanduser() / META_FILE
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if "prompt_format" not in meta:
        return None
    return PromptFormat.from_dict(meta["prompt_format"])


def choose_prompt_format(
    source: str | Path,
    stored: PromptFormat | None,
    given: PromptFormat | BoundPromptFormat | Mapping[str, Any] | str | None,
) -> PromptFormat:
    """The prompt format to use for the model at ``source``: ``given`` (resolved) over
    ``stored``; neither is an error that says how to declare one."""
    chosen = resolve_prompt_format(given)
    if chosen is not None:
        if stored is not None and stored != chosen:
            warnings.warn(
                f"{source}: using prompt format {chosen.describe()!r} instead of the one stored "
                f"with the model ({stored.describe()!r})",
                stacklevel=3,
            )
        return chosen
    if stored is not None:
        return stored
    raise PromptFormatError(
        f"{source} declares no prompt format, and the numbers depend on prompting the model "
        "exactly as it was trained. Name it: --prompt-format PRESET on the command line, "
        "prompt_format: PRESET in a run spec, or prompt_format=... in Python. Presets: "
        f"{', '.join(sorted(PRESETS))} (e.g. 'tofu' for TOFU's 'Question: ...\\nAnswer: ' "
        "models, 'chat' for the tokenizer's own chat template); or a mapping such as "
        "{template: 'Q: {question}\\nA:', answer_prefix: ' '}. 'unlearnkit' is this "
        "toolkit's own default ('Question: {question}\\nAnswer:' and a space before the answer)."
    )


def save_causal_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    path: str | Path,
    *,
    prompt_format: PromptFormat | BoundPromptFormat | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a standard HF directory (safetensors) atomically, plus ``unlearnkit.json``."""
    path = Path(path)
    with atomic_dir(path, overwrite=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        # every model the toolkit writes carries its prompt format (ours by default)
        meta: dict[str, Any] = {
            "family": "causal_lm",
            "prompt_format": (prompt_format or PromptFormat()).to_dict(),
        }
        meta.update(extra or {})
        atomic_write_json(tmp / META_FILE, meta)
    return path
