"""Loading and saving causal LMs as standard Hugging Face model directories.

Any local HF causal-LM directory loads (safetensors preferred); a hub id loads when the
machine is online. ``trust_remote_code`` stays off unless asked for. Our own models carry an
extra ``unlearnkit.json`` with their prompt format; plain transformers ignores it.

A damaged local directory is named before transformers reads it (:func:`check_model_files`:
a JSON file that does not parse, no weights, a safetensors file cut short), and a tokenizer
with more tokens than the model's embedding table is refused (:func:`check_vocabulary`).

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
from safetensors import SafetensorError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from unlearnkit.core.errors import UnlearnkitError, is_hub_id, utf8_problem
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


#: what to do about a damaged model directory (appended to load errors)
_REPAIR = (
    "Re-save or re-download the model; if the folder is an unlearnkit cache entry "
    "(under the --cache folder), delete that entry and rerun to rebuild it"
)


def check_model_files(path: Path) -> None:
    """Check a local model directory before transformers reads it, so that a damaged file is
    named: every top-level JSON file (config, tokenizer, unlearnkit.json) must parse, there
    must be weights, and every ``*.safetensors`` file must be as long as its header says (a
    truncated copy, download or write on a full disk is not)."""
    for file in sorted(path.glob("*.json")):
        data = file.read_bytes()
        try:
            json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise ModelLoadError(
                f"{file} is damaged: {utf8_problem(exc, data)}. {_REPAIR}."
            ) from None
        except json.JSONDecodeError as exc:
            raise ModelLoadError(
                f"{file} is damaged: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                f"{exc.colno}). {_REPAIR}."
            ) from None
    weights = sorted(path.glob("*.safetensors"))
    if not weights and not any(path.glob("*.bin")) and not any(path.glob("*.pt")):
        present = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        raise ModelLoadError(
            f"{path} holds no model weights (expected model.safetensors, or shards listed in "
            f"model.safetensors.index.json); it holds: {present}. {_REPAIR}."
        )
    for file in weights:
        problem = _safetensors_problem(file)
        if problem is not None:
            raise ModelLoadError(f"{file} is damaged: {problem}. {_REPAIR}.")


def _safetensors_problem(file: Path) -> str | None:
    """Why ``file`` is not a whole safetensors file (read from its header), or None."""
    size = file.stat().st_size
    with file.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than a safetensors header"
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return (
                f"its header claims {length:,} bytes but the file has {size:,}: not a "
                "safetensors file, or cut short"
            )
        raw = fh.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "its header is not valid JSON: not a safetensors file"
    if not isinstance(header, dict):
        return "its header is not a JSON object: not a safetensors file"
    try:
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
            default=0,
        )
    except (TypeError, KeyError, IndexError, ValueError):
        return "its header does not describe tensors: not a safetensors file"
    expected = 8 + length + end
    if size < expected:
        return (
            f"truncated: {size:,} bytes where its header describes {expected:,} (an "
            "interrupted copy or download, or a write on a full disk)"
        )
    if size > expected:
        return f"{size - expected:,} bytes after the last tensor its header describes"
    return None


def check_vocabulary(source: str | Path, model: PreTrainedModel, tokenizer: Any) -> None:
    """Refuse a tokenizer whose token ids run past the model's embedding table: the first
    such token would fail deep inside the model (``IndexError: index out of range``)."""
    embedding = model.get_input_embeddings()
    weight = getattr(embedding, "weight", None)
    if weight is None or weight.dim() != 2:
        return
    rows, tokens = int(weight.shape[0]), len(tokenizer)
    if tokens > rows:
        raise ModelLoadError(
            f"{source}: the tokenizer has {tokens:,} tokens (ids 0 to {tokens - 1:,}) but the "
            f"model's embedding table has {rows:,} rows, so ids from {rows:,} on cannot be "
            "embedded: the tokenizer is not the model's. Use the tokenizer the model was "
            "trained with, or, if tokens were added on purpose, resize the model "
            "(model.resize_token_embeddings(len(tokenizer))), train it and save both together"
        )


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
    else:
        check_model_files(path)
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
    fix = _REPAIR if is_local else "Check the hub id, the revision and the network"
    tok_files = _tokenizer_files(path) if is_local else ""
    try:
        tokenizer = _load_tokenizer(ref, path if is_local else None, common)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"cannot load the tokenizer of {ref}{tok_files}: {type(exc).__name__}: "
            f"{_one_line(exc)}. {fix}."
        ) from exc
    except Exception as exc:
        if type(exc) is not Exception:  # only the bare Exception tokenizers raises for a
            raise  # tokenizer.json it cannot parse; anything else is not ours to rename
        raise ModelLoadError(
            f"cannot load the tokenizer of {ref}{tok_files}: {_one_line(exc)}. {fix}."
        ) from exc
    placement = {"device_map": device_map} if device_map is not None else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            ref,
            dtype="auto" if dtype == "auto" else DTYPES[dtype],
            use_safetensors=True if is_local and any(path.glob("*.safetensors")) else None,
            **placement,
            **common,
        )
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        weights = ", ".join(p.name for p in sorted(path.glob("*.safetensors"))) if is_local else ""
        files = f" (weights: {weights})" if weights else ""
        raise ModelLoadError(
            f"cannot load the model in {ref}{files}: {type(exc).__name__}: {_one_line(exc)}. {fix}."
        ) from exc
    check_vocabulary(source, model, tokenizer)
    if device_map is None:
        model.to(target)
    model.eval()
    fmt = choose_prompt_format(source, stored_prompt_format(path), prompt_format)
    bind_prompt_format(fmt, tokenizer)  # fails now, not mid-run, if it does not fit
    return model, tokenizer, fmt


def _tokenizer_files(path: Path) -> str:
    """`` (files: tokenizer.json, ...)``: the tokenizer files of a model directory."""
    names = sorted(
        p.name
        for p in path.iterdir()
        if p.name.startswith(("tokenizer", "special_tokens", "vocab", "merges", "added_tokens"))
        or p.suffix == ".model"
    )
    return f" (files: {', '.join(names)})" if names else " (no tokenizer files)"


def _one_line(exc: BaseException, limit: int = 400) -> str:
    """An exception's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
