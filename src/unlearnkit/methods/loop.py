"""The one training loop every gradient method shares, on ``accelerate``.

Per optimiser step: ``grad_accum`` micro-steps, each pairing one forget batch with one retain
batch (when the method uses retain data); the method turns them into loss terms; the loop
backpropagates, clips, steps the optimiser and the schedule, logs the terms, the gradient
norm and the learning rate to ``log.jsonl`` (and to accelerate's trackers if asked), and
checkpoints. Batch order is a pure function of ``(seed, epoch)`` — no global RNG — so a
resumed run sees exactly the batches the interrupted one would have seen. Under
``accelerate launch`` (DDP) each process takes every N-th batch of the same order.

Checkpoints (:mod:`unlearnkit.methods.checkpoint`) are safetensors and JSON, bound to a
fingerprint of the run; a run resumes only from its own, and they are deleted when it ends
well (unless kept).

The divergence guard: a non-finite loss stops the run before its backward pass, a
non-finite gradient norm before the optimiser step, and weights that are non-finite or
exploded after a step (their RMS above :data:`EXPLODED` times the initial one) are put back
to the last checkpoint (or the initial weights). The model keeps the last finite state,
saved as a checkpoint when there is an output directory; the :class:`DivergedError` names
the checkpoint folder that holds it, or says that none was written.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.pytorch_utils import Conv1D

from unlearnkit.core.io import atomic_write_text
from unlearnkit.core.progress import bar_kwargs
from unlearnkit.core.seeding import derive_seed, make_generator
from unlearnkit.data.formatting import BoundPromptFormat, PromptFormat, bind_prompt_format
from unlearnkit.methods.base import Method, UnlearnContext
from unlearnkit.methods.checkpoint import (
    LoopState,
    find_checkpoint,
    remove_temporary,
    run_fingerprint,
    save_checkpoint,
)
from unlearnkit.methods.errors import DivergedError, UnlearningError
from unlearnkit.methods.smoothing import WeightAverage, smoothed_backward
from unlearnkit.models.encoding import Encoded, collate, encode_pair, pad_token_id
from unlearnkit.models.training import lr_schedule, peak_memory_mb, reset_peak_memory

CHECKPOINTS = "checkpoints"
LOG_FILE = "log.jsonl"
#: the divergence guard's bound on the trained weights: their RMS may grow to this many
#: times its initial value (at least :data:`EXPLODED` × 0.01) before the run counts as
#: diverged. Gradient ascent at lr=1e6 multiplies it by ~1e7 in one step; working learning
#: rates change it by a few percent.
EXPLODED = 1000.0


@dataclass(frozen=True)
class UnlearnRecord:
    """What an unlearning run did and cost."""

    method: str
    config: dict[str, Any]
    steps: int
    forget_examples: int
    retain_examples: int
    wall_time_s: float
    peak_memory_mb: float
    parameters_total: int
    parameters_trainable: int
    parameters_changed: int  # elements of the trained tensors whose value moved
    final_losses: dict[str, float]
    resumed_from_step: int | None
    log_path: str | None
    details: dict[str, Any] = field(default_factory=dict)  # what the method located or did

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def epoch_batches(n: int, batch_size: int, seed: int, key: str, epoch: int) -> list[list[int]]:
    """Shuffled batches of ``range(n)`` for one epoch: a pure function of its arguments."""
    order = list(range(n))
    random.Random(derive_seed(seed, key, epoch)).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


class _Stream:
    """Batches of one data set, for micro-step ``m`` of this process (cycles over epochs)."""

    def __init__(self, n: int, batch_size: int, seed: int, key: str, rank: int, world: int):
        self.n, self.bs, self.seed, self.key = n, batch_size, seed, key
        self.rank, self.world = rank, world
        per_epoch = len(epoch_batches(n, batch_size, seed, key, 0))
        self.per_epoch = max(1, per_epoch // world)  # equal count on every process
        self._cache: tuple[int, list[list[int]]] | None = None

    def indices(self, m: int) -> list[int]:
        epoch, i = divmod(m, self.per_epoch)
        if self._cache is None or self._cache[0] != epoch:
            batches = epoch_batches(self.n, self.bs, self.seed, self.key, epoch)
            self._cache = (epoch, batches[self.rank :: self.world][: self.per_epoch])
        return self._cache[1][i]


def _batch_dict(
    encoded: Sequence[Encoded], pad_id: int, device: torch.device
) -> dict[str, torch.Tensor]:
    b = collate(encoded, pad_id).to(device)
    return {"input_ids": b.input_ids, "attention_mask": b.attention_mask, "labels": b.labels}


#: module types peft can wrap with LoRA layers (transformers' Conv1D is GPT-2's linear layer)
_LORA_TYPES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.Linear,
    Conv1D,
    torch.nn.Embedding,
    torch.nn.Conv1d,
    torch.nn.Conv2d,
    torch.nn.Conv3d,
)
#: where an attention block lives in a module path (self_attn, attn, attention, ...)
_ATTENTION = re.compile(r"(^|\.)[\w]*(attn|attention)[\w]*(\.|$)", re.IGNORECASE)


def _peft_lora_mapping() -> dict[str, list[str]]:
    """peft's own per-architecture LoRA targets (``model_type`` -> module names)."""
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    except ImportError:  # moved in some peft release: then only the fallback applies
        try:
            from peft.utils import (  # type: ignore[attr-defined,no-redef]
                TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING,
            )
        except ImportError:
            return {}
    return dict(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING)


