"""Loading and saving causal LMs as standard Hugging Face model directories.

Any local HF causal-LM directory loads (safetensors preferred); a hub id loads when the
machine is online. ``trust_remote_code`` stays off unless asked for. Our own models carry an
extra ``unlearnkit.json`` with their prompt format; plain transformers ignores it.
"""

from __future__ import annotations

import json
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
from unlearnkit.data.formatting import PromptFormat

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
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, PromptFormat]:
    """Load ``(model, tokenizer, prompt_format)`` from a local directory or a hub id.

    dtype: weights dtype ("auto" keeps the checkpoint's). device: "cpu", "cuda", "cuda:1" or
    "auto". A local path must exist and hold a ``config.json``; anything that is not a local
    path but looks like ``org/name`` is treated as a hub id (needs network).
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
    fmt = PromptFormat()
    meta_path = path / META_FILE
    if is_local and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if "prompt_format" in meta:
            fmt = PromptFormat.from_dict(meta["prompt_format"])
    return model, tokenizer, fmt


def save_causal_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    path: str | Path,
    *,
    prompt_format: PromptFormat | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a standard HF directory (safetensors) atomically, plus ``unlearnkit.json``."""
    path = Path(path)
    with atomic_dir(path, overwrite=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        meta: dict[str, Any] = {"family": "causal_lm"}
        if prompt_format is not None:
            meta["prompt_format"] = prompt_format.to_dict()
        meta.update(extra or {})
        atomic_write_json(tmp / META_FILE, meta)
    return path
