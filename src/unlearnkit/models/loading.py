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


#: packages transformers may need to read a tokenizer, by the name its errors use
TOKENIZER_BACKENDS = {
    "sentencepiece": "sentencepiece",
    "tiktoken": "tiktoken",
    "protobuf": "protobuf",
    "mistral_common": "mistral-common",
}


def _backend_available(name: str) -> bool:
    """Whether transformers sees ``name`` installed (its own check where it has one)."""
    import importlib.util

    from transformers.utils import import_utils

    entry = getattr(import_utils, "BACKENDS_MAPPING", {}).get(name)
    if entry is not None:
        return bool(entry[0]())
    module = "google.protobuf" if name == "protobuf" else name
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load_tokenizer(
    ref: str, directory: Path | None, common: dict[str, Any]
) -> PreTrainedTokenizerBase:
    """``AutoTokenizer.from_pretrained``, with a missing tokenizer backend reported as such:
    a tokenizer given only as a SentencePiece ``tokenizer.model`` needs ``sentencepiece``
    (without it transformers falls back to tiktoken and fails with an error about tiktoken)."""
    try:
        return AutoTokenizer.from_pretrained(ref, **common)
    except (ImportError, ValueError) as exc:
        spm = []
        if directory is not None and not (directory / "tokenizer.json").is_file():
            spm = sorted(p.name for p in directory.glob("*.model"))
        if spm:  # read with sentencepiece's protobuf schema; else transformers tries tiktoken
            missing = [n for n in ("sentencepiece", "protobuf") if not _backend_available(n)]
            what = f"its tokenizer is a SentencePiece model ({', '.join(spm)}, no tokenizer.json)"
        else:
            missing = [
                pip
                for name, pip in TOKENIZER_BACKENDS.items()
                if name in str(exc) and not _backend_available(name)
            ]
            what = "reading its tokenizer needs a package that is not installed"
        if not missing:
            raise
        raise ModelLoadError(
            f"cannot load the tokenizer of {ref}: {what}. Install "
            f"{' and '.join(missing)}: pip install {' '.join(missing)}"
        ) from exc


def load_causal_lm(
    source: str | Path,
    *,
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "float32",
    device: str = "cpu",
    device_map: str | dict[str, Any] | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    local_files_only: bool | None = None,
    prompt_format: PromptFormat | BoundPromptFormat | Mapping[str, Any] | str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, PromptFormat]:
    """Load ``(model, tokenizer, prompt_format)`` from a local directory or a hub id.

    dtype: weights dtype ("auto" keeps the checkpoint's). device: "cpu", "cuda", "cuda:1" or
    "auto". device_map: instead of ``device``, accelerate's placement of a model too large
    for one device ("auto", "balanced", "sequential", or a module -> device mapping),
    passed to ``from_pretrained``. A local path must exist and hold a ``config.json``;
    anything that is not a local path but looks like ``org/name`` is treated as a hub id
    (needs network).
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
    if device_map is not None and device != "cpu":
        raise ModelLoadError(
            f"device={device!r} and device_map={device_map!r} both given: device_map places "
            "the model itself; leave device at its default"
        )
    target = resolve_device(device)
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code, "revision": revision}
    if local_files_only is not None:
        common["local_files_only"] = local_files_only
    ref = str(path) if is_local else str(source)
    tokenizer = _load_tokenizer(ref, path if is_local else None, common)
    placement = {"device_map": device_map} if device_map is not None else {}
    model = AutoModelForCausalLM.from_pretrained(
        ref,
        dtype="auto" if dtype == "auto" else DTYPES[dtype],
        use_safetensors=True if is_local and any(path.glob("*.safetensors")) else None,
        **placement,
        **common,
    )
    if device_map is None:
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
        if stored is not None and not stored.same_as(chosen):
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