def _linear_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Full name -> module of every Linear / Conv1D layer but the output head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, (torch.nn.Linear, Conv1D)) and m is not head
    }


def _matches(full_name: str, target: str) -> bool:
    """peft's rule: a target names a module by its full name or by a dotted suffix of it."""
    return full_name == target or full_name.endswith("." + target)


def lora_target_modules(model: torch.nn.Module, requested: str | Sequence[str]) -> list[str]:
    """The module names LoRA adapters go on in ``model``.

    requested: ``"all-linear"`` — every Linear / Conv1D layer of the transformer blocks
    (attention and MLP projections, never the output head): q/k/v/o/gate/up/down_proj on
    Llama, Mistral and Qwen2, c_attn/c_proj/c_fc on GPT-2, q/k/v_proj, dense, fc1/fc2 on
    Phi. ``"peft"`` — peft's own mapping for the architecture (``model.config.model_type``:
    q_proj/v_proj on Llama, c_attn on GPT-2, q_proj/v_proj/fc1/fc2 on Phi), or, for an
    architecture peft does not list, the Linear / Conv1D layers inside attention blocks. A
    list of names is used as given, after checking that each names a module LoRA can wrap
    (by its last name, e.g. ``q_proj``, or a dotted suffix of its path).
    """
    layers = _linear_layers(model)
    short = sorted({n.rsplit(".", 1)[-1] for n in layers})
    if requested == "all-linear":
        if not short:
            raise UnlearningError(
                f"{type(model).__name__} has no Linear or Conv1D layer for LoRA adapters; "
                "set lora=false, or name the modules in lora_target_modules"
            )
        others = [n for n in dict(model.named_modules()) if n and n not in layers]
        if any(_matches(n, t) for n in others for t in short):
            return sorted(layers)  # a short name would also catch the head: full names
        return short
    if requested == "peft":
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        mapped = _peft_lora_mapping().get(str(model_type), [])
        if mapped and all(any(_matches(n, t) for n in layers) for t in mapped):
            return list(mapped)
        attention = sorted({n.rsplit(".", 1)[-1] for n in layers if _ATTENTION.search(n)})
        if not attention:
            raise UnlearningError(
                f"peft lists no LoRA targets for model type {model_type!r} and "
                f"{type(model).__name__} has no Linear / Conv1D layer inside a module named "
                f"like attention; name the modules in lora_target_modules (its linear layers: "
                f"{short}) or use lora_target_modules=all-linear"
            )
        return attention
    if isinstance(requested, str):
        requested = [requested]
    modules = dict(model.named_modules())
    missing, problems = [], []
    for target in requested:
        found = [m for n, m in modules.items() if _matches(n, target)]
        if not found:
            missing.append(target)
        elif not all(isinstance(m, _LORA_TYPES) for m in found):
            kinds = sorted({type(m).__name__ for m in found if not isinstance(m, _LORA_TYPES)})
            problems.append(f"{target!r} is a {'/'.join(kinds)}, which LoRA cannot wrap")
    if missing:
        problems.insert(0, f"lora_target_modules {missing} are not modules of this model")
    if problems:
        raise UnlearningError(
            f"{'; '.join(problems)}. {type(model).__name__}'s linear layers: {short}; or "
            "leave lora_target_modules at its default (all-linear), or set it to peft "
            "(peft's choice for the architecture)"
        )
    return list(requested)


