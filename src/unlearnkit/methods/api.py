"""``unlearn()``: the Python entry point of the methods layer."""

from __future__ import annotations

import importlib
import json
import pkgutil
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accelerate import PartialState
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnkit.core.errors import ConfigError, UnknownNameError, did_you_mean
from unlearnkit.core.io import atomic_write_json
from unlearnkit.data.formatting import bind_prompt_format, resolve_prompt_format
from unlearnkit.methods.base import (
    METHODS,
    EditConfig,
    EditMethod,
    InferenceMethod,
    UnlearnConfig,
)
from unlearnkit.methods.loop import (
    CHECKPOINTS,
    LOG_FILE,
    UnlearningError,
    UnlearnRecord,
    remove_checkpoints,
    run_edit,
    run_unlearning,
    run_wrap,
)
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

Pairs = Sequence[Mapping[str, Any]] | Sequence[tuple[str, str]]
RECORD_FILE = "record.json"
MODEL_DIR = "model"


def _claim_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an output directory that holds a finished run (its record would be replaced
    by another run's), unless ``overwrite``: then delete what the earlier run wrote there
    (model/, record.json, log.jsonl, checkpoints/; nothing else)."""
    record = out / RECORD_FILE
    if not overwrite:
        if record.is_file():
            try:
                old = json.loads(record.read_text(encoding="utf-8"))
                what = f"method {old['method']!r}, {old['steps']} steps"
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
                what = "its record cannot be read"
            raise UnlearningError(
                f"{out} already holds a finished unlearning run ({record}: {what}); pass "
                "--overwrite (overwrite=True) to replace it, or write to another output "
                "directory"
            )
        return
    if not PartialState().is_main_process:
        return
    for path in (out / MODEL_DIR, out / CHECKPOINTS):
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UnlearningError(
                f"cannot delete {path} to overwrite the earlier run ({exc.strerror or exc}); "
                "delete it yourself, or write to another output directory"
            ) from None
    for path in (out / RECORD_FILE, out / LOG_FILE):
        path.unlink(missing_ok=True)


def register_builtin_methods() -> None:
    """Import every method module so that each registers itself (idempotent): every public
    module of every subpackage of :mod:`unlearnkit.methods` (``gradient``, ``editing``,
    ``inference``, ``classifier``, ``recommender``, and any package added beside them), so
    a new method is one file in one of them."""
    import unlearnkit.methods as methods

    for sub in pkgutil.iter_modules(methods.__path__):
        if not sub.ispkg or sub.name.startswith("_"):
            continue
        package = importlib.import_module(f"{methods.__name__}.{sub.name}")
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{info.name}")


#: Each model family's entry point: the function that unlearns with that family's methods.
ENTRY_POINTS = {
    "lm": "unlearnkit.methods.unlearn",
    "classifier": "unlearnkit.methods.classifier.base.unlearn_classifier",
    "recommender": "unlearnkit.methods.recommender.base.unlearn_recommender",
}


def method_family(method: str) -> str:
    """The model family of a registered method: its class's ``family`` (``lm`` for every
    :class:`~unlearnkit.methods.base.Method` and
    :class:`~unlearnkit.methods.base.EditMethod`; each other family's base class sets its
    own). Unknown names raise :class:`~unlearnkit.core.errors.UnknownNameError`."""
    register_builtin_methods()
    cls = METHODS.get(method)
    family = getattr(cls, "family", None)
    if not isinstance(family, str):
        raise UnlearningError(
            f"method {method!r} ({cls!r}) declares no family: subclass a family's method base "
            "class (Method, EditMethod, InferenceMethod, ClassifierMethod, RecommenderMethod) "
            "or set the class attribute family"
        )
    return family


def methods_of(family: str = "lm") -> list[str]:
    """Names of the registered methods of one model family (``lm``, ``classifier``,
    ``recommender``), every built-in one registered first."""
    register_builtin_methods()
    return [name for name in METHODS.names() if method_family(name) == family]


def require_family(method: str, family: str, entry_point: str) -> type:
    """The class of ``method``, which ``entry_point`` (the caller, for the message) runs
    only for methods of ``family``. A misspelt name raises
    :class:`~unlearnkit.core.errors.UnknownNameError` with this family's names; another
    family's method raises :class:`~unlearnkit.core.errors.ConfigError` that names its
    family, the entry point for it, and "did you mean" among this family's methods."""
    known = methods_of(family)
    if method not in METHODS:
        raise UnknownNameError(f"{family} method", method, known)
    other = method_family(method)
    if other == family:
        return METHODS.get(method)
    run_with = f"{ENTRY_POINTS[other]}()" if other in ENTRY_POINTS else f"the {other} entry point"
    close = did_you_mean(method, known)
    raise ConfigError(
        entry_point,
        "method",
        method,
        f"a method of the {family} family; {method!r} belongs to the {other} family: unlearn "
        f"with it through {run_with} (`unlearnkit list methods --family {other}`).{close} "
        f"{family} methods: {', '.join(known)}.",
    )


def method_config(
    method: str,
    config: UnlearnConfig | EditConfig | Mapping[str, Any] | None = None,
    **overrides: Any,
):
    """The config of ``method``: its defaults, updated by ``config`` and ``overrides``."""
    register_builtin_methods()
    cls = METHODS.get(method).config_class
    if isinstance(config, UnlearnConfig | EditConfig):
        if not isinstance(config, cls):
            raise UnlearningError(
                f"method {method!r} takes a {cls.__name__}, got {type(config).__name__}"
            )
        return config.replace(**overrides) if overrides else config
    return cls.from_dict({**(config or {}), **overrides})


