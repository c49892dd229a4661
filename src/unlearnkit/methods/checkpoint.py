"""Resumable checkpoints of the unlearning loop: safetensors and JSON only, bound to one run.

Nothing in a checkpoint is unpickled on resume, so a file planted in the folder cannot run
code: tensors are read with ``safetensors``, everything else with ``json``. The folder
``OUT/checkpoints/`` holds::

    run.json              the run these checkpoints belong to: its fingerprint (method, config
                          but for trackers / checkpoint_every, the initial model weights, the
                          forget and retain data, the prompt format, the tokenised examples,
                          the number of processes)
    step_000040/          the state after 40 optimiser steps (only the latest one is kept)
      weights.safetensors      the trained parameters by name (LoRA: the adapter weights);
                               the frozen rest is the initial model, which run.json binds
      optimizer.safetensors    AdamW's per-parameter tensors, "<index>.<name>"
      optimizer.json           the trained parameters' names, the parameter groups (lr,
                               betas, ...) and any scalar per-parameter state
      scheduler.json           LambdaLR's counters (its factor function is rebuilt from the
                               config)
      method.safetensors       the method's per-run state (PDU's dual variable, RMU's control
      method.json              vector, cached reference log-likelihoods, ...) and the running
                               weight average of smoothing=weight_avg
      rng_<rank>.safetensors   per process: torch's CPU and CUDA generators and the method's
      rng_<rank>.json          seeded generator; Python's and NumPy's global random states
      manifest.json            written last: the step, the run's digest, and every other
                               file's size and sha256

A checkpoint is written under a temporary name (``.step_000040.tmp``) and renamed when it
is complete: a killed run leaves a whole checkpoint or a temporary folder, which is ignored
and removed. A checkpoint is loaded only when ``run.json`` matches the new run, its
manifest lists exactly the files in its folder and every size and hash matches; anything
else is refused with an :class:`UnlearningError` that names the folder, says what differs
and how to start afresh.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from unlearnkit.core.cache import content_hash
from unlearnkit.core.io import atomic_write_text
from unlearnkit.methods.errors import UnlearningError
from unlearnkit.models.adapters.base import model_fingerprint

FORMAT = 1
RUN_FILE = "run.json"
MANIFEST = "manifest.json"
#: config fields that change no number the run computes: they may differ on resume
COSMETIC_FIELDS = frozenset({"trackers", "checkpoint_every"})
_STEP_DIR = re.compile(r"step_(\d+)")
_TMP_DIR = re.compile(r"\.step_(\d+)\.tmp")
_FILE_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
#: what a fingerprint entry means, for the message of a refused checkpoint
_LABELS = {
    "model": "the model's initial weights",
    "forget": "the forget data",
    "retain": "the retain data",
    "prompt_format": "the prompt format",
    "tokens": "the tokenised examples (another tokenizer, maximum length or refusals)",
    "processes": "the number of processes",
}


def fresh_start_hint(out: Path | None) -> str:
    """How to start afresh, for the messages of refused checkpoints."""
    where = f" in {out}" if out is not None else ""
    return (
        "Pass --no-resume (resume=False) to start afresh, which deletes the checkpoints "
        f"folder, or --overwrite (overwrite=True) to replace everything the earlier run "
        f"wrote{where}."
    )


# -- the fingerprint ---------------------------------------------------------------------------
def _plain(obj: Any) -> Any:
    """``obj`` as JSON values (tuples as lists, non-finite floats as their repr)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def run_fingerprint(
    *,
    method: str,
    config: Mapping[str, Any],
    model: torch.nn.Module,
    forget: Sequence[tuple[str, str]],
    retain: Sequence[tuple[str, str]],
    prompt_format: Mapping[str, Any],
    tokens: Any,
    processes: int,
) -> dict[str, Any]:
    """What makes a run the same run: resume only between runs with equal fingerprints.

    config: the method's config (its cosmetic fields are left out). model: the model before
    unlearning (its weights are hashed). tokens: the encoded examples (catches another
    tokenizer or maximum length with the same texts)."""
    return {
        "method": method,
        "config": _plain({k: v for k, v in config.items() if k not in COSMETIC_FIELDS}),
        "model": model_fingerprint(model, length=32),
        "forget": content_hash([list(p) for p in forget], length=32),
        "retain": content_hash([list(p) for p in retain], length=32),
        "prompt_format": content_hash(_plain(prompt_format), length=32),
        "tokens": content_hash(tokens, length=32),
        "processes": int(processes),
    }