def apply_lora(model: PreTrainedModel, config: Any) -> PreTrainedModel:
    """Wrap ``model`` with LoRA adapters (peft) on the modules
    :func:`lora_target_modules` finds for ``config.lora_target_modules``; only adapter
    weights stay trainable."""
    from peft import LoraConfig, get_peft_model

    targets = lora_target_modules(model, config.lora_target_modules)
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    # peft draws the A matrices from the global RNG: seed it from the config, without
    # disturbing the caller's random state, so that a LoRA run is reproducible
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(getattr(config, "seed", 0), "lora"))
        return get_peft_model(model, lora)


def set_gradient_checkpointing(model: torch.nn.Module, on: bool) -> None:
    """Turn activation (gradient) checkpointing of a transformers model on or off: the
    blocks' activations are recomputed in the backward pass instead of kept (less memory,
    about one more forward pass of time; same gradients). Non-reentrant checkpointing,
    which needs no gradient on the inputs (frozen embeddings under LoRA work)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(inner, "supports_gradient_checkpointing", False):
        if on:
            raise UnlearningError(
                f"{type(inner).__name__} does not support gradient checkpointing; set "
                "gradient_checkpointing=false"
            )
        return
    kwargs = {"use_reentrant": False}
    if hasattr(inner, "activation_checkpointing_enable"):  # transformers >= 5 names
        if on:
            inner.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        elif inner.is_activation_checkpointing:
            inner.activation_checkpointing_disable()
    elif on:
        inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    elif inner.is_gradient_checkpointing:
        inner.gradient_checkpointing_disable()


def _weights_rms(params: Sequence[torch.Tensor]) -> float:
    """The RMS of the trained weights, accumulated in float32 (NaN or inf when a weight is,
    or when their squares overflow float32: exploded either way)."""
    device = params[0].device
    norms = [torch.linalg.vector_norm(p.detach(), dtype=torch.float32).to(device) for p in params]
    total = float(torch.linalg.vector_norm(torch.stack(norms)))
    return total / math.sqrt(max(1, sum(p.numel() for p in params)))


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log lines of steps up to ``step`` (a resumed run logs the later ones again;
    a line a kill cut short is dropped)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("step"), int) and entry["step"] <= step:
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _rmtree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UnlearningError(
            f"cannot delete {path} ({exc.strerror or exc}); delete it yourself, or write to "
            "another output directory"
        ) from None


def remove_checkpoints(out_dir: str | Path) -> None:
    """Delete ``out_dir/checkpoints`` (a finished run's: its model and record are saved)."""
    _rmtree(Path(out_dir) / CHECKPOINTS)


def _resume_point(
    out: Path,
    fingerprint: dict[str, Any],
    resume: bool | None,
    overwrite: bool,
    accelerator: Accelerator,
) -> tuple[Path, int] | None:
    """Prepare ``out`` for the run and return the checkpoint to resume from, if any.

    overwrite: delete the checkpoints and the step log of an earlier run. resume=False:
    delete the checkpoints (start afresh). resume=None: resume from this run's checkpoints
    when there are some; refuse another run's. resume=True: as None, but a checkpoint must
    be there."""
    root = out / CHECKPOINTS
    if accelerator.is_main_process:
        if overwrite:
            _rmtree(root)
            (out / LOG_FILE).unlink(missing_ok=True)
        elif resume is False:
            _rmtree(root)
        else:
            remove_temporary(root)
    accelerator.wait_for_everyone()
    if overwrite or resume is False:
        return None
    found = find_checkpoint(root, fingerprint, ranks=[accelerator.process_index])
    if found is None and resume:
        raise UnlearningError(
            f"resume=True (--resume) but {root} holds no checkpoint of this run to resume "
            "from; leave resume unset (or pass --no-resume) to start afresh"
        )
    return found


def run_unlearning(
    method: Method,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget: Sequence[tuple[str, str]],
    retain: Sequence[tuple[str, str]] | None = None,
    *,
    method_name: str | None = None,
    prompt_format: PromptFormat | BoundPromptFormat | None = None,
    out_dir: str | Path | None = None,
    resume: bool | None = None,
    overwrite: bool = False,
    keep_checkpoints: bool = False,
    progress: bool = True,
    accelerator: Accelerator | None = None,
) -> tuple[PreTrainedModel, UnlearnRecord]:
    """Unlearn ``forget`` (question, answer) pairs from ``model`` (trained in place).

    Returns the unlearned model (LoRA merged when ``merge_lora``) and its record. With
    ``out_dir``, writes ``log.jsonl`` and, every ``checkpoint_every`` steps, a checkpoint in
    ``out_dir/checkpoints`` (:mod:`unlearnkit.methods.checkpoint`), bound to this run's
    fingerprint (method, config, initial weights, data, prompt format, processes).

    resume: None (default) continues from this run's latest checkpoint when there is one
    and refuses (:class:`UnlearningError`) checkpoints of another run; True does the same
    but requires a checkpoint; False deletes any checkpoints and starts afresh. overwrite:
    delete the checkpoints and step log an earlier run left, and start afresh.
    keep_checkpoints: keep them after the run ends well (by default they are deleted).
    A diverged run raises :class:`DivergedError` (see the module's docstring).
    """
    cfg = method.config
    name = method_name or type(method).__name__
    # the model's own format: answers end with EOS as in fine-tuning (TOFU, open-unlearning)
    fmt = bind_prompt_format(prompt_format, tokenizer)
    if not forget:
        raise UnlearningError("the forget set is empty: nothing to unlearn")
    if method.uses_retain and not retain:
        raise UnlearningError(f"method {name!r} uses retain data: pass retain=[...] (non-empty)")
    if cfg.lora and not method.supports_lora:
        raise UnlearningError(f"method {name!r} does not train LoRA adapters; set lora=false")
    if cfg.checkpoint_every and out_dir is None:
        raise UnlearningError("checkpoint_every is set but there is no out_dir to write to")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    accelerator = accelerator or Accelerator(
        # without CUDA, processes started by `accelerate launch` / torchrun join a gloo group
        cpu=not torch.cuda.is_available(),
        log_with=list(cfg.trackers) or None,
        project_dir=str(out) if out else None,
    )
    max_len = getattr(model.config, "max_position_embeddings", None)

    # -- data: every view of every forget example, and the retain examples, encoded once ------
    view_rng = random.Random(derive_seed(cfg.seed, "views"))

    def encode(prompt: str, continuation: str) -> Encoded:
        return encode_pair(
            tokenizer,
            prompt,
            continuation,
            append_eos=fmt.eos,
            max_length=max_len,
            add_special_tokens=fmt.add_special_tokens,
            boundary=fmt.boundary,  # type: ignore[arg-type]
        )

    method.prompt_format = fmt  # views that write new answers (refusals) format them alike
    forget_enc: list[dict[str, Encoded]] = []
    for q, a in forget:
        views = method.views(*fmt.pair(q, a), view_rng)
        forget_enc.append({v: encode(p, c) for v, (p, c) in views.items()})
    retain_enc = (
        [encode(*fmt.pair(q, a)) for q, a in retain] if method.uses_retain and retain else []
    )

    # -- the output directory: this run's checkpoints only (bound to the run's fingerprint) ---
    world, rank = accelerator.num_processes, accelerator.process_index
    root = out / CHECKPOINTS if out is not None else None
    fingerprint: dict[str, Any] = {}
    latest: tuple[Path, int] | None = None
    if out is not None:
        fingerprint = run_fingerprint(
            method=name,
            config=cfg.to_dict(),
            model=model,  # the initial weights
            forget=forget,
            retain=retain or [],
            prompt_format=fmt.to_dict(),
            tokens=[
                [[v, list(e.ids), e.n_prompt] for v, e in views.items()] for views in forget_enc
            ]
            + [[list(e.ids), e.n_prompt] for e in retain_enc],
            processes=world,
        )
        latest = _resume_point(out, fingerprint, resume, overwrite, accelerator)
    elif resume:
        raise UnlearningError("resume=True needs the out_dir that holds the checkpoints")

    # -- model, reference, trainable parameters -------------------------------------------------
    reference = None
    if method.uses_reference:  # only methods that use it pay for it
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    lora_targets = lora_target_modules(model, cfg.lora_target_modules) if cfg.lora else None
    if cfg.lora:
        model = apply_lora(model, cfg)
    if cfg.gradient_checkpointing:
        set_gradient_checkpointing(model, True)
    model.train()
    ctx = UnlearnContext(
        model=model,
        tokenizer=tokenizer,
        accelerator=accelerator,
        reference=reference,
        generator=make_generator(cfg.seed, "method"),
        state={},
    )
    device0 = accelerator.device

    def one_pass(kind: str):
        """Every forget (or retain) example once, in order, in batches of batch_size."""
        if kind == "forget":
            for i in range(0, len(forget_enc), cfg.batch_size):
                chunk = forget_enc[i : i + cfg.batch_size]
                index = torch.arange(i, i + len(chunk), device=device0)
                yield {
                    v: {
                        **_batch_dict([e[v] for e in chunk], pad_token_id(tokenizer), device0),
                        "index": index,
                    }
                    for v in chunk[0]
                }
        elif kind == "retain":
            size = cfg.retain_batch_size or cfg.batch_size
            for i in range(0, len(retain_enc), size):
                yield _batch_dict(retain_enc[i : i + size], pad_token_id(tokenizer), device0)
        else:
            raise ValueError(f"data kind is 'forget' or 'retain', not {kind!r}")

    ctx.data = one_pass
    method.setup(ctx)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise UnlearningError(f"method {name!r} left no trainable parameter")
    snapshot = {n: p.detach().to("cpu", copy=True) for n, p in trainable}
    params = [p for _, p in trainable]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # the divergence guard's bound on the trained weights' RMS (see EXPLODED)
    rms0 = _weights_rms(params)
    if not math.isfinite(rms0):
        bad = next((n for n, p in trainable if not bool(torch.isfinite(p).all())), None)
        raise UnlearningError(
            f"the model's weights hold NaN or inf before unlearning (first: {bad}); the "
            "model files are damaged or an earlier run diverged: load an intact model"
            if bad is not None
            else "the model's weights are too large to measure in float32 before unlearning"
        )
    bound = EXPLODED * max(rms0, 0.01)

    fstream = _Stream(len(forget_enc), cfg.batch_size, cfg.seed, "forget", rank, world)
    rstream = (
        _Stream(
            len(retain_enc),
            cfg.retain_batch_size or cfg.batch_size,
            cfg.seed,
            "retain",
            rank,
            world,
        )
        if retain_enc
        else None
    )
    total = cfg.max_steps or max(1, (cfg.epochs * fstream.per_epoch) // cfg.grad_accum)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_schedule(cfg.scheduler, total, int(cfg.warmup_ratio * total))
    )
    if cfg.smoothing != "none" and accelerator.num_processes > 1:
        raise UnlearningError(
            f"smoothing={cfg.smoothing!r} runs on one process; launch without "
            "`accelerate launch`, or set smoothing=none"
        )
    average = WeightAverage(params) if cfg.smoothing == "weight_avg" else None
    model, optimizer = accelerator.prepare(model, optimizer)
    ctx.model = model
    if reference is not None:
        reference.to(accelerator.device)
    device, pad_id = accelerator.device, pad_token_id(tokenizer)
    state = LoopState(
        model=accelerator.unwrap_model(model),
        names=[n for n, _ in trainable],
        params=params,
        optimizer=optimizer,
        scheduler=scheduler,
        method_state=ctx.state,
        generator=ctx.generator,
        average=average,
        device=device,
    )

    start, resumed = 0, None
    saved: tuple[int, Path] | None = None  # the latest checkpoint of this run
    if latest is not None:
        state.load(latest[0], rank)
        start = resumed = latest[1]
        saved = (latest[1], latest[0])

    if cfg.trackers:
        # trackers take scalar hyperparameters: lists and null as JSON text
        hparams = {
            k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
            for k, v in cfg.to_dict().items()
        }
        accelerator.init_trackers(f"unlearnkit-{name}", config=hparams)
    log = None
    if out is not None and accelerator.is_main_process:  # one writer: the main process
        if resumed:
            _truncate_log(out / LOG_FILE, start)
        log = open(out / LOG_FILE, "a" if resumed else "w", encoding="utf-8")  # noqa: SIM115
    bar = tqdm(
        total=total,
        initial=start,
        desc=f"unlearn {name}",
        unit="step",
        disable=not progress or not accelerator.is_main_process,
        **bar_kwargs(),
        dynamic_ncols=True,
    )

    def checkpoint(step: int, rng: Any = None) -> Path:
        nonlocal saved
        assert root is not None
        path = save_checkpoint(
            root,
            step,
            state,
            fingerprint,
            rank=rank,
            is_main=accelerator.is_main_process,
            barrier=accelerator.wait_for_everyone,
            rng=rng,
        )
        saved = (step, path)
        return path

    def diverged(done: int, what: str, *, weights_bad: bool, rng: Any) -> DivergedError:
        """Put the model at its last finite state (after ``done`` steps, or earlier when the
        weights of step ``done + 1`` went bad) and the error that says where it is."""
        optimizer.zero_grad(set_to_none=True)
        if weights_bad and saved is not None:
            state.load_weights(saved[1])
            kept, path = saved[0], saved[1]
            where = f"; restored from its checkpoint {path}"
        elif weights_bad:
            with torch.no_grad():
                for n, p in trainable:
                    p.copy_(snapshot[n])
            kept, path = 0, None
            where = " (its initial weights, put back); no checkpoint was written"
        elif out is None:
            kept, path = done, None
            where = "; no checkpoint was written (no output directory)"
        elif done == 0:
            kept, path = 0, None
            where = " (its initial weights); no checkpoint was written"
        elif saved is not None and saved[0] == done:
            kept, path = done, saved[1]
            where = f", saved in {path}"
        else:
            kept, path = done, checkpoint(done, rng)
            where = f", saved in {path}"
        cause = f"method {name!r} diverged at step {done + 1}: {what}"
        return DivergedError(
            f"{cause}. The model keeps the last finite state, after {kept} steps{where}. "
            "Lower lr (or grad_clip), then start afresh with --no-resume (resume=False): "
            "resuming repeats the same steps.",
            step=kept,
            checkpoint=path,
            cause=cause,
        )

    last_terms: dict[str, float] = {}
    reset_peak_memory(accelerator.device)
    t0 = time.perf_counter()
    try:
        for step in range(start, total):
            rng_at_start = state.capture_rng() if out is not None else None
            sums: dict[str, float] = {}
            for micro in range(cfg.grad_accum):
                m = step * cfg.grad_accum + micro
                picked = fstream.indices(m)
                fb = [forget_enc[i] for i in picked]
                index = torch.tensor(picked, device=device)  # which forget examples
                fbatch = {
                    v: {**_batch_dict([e[v] for e in fb], pad_id, device), "index": index}
                    for v in fb[0]
                }
                rbatch = (
                    _batch_dict([retain_enc[i] for i in rstream.indices(m)], pad_id, device)
                    if rstream is not None
                    else None
                )
                sync = (
                    accelerator.no_sync(model)
                    if micro < cfg.grad_accum - 1
                    else contextlib.nullcontext()
                )

                def check(loss: torch.Tensor, step: int = step, rng: Any = rng_at_start) -> None:
                    if not bool(torch.isfinite(accelerator.gather(loss.detach().reshape(1))).all()):
                        bad = float(loss.detach())
                        raise diverged(step, f"the loss became {bad}", weights_bad=False, rng=rng)

                with sync:
                    terms = smoothed_backward(
                        method,
                        ctx,
                        fbatch,
                        rbatch,
                        params,
                        cfg,
                        backward=lambda loss: accelerator.backward(loss / cfg.grad_accum),
                        check=check,
                        grad_scale=1.0 / cfg.grad_accum,
                    )
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) / cfg.grad_accum
            grad_norm = accelerator.clip_grad_norm_(params, cfg.grad_clip or float("inf"))
            norm = float(grad_norm) if grad_norm is not None else 0.0
            # under fp16 mixed precision the grad scaler skips non-finite steps itself
            if not math.isfinite(norm) and accelerator.scaler is None:
                raise diverged(
                    step,
                    f"the gradient norm became {norm}",
                    weights_bad=False,
                    rng=rng_at_start,
                )
            optimizer.step()
            rms = _weights_rms(params)
            if not rms <= bound:  # NaN-safe: NaN fails every comparison
                finite = all(bool(torch.isfinite(p).all()) for p in params)
                what = (
                    f"the trained weights' RMS became {rms:.3g}, over {EXPLODED:g} times its "
                    f"initial value (bound {bound:.3g}): they exploded"
                    if finite
                    else "the optimiser step made some weights non-finite"
                )
                raise diverged(step, what, weights_bad=True, rng=rng_at_start)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            method.after_step(ctx, sums)
            if average is not None:
                average.update()
            last_terms = sums
            entry = {
                "step": step + 1,
                **sums,
                "grad_norm": norm,
                "lr": scheduler.get_last_lr()[0],
            }
            if log is not None:
                log.write(json.dumps(entry) + "\n")
                log.flush()
            if cfg.trackers:
                accelerator.log({k: v for k, v in entry.items() if k != "step"}, step=step + 1)
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss']:.4f}")
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < total:
                checkpoint(step + 1)
        if average is not None:
            average.apply()
        with torch.no_grad():
            method.finish(ctx)
    except DivergedError:
        if cfg.lora and cfg.merge_lora:  # the caller's model: plain, at the last finite state
            accelerator.unwrap_model(model).merge_and_unload()
        raise
    finally:
        bar.close()
        if log is not None:
            log.close()
        if cfg.gradient_checkpointing:  # the caller's model comes back as it was given
            set_gradient_checkpointing(accelerator.unwrap_model(model), False)
        if cfg.trackers:
            accelerator.end_training()
    wall = time.perf_counter() - t0
    if root is not None and not keep_checkpoints and accelerator.is_main_process:
        remove_checkpoints(out)  # type: ignore[arg-type]
    accelerator.wait_for_everyone()

    model = accelerator.unwrap_model(model)
    changed = 0
    for n, p in model.named_parameters():
        if n in snapshot:
            changed += int((p.detach().cpu() != snapshot[n]).sum())
    n_trainable = sum(t.numel() for t in snapshot.values())
    if cfg.lora and cfg.merge_lora:
        model = model.merge_and_unload()
    model.eval()
    n_total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    record = UnlearnRecord(
        method=name,
        config=cfg.to_dict(),
        steps=total,
        forget_examples=len(forget_enc),
        retain_examples=len(retain_enc),
        wall_time_s=wall,
        peak_memory_mb=peak_memory_mb(accelerator.device),
        parameters_total=n_total,
        parameters_trainable=n_trainable,
        parameters_changed=changed,
        final_losses=last_terms,
        resumed_from_step=resumed,
        log_path=str(out / LOG_FILE) if out else None,
        details={
            **({"lora_target_modules": lora_targets} if lora_targets else {}),
            **ctx.state.get("details", {}),
        },
    )
    return model, record