def as_pairs(data: Pairs | None, what: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from TOFU-style records, raw texts (MUSE ``{"text": ...}``
    records, which become ``("", text)``: learnt whole, without the prompt template) or
    tuples."""
    if data is None:
        return []
    pairs = []
    for i, item in enumerate(data):
        if isinstance(item, Mapping) and "question" not in item and "text" in item:
            pairs.append(("", str(item["text"])))
        elif isinstance(item, Mapping):
            missing = [k for k in ("question", "answer") if k not in item]
            if missing:
                raise UnlearningError(f"{what} record {i} has no {missing[0]!r} field")
            pairs.append((str(item["question"]), str(item["answer"])))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((str(item[0]), str(item[1])))
        else:
            raise UnlearningError(
                f"{what} item {i} must be a record with question/answer (or text), or a "
                f"(question, answer) pair, got {type(item).__name__}"
            )
    return pairs


def unlearn(
    model: CausalLMAdapter | PreTrainedModel | str | Path,
    forget: Pairs,
    retain: Pairs | None = None,
    method: str = "npo",
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    config: UnlearnConfig | EditConfig | Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool | None = None,
    overwrite: bool = False,
    keep_checkpoints: bool = False,
    prompt_format: Any = None,
    **overrides: Any,
) -> tuple[CausalLMAdapter, UnlearnRecord]:
    """Unlearn ``forget`` from ``model`` with ``method`` and return ``(adapter, record)``.

    method: a registered method of the ``lm`` family (``unlearnkit list methods --family
    lm``); a classifier or recommender method is refused with the entry point it needs.
    model: an adapter, a transformers model (then pass ``tokenizer``), or a model directory.
    forget / retain: TOFU-style records (question, answer) or (question, answer) pairs.
    config / overrides: the method's settings (``unlearnkit list methods`` names them; e.g.
    ``lr=1e-3, epochs=5, lora=True``). The model is trained in place (pass a copy to keep
    the original). With ``out_dir``, the unlearned model is saved there as a Hugging Face
    directory (``model/``), with ``record.json`` and the step log (``log.jsonl``).
    Checkpoints (``checkpoint_every``) go to ``out_dir/checkpoints``, bound to this run
    (method, config, initial weights, data, prompt format); they are deleted once the model
    and record are saved, unless ``keep_checkpoints``.
    resume: None (default) continues an interrupted run from its latest checkpoint and
    refuses checkpoints of another run; True requires a checkpoint to continue from; False
    deletes the checkpoints there and starts afresh. overwrite: replace the earlier run
    in ``out_dir`` (its model/, record.json, log.jsonl and checkpoints/ are deleted first);
    without it, an ``out_dir`` holding a finished run (record.json) is refused.
    prompt_format: how the model was prompted in training (preset name, mapping, file or
    PromptFormat); default: the one stored with a model directory or adapter. The unlearned
    model is saved with it.
    """
    require_family(method, "lm", "unlearn")  # before anything is loaded or trained
    cfg = method_config(method, config, **overrides)
    if isinstance(model, (str, Path)):
        adapter = CausalLMAdapter.from_pretrained(model, prompt_format=prompt_format)
    elif isinstance(model, CausalLMAdapter):
        adapter = model
        if prompt_format is not None:
            adapter = adapter.like(adapter.model)
            adapter.prompt_format = bind_prompt_format(
                resolve_prompt_format(prompt_format), adapter.tokenizer
            )
    else:
        if tokenizer is None:
            raise UnlearningError("pass tokenizer= with a transformers model (or pass an adapter)")
        if prompt_format is None:
            raise UnlearningError(
                "pass prompt_format= with a transformers model: the format it was fine-tuned "
                "with (e.g. 'tofu', 'chat', or a mapping); see unlearnkit.data.formatting.PRESETS"
            )
        fmt = resolve_prompt_format(prompt_format)
        adapter = CausalLMAdapter(model, tokenizer, prompt_format=fmt)
    algorithm = METHODS.get(method)(cfg)
    if out_dir is not None:
        _claim_out_dir(Path(out_dir), overwrite)
    if isinstance(algorithm, InferenceMethod):
        result, record = run_wrap(
            algorithm,
            adapter,
            as_pairs(forget, "forget"),
            as_pairs(retain, "retain"),
            method_name=method,
        )
        if out_dir is not None and PartialState().is_main_process:
            out = Path(out_dir)
            result.save(out / MODEL_DIR)
            atomic_write_json(out / RECORD_FILE, record.to_dict())
        return result, record
    if isinstance(algorithm, EditMethod):
        unlearned, record = run_edit(
            algorithm,
            adapter.model,
            adapter.tokenizer,
            as_pairs(forget, "forget"),
            as_pairs(retain, "retain"),
            method_name=method,
            prompt_format=adapter.prompt_format,
        )
    else:
        unlearned, record = run_unlearning(
            algorithm,
            adapter.model,
            adapter.tokenizer,
            as_pairs(forget, "forget"),
            as_pairs(retain, "retain"),
            method_name=method,
            prompt_format=adapter.prompt_format,
            out_dir=out_dir,
            resume=resume,
            overwrite=overwrite,
            keep_checkpoints=True,  # deleted below, once the model and record are saved
            progress=progress,
        )
    result = CausalLMAdapter(
        unlearned,
        adapter.tokenizer,
        batch_size=adapter.batch_size,
        prompt_format=adapter.prompt_format,
    )
    if out_dir is not None and PartialState().is_main_process:  # one writer under DDP
        out = Path(out_dir)
        result.save(out / MODEL_DIR)
        atomic_write_json(out / RECORD_FILE, record.to_dict())
        if not keep_checkpoints:
            remove_checkpoints(out)
    return result, record