def fingerprint_digest(fingerprint: Mapping[str, Any]) -> str:
    return content_hash(fingerprint, length=32)


def describe_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (checkpoints' value first)."""
    out = []
    if saved.get("method") != current.get("method"):
        out.append(f"method {saved.get('method')!r} (checkpoints) vs {current.get('method')!r}")
    old, new = saved.get("config") or {}, current.get("config") or {}
    if not isinstance(old, Mapping):
        old = {}
    # another method has other fields: then only the shared ones are compared
    keys = set(old) & set(new) if out else set(old) | set(new)
    for key in sorted(keys):
        if old.get(key, "<unset>") != new.get(key, "<unset>"):
            was, now = old.get(key, "<unset>"), new.get(key, "<unset>")
            out.append(f"{key}={was!r} (checkpoints) vs {now!r}")
    data = ("forget", "retain", "prompt_format")
    for key, label in _LABELS.items():
        if key == "tokens" and any(saved.get(k) != current.get(k) for k in data):
            continue  # a consequence of the data or format change already named
        if saved.get(key) != current.get(key):
            out.append(f"{label} differ" if key != "processes" else f"{label} differs")
    return out or ["the fingerprint differs"]


# -- finding and checking a checkpoint ---------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path, what: str) -> Any:
    """A JSON file of a checkpoint (``OUT/checkpoints/step_N/name``)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnlearningError(
            f"{what} {path} cannot be read ({exc}). " + fresh_start_hint(path.parents[2])
        ) from None


def read_run_file(root: Path) -> dict[str, Any] | None:
    """The fingerprint ``root/run.json`` holds, or None when it is missing or not ours."""
    path = root / RUN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    fp = data.get("fingerprint")
    return fp if isinstance(fp, dict) else None


def write_run_file(root: Path, fingerprint: Mapping[str, Any]) -> None:
    text = json.dumps(
        {"format": FORMAT, "fingerprint": fingerprint, "digest": fingerprint_digest(fingerprint)},
        indent=2,
        allow_nan=False,
    )
    atomic_write_text(root / RUN_FILE, text + "\n")


def step_dirs(root: Path) -> list[tuple[int, Path]]:
    """The ``step_N`` folders under ``root``, by step."""
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.fullmatch(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def verify_checkpoint(path: Path, digest: str, *, ranks: Sequence[int] = (0,)) -> int:
    """Check that ``path`` is a whole checkpoint unlearnkit wrote for the run with ``digest``
    (manifest, exactly its files, sizes and hashes, the RNG files of ``ranks``); return its
    step. Raises :class:`UnlearningError` naming what is wrong."""
    out = path.parent.parent
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        present = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        raise UnlearningError(
            f"checkpoint {path} was not written by this version of unlearnkit (it has no "
            f"{MANIFEST}; it holds {present[:8]}); nothing in it was loaded. "
            + fresh_start_hint(out)
        )
    manifest = _read_json(manifest_path, "checkpoint manifest")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(files, dict)
        or not isinstance(manifest.get("step"), int)
    ):
        raise UnlearningError(
            f"checkpoint manifest {manifest_path} is not in unlearnkit's format {FORMAT}; "
            "nothing in that checkpoint was loaded. " + fresh_start_hint(out)
        )
    if manifest.get("run") != digest:
        raise UnlearningError(
            f"checkpoint {path} belongs to another run than {out / 'checkpoints' / RUN_FILE} "
            "describes (it was copied or edited); nothing in it was loaded. "
            + fresh_start_hint(out)
        )
    odd = sorted(n for n in files if not _FILE_NAME.fullmatch(str(n)))
    if odd:  # only plain names of files in the folder: no path leads out of it
        raise UnlearningError(
            f"checkpoint manifest {manifest_path} lists names that are not files of its "
            f"folder: {odd[:4]}; nothing in that checkpoint was loaded. " + fresh_start_hint(out)
        )
    present = {p.name for p in path.iterdir()} - {MANIFEST}
    foreign = sorted(present - set(files))
    if foreign:
        raise UnlearningError(
            f"checkpoint {path} holds files unlearnkit did not write: {foreign[:8]}; nothing "
            "in it was loaded (checkpoints are read as safetensors and JSON only). Remove "
            "those files, or start afresh. " + fresh_start_hint(out)
        )
    for rank in ranks:
        for name in (f"rng_{rank}.safetensors", f"rng_{rank}.json"):
            if name not in files:
                raise UnlearningError(
                    f"checkpoint {path} has no {name}: it was written by a run with fewer "
                    "processes. " + fresh_start_hint(out)
                )
    for name, entry in sorted(files.items()):
        p = path / name
        if not p.is_file():
            raise UnlearningError(
                f"checkpoint file {p} is missing (the checkpoint is incomplete). "
                + fresh_start_hint(out)
            )
        size = p.stat().st_size
        if not isinstance(entry, dict) or size != entry.get("bytes"):
            want = entry.get("bytes") if isinstance(entry, dict) else "?"
            raise UnlearningError(
                f"checkpoint file {p} has {size} bytes, its manifest says {want}: it was "
                "truncated or changed. " + fresh_start_hint(out)
            )
        if _sha256(p) != entry.get("sha256"):
            raise UnlearningError(
                f"checkpoint file {p} does not match the sha256 in its manifest: it was "
                "damaged or changed. " + fresh_start_hint(out)
            )
    return int(manifest["step"])


def find_checkpoint(
    root: Path, fingerprint: Mapping[str, Any], *, ranks: Sequence[int] = (0,)
) -> tuple[Path, int] | None:
    """The latest checkpoint under ``root`` of the run with ``fingerprint``, verified; None
    when ``root`` holds no checkpoint. Raises :class:`UnlearningError` when ``root`` holds
    checkpoints of another run or a damaged or foreign one."""
    steps = step_dirs(root)
    if not steps:
        return None
    out = root.parent
    saved = read_run_file(root)
    if saved is None:
        raise UnlearningError(
            f"{root} holds checkpoints ({steps[-1][1].name}) that no unlearnkit run of this "
            f"version describes (no valid {RUN_FILE}: written by an older version, by another "
            "tool, or placed there); nothing in them was loaded. " + fresh_start_hint(out)
        )
    if saved != dict(fingerprint):
        diff = describe_differences(saved, fingerprint)
        raise UnlearningError(
            f"{root} holds checkpoints of another run ({saved.get('method')!r}); this run "
            f"differs in: {'; '.join(diff)}. Resuming from them would mix two runs, so "
            "nothing was loaded. " + fresh_start_hint(out)
        )
    step, path = steps[-1]
    found = verify_checkpoint(path, fingerprint_digest(fingerprint), ranks=ranks)
    if found != step:
        raise UnlearningError(
            f"checkpoint {path} says it holds step {found}, not {step}: it was renamed. "
            + fresh_start_hint(out)
        )
    return path, step


def remove_temporary(root: Path) -> None:
    """Delete the half-written ``.step_N.tmp`` folders a killed run left under ``root``."""
    if root.is_dir():
        for p in root.iterdir():
            if _TMP_DIR.fullmatch(p.name) or p.name.startswith(".trash."):
                shutil.rmtree(p, ignore_errors=True)


# -- what a checkpoint holds -------------------------------------------------------------------
def _save_tensors(path: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(path))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UnlearningError(
            f"checkpoint file {path} is not a readable safetensors file ({exc}). "
            + fresh_start_hint(path.parent.parent.parent)
        ) from None


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _encode(value: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON description of one method-state value (tensors go to ``tensors``); None when
    the value cannot be stored (hooks, lists shared with hooks, modules): the method's
    ``setup`` rebuilds those on resume."""
    if value is None or isinstance(value, (bool, int, str)):
        return {"value": value}
    if isinstance(value, float):
        return {"float": value.hex()}
    if isinstance(value, torch.Tensor):
        tensors[name] = value
        return {"tensor": name, "device": str(value.device)}
    if isinstance(value, Mapping):
        items = []
        for i, (k, v) in enumerate(value.items()):
            if isinstance(k, (str, int)) and not isinstance(k, bool):
                key: Any = {"key": k}
            elif isinstance(k, tuple) and all(
                isinstance(x, (str, int)) and not isinstance(x, bool) for x in k
            ):
                key = {"tuple": list(k)}
            else:
                return None
            encoded = _encode(v, f"{name}.{i}", tensors)
            if encoded is None:
                return None
            items.append([key, encoded])
        return {"dict": items}
    return None


def _decode(spec: Any, tensors: Mapping[str, torch.Tensor], device: torch.device) -> Any:
    if not isinstance(spec, dict):
        raise ValueError(f"not a stored value: {spec!r}")
    if "value" in spec:
        value = spec["value"]
        if value is not None and not isinstance(value, (bool, int, str)):
            raise ValueError(f"not a scalar: {value!r}")
        return value
    if "float" in spec:
        return float.fromhex(str(spec["float"]))
    if "tensor" in spec:
        t = tensors[str(spec["tensor"])]
        return t.to(_device(str(spec.get("device", "")), device))
    if "dict" in spec:
        out: dict[Any, Any] = {}
        for key, value in spec["dict"]:
            k = tuple(key["tuple"]) if "tuple" in key else key["key"]
            out[k] = _decode(value, tensors, device)
        return out
    raise ValueError(f"not a stored value: {spec!r}")


def _device(saved: str, fallback: torch.device) -> torch.device:
    """The device a tensor was saved from, when this process has it; else ``fallback``."""
    try:
        dev = torch.device(saved)
    except RuntimeError:
        return fallback
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda" and torch.cuda.is_available():
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        if index < torch.cuda.device_count():
            return dev
    return fallback


def _merge_groups(current: list[dict[str, Any]], saved: Any) -> list[dict[str, Any]]:
    """The optimiser's parameter groups with the saved values of the keys it has (types
    checked; ``params`` always the current ones)."""
    if not isinstance(saved, list) or len(saved) != len(current):
        raise ValueError("the parameter groups do not match the optimiser's")
    merged = []
    for now, old in zip(current, saved, strict=True):
        if not isinstance(old, dict):
            raise ValueError("a parameter group is not a mapping")
        group = dict(now)
        for key, value in old.items():
            if key == "params" or key not in now:
                continue
            want = now[key]
            if isinstance(want, tuple):
                if not isinstance(value, list) or len(value) != len(want):
                    raise ValueError(f"parameter group field {key!r} is {value!r}")
                value = tuple(value)
            elif isinstance(want, bool) or want is None:
                if not (value is None or isinstance(value, bool)):
                    raise ValueError(f"parameter group field {key!r} is {value!r}")
            elif isinstance(want, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"parameter group field {key!r} is {value!r}")
            elif type(value) is not type(want):
                raise ValueError(f"parameter group field {key!r} is {value!r}")
            group[key] = value
        merged.append(group)
    return merged


_SCHEDULER_KEYS = ("last_epoch", "_step_count", "_is_initial", "_last_lr", "base_lrs")


@dataclass
class LoopState:
    """Everything a resumed run needs to continue bit for bit.

    model: the unwrapped model; names / params: its trained parameters in the optimiser's
    order; method_state: the method's ``ctx.state``; average: smoothing's weight average.
    """

    model: torch.nn.Module
    names: list[str]
    params: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    method_state: dict[str, Any]
    generator: torch.Generator
    average: Any | None
    device: torch.device

    # -- writing -------------------------------------------------------------------------------
    def write_shared(self, folder: Path) -> None:
        """The files every process shares (written by the main process)."""
        weights = dict(zip(self.names, self.params, strict=True))
        _save_tensors(folder / "weights.safetensors", weights)
        sd = self.optimizer.state_dict()
        tensors, scalars = {}, {}
        for index, entries in sd["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{index}.{key}"] = value
                else:
                    scalars.setdefault(str(index), {})[key] = _plain(value)
        _save_tensors(folder / "optimizer.safetensors", tensors)
        _write_json(
            folder / "optimizer.json",
            {"names": self.names, "param_groups": _plain(sd["param_groups"]), "scalars": scalars},
        )
        sched = self.scheduler.state_dict()
        _write_json(folder / "scheduler.json", {k: sched[k] for k in _SCHEDULER_KEYS if k in sched})
        method_tensors: dict[str, torch.Tensor] = {}
        entries = {}
        for key, value in self.method_state.items():
            encoded = _encode(value, f"state.{key}", method_tensors)
            if encoded is not None:
                entries[key] = encoded
        average = None
        if self.average is not None:
            for i, s in enumerate(self.average.sum):
                method_tensors[f"average.{i}"] = s
            average = {"count": self.average.count, "tensors": len(self.average.sum)}
        _save_tensors(folder / "method.safetensors", method_tensors)
        _write_json(folder / "method.json", {"state": entries, "average": average})

    def capture_rng(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """This process's random states now: torch's CPU and CUDA generators and the
        method's (tensors), Python's and NumPy's global states (JSON)."""
        tensors = {"torch_cpu": torch.get_rng_state(), "method": self.generator.get_state()}
        if self.device.type == "cuda":
            tensors["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        version, state, gauss = random.getstate()
        name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
        meta = {
            "python": {"version": version, "state": list(state), "gauss": gauss},
            "numpy": {
                "name": name,
                "keys": [int(k) for k in keys],
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached),
            },
        }
        return tensors, meta

    def write_rng(
        self,
        folder: Path,
        rank: int,
        captured: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
    ) -> None:
        """This process's random states: now, or as ``captured`` earlier (the start of a
        step the run then abandoned)."""
        tensors, meta = captured if captured is not None else self.capture_rng()
        _save_tensors(folder / f"rng_{rank}.safetensors", tensors)
        _write_json(folder / f"rng_{rank}.json", meta)

    # -- reading -------------------------------------------------------------------------------
    def load_weights(self, folder: Path) -> None:
        """Set the trained parameters to the checkpoint's."""
        path = folder / "weights.safetensors"
        tensors = _load_tensors(path)
        if set(tensors) != set(self.names):
            missing = sorted(set(self.names) - set(tensors))[:4]
            extra = sorted(set(tensors) - set(self.names))[:4]
            raise UnlearningError(
                f"checkpoint file {path} does not hold this model's trained parameters "
                f"(missing {missing}, unexpected {extra}). "
                + fresh_start_hint(folder.parent.parent)
            )
        with torch.no_grad():
            for name, p in zip(self.names, self.params, strict=True):
                t = tensors[name]
                if t.shape != p.shape or t.dtype != p.dtype:
                    raise UnlearningError(
                        f"checkpoint file {path}: {name} is {t.dtype} {tuple(t.shape)}, the "
                        f"model's is {p.dtype} {tuple(p.shape)}. "
                        + fresh_start_hint(folder.parent.parent)
                    )
                p.copy_(t)

    def load(self, folder: Path, rank: int) -> None:
        """Set every part of the state to the checkpoint's (verified beforehand)."""
        out = folder.parent.parent
        self.load_weights(folder)
        try:
            self._load_optimizer(folder)
            self._load_scheduler(folder)
            self._load_method(folder)
            self._load_rng(folder, rank)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise UnlearningError(
                f"checkpoint {folder} does not fit this run ({exc}). " + fresh_start_hint(out)
            ) from None

    def _load_optimizer(self, folder: Path) -> None:
        meta = _read_json(folder / "optimizer.json", "checkpoint file")
        if meta.get("names") != self.names:
            raise ValueError("its optimiser state is for other parameters")
        tensors = _load_tensors(folder / "optimizer.safetensors")
        state: dict[int, dict[str, Any]] = {}
        for key, t in tensors.items():
            index, _, name = key.partition(".")
            state.setdefault(int(index), {})[name] = t
        for index, entries in meta.get("scalars", {}).items():
            state.setdefault(int(index), {}).update(entries)
        if any(not 0 <= i < len(self.names) for i in state):
            raise ValueError("its optimiser state names parameters the model does not train")
        current = self.optimizer.state_dict()["param_groups"]
        groups = _merge_groups(current, meta.get("param_groups"))
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})

    def _load_scheduler(self, folder: Path) -> None:
        saved = _read_json(folder / "scheduler.json", "checkpoint file")
        sd = self.scheduler.state_dict()
        for key in _SCHEDULER_KEYS:
            if key not in saved or key not in sd:
                continue
            value, want = saved[key], sd[key]
            if isinstance(want, list):
                if not isinstance(value, list) or len(value) != len(want):
                    raise ValueError(f"scheduler field {key} is {value!r}")
                value = [float(v) for v in value]
            elif isinstance(want, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"scheduler field {key} is {value!r}")
            elif isinstance(want, int) and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"scheduler field {key} is {value!r}")
            sd[key] = value
        self.scheduler.load_state_dict(sd)

    def _load_method(self, folder: Path) -> None:
        meta = _read_json(folder / "method.json", "checkpoint file")
        tensors = _load_tensors(folder / "method.safetensors")
        for key, spec in meta.get("state", {}).items():
            self.method_state[key] = _decode(spec, tensors, self.device)
        average = meta.get("average")
        if (average is None) != (self.average is None):
            raise ValueError("the weight average (smoothing=weight_avg) does not match")
        if self.average is not None:
            if average.get("tensors") != len(self.average.sum):
                raise ValueError("the weight average holds other parameters")
            with torch.no_grad():
                for i, s in enumerate(self.average.sum):
                    s.copy_(tensors[f"average.{i}"])
            self.average.count = int(average["count"])

    def _load_rng(self, folder: Path, rank: int) -> None:
        tensors = _load_tensors(folder / f"rng_{rank}.safetensors")
        meta = _read_json(folder / f"rng_{rank}.json", "checkpoint file")
        py, npy = meta["python"], meta["numpy"]
        gauss = py.get("gauss")
        gauss = None if gauss is None else float(gauss)
        random.setstate((int(py["version"]), tuple(int(x) for x in py["state"]), gauss))
        np.random.set_state(
            (
                str(npy["name"]),
                np.asarray(npy["keys"], dtype=np.uint32),
                int(npy["pos"]),
                int(npy["has_gauss"]),
                float(npy["cached_gaussian"]),
            )
        )
        torch.set_rng_state(tensors["torch_cpu"])
        self.generator.set_state(tensors["method"])
        if self.device.type == "cuda" and "torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["torch_cuda"], self.device)