def run_edit(
    method: Any,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget: Sequence[tuple[str, str]],
    retain: Sequence[tuple[str, str]] | None = None,
    *,
    method_name: str | None = None,
    prompt_format: PromptFormat | BoundPromptFormat | None = None,
) -> tuple[PreTrainedModel, UnlearnRecord]:
    """Apply an editing method (:class:`~unlearnkit.methods.base.EditMethod`) to ``model``
    in place and return it with its record (0 steps; ``details`` holds what it did)."""
    name = method_name or type(method).__name__
    if not forget:
        raise UnlearningError("the forget set is empty: nothing to unlearn")
    if method.uses_retain and not retain:
        raise UnlearningError(f"method {name!r} uses retain data: pass retain=[...] (non-empty)")
    if getattr(method.config, "lora", False):
        raise UnlearningError(f"method {name!r} does not train LoRA adapters; set lora=false")
    snapshot = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters()}
    device = next(model.parameters()).device
    reset_peak_memory(device)
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        details = method.edit(
            model,
            tokenizer,
            list(forget),
            list(retain or []),
            bind_prompt_format(prompt_format, tokenizer),
        )
    wall = time.perf_counter() - t0
    changed = edited = 0
    for n, p in model.named_parameters():
        moved = int((p.detach().cpu() != snapshot[n]).sum())
        changed += moved
        edited += p.numel() if moved else 0
    record = UnlearnRecord(
        method=name,
        config=method.config.to_dict(),
        steps=0,
        forget_examples=len(forget),
        retain_examples=len(retain or []),
        wall_time_s=wall,
        peak_memory_mb=peak_memory_mb(device),
        parameters_total=sum(p.numel() for p in model.parameters()),
        parameters_trainable=edited,
        parameters_changed=changed,
        final_losses={},
        resumed_from_step=None,
        log_path=None,
        details=details,
    )
    return model, record


def run_wrap(
    method: Any,
    adapter: Any,
    forget: Sequence[tuple[str, str]],
    retain: Sequence[tuple[str, str]] | None = None,
    *,
    method_name: str | None = None,
) -> tuple[Any, UnlearnRecord]:
    """Apply an inference-time method (:class:`~unlearnkit.methods.base.InferenceMethod`):
    the wrapped adapter and its record (0 steps, 0 parameters changed)."""
    name = method_name or type(method).__name__
    if not forget:
        raise UnlearningError("the forget set is empty: nothing to unlearn")
    if method.uses_retain and not retain:
        raise UnlearningError(f"method {name!r} uses retain data: pass retain=[...] (non-empty)")
    t0 = time.perf_counter()
    wrapped, details = method.wrap(adapter, list(forget), list(retain or []))
    record = UnlearnRecord(
        method=name,
        config=method.config.to_dict(),
        steps=0,
        forget_examples=len(forget),
        retain_examples=len(retain or []),
        wall_time_s=time.perf_counter() - t0,
        peak_memory_mb=0.0,
        parameters_total=sum(p.numel() for p in adapter.model.parameters()),
        parameters_trainable=0,
        parameters_changed=0,
        final_losses={},
        resumed_from_step=None,
        log_path=None,
        details=details,
    )
    return wrapped, record