def save_checkpoint(
    root: Path,
    step: int,
    state: LoopState,
    fingerprint: Mapping[str, Any],
    *,
    rank: int,
    is_main: bool,
    barrier: Callable[[], None],
    rng: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
) -> Path:
    """Write the checkpoint of ``step`` under ``root`` (every process calls it) and delete
    the earlier ones; returns its folder. It appears under its final name only whole.
    rng: this process's random states to store instead of the current ones."""
    final = root / f"step_{step:06d}"
    tmp = root / f".step_{step:06d}.tmp"
    digest = fingerprint_digest(fingerprint)
    if is_main:
        root.mkdir(parents=True, exist_ok=True)
        if read_run_file(root) != dict(fingerprint):
            write_run_file(root, fingerprint)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    barrier()
    state.write_rng(tmp, rank, rng)
    if is_main:
        state.write_shared(tmp)
    barrier()
    if is_main:
        files = {
            p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(tmp.iterdir())
        }
        _write_json(tmp / MANIFEST, {"format": FORMAT, "step": step, "run": digest, "files": files})
        _fsync_dir(tmp)
        if final.exists():  # the divergence guard saving a step that is already saved
            trash = Path(tempfile.mkdtemp(prefix=".trash.", dir=root))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(root)
        for other_step, other in step_dirs(root):  # only the latest is ever resumed from
            if other_step != step:
                shutil.rmtree(other, ignore_errors=True)
    barrier()
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "COSMETIC_FIELDS",
    "LoopState",
    "describe_differences",
    "find_checkpoint",
    "fingerprint_digest",
    "remove_temporary",
    "run_fingerprint",
    "save_checkpoint",
    "step_dirs",
    "verify_checkpoint",
]
