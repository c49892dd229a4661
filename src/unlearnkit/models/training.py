"""Training a causal LM on (prompt, completion) pairs: a short loop on ``accelerate``,
readable top to bottom, that runs unchanged on a CPU, one GPU or many (``accelerate launch``).

Loss is next-token cross-entropy on completion tokens only (prompt positions are -100);
a raw text is a pair with an empty prompt. Batches come from a seeded length-bucketing
sampler: similar lengths share a batch (little padding), the order is reshuffled every epoch
from ``derive_seed(seed, epoch)``, and the global RNG is never used.
"""

from __future__ import annotations

import json
import math
import random
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.progress import bar_kwargs
from unlearnkit.core.seeding import derive_seed
from unlearnkit.data.formatting import BoundPromptFormat, PromptFormat, bind_prompt_format
from unlearnkit.models.encoding import Encoded, collate, encode_pair, pad_token_id


class TrainingError(UnlearnkitError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


@dataclass(frozen=True)
class TrainConfig(Config):
    """How to train from scratch.

    epochs: passes over the data. batch_size: examples per optimiser step.
    lr: peak learning rate (AdamW); warmup over ``warmup_ratio`` of the steps, then cosine
    decay to ``lr * min_lr_ratio``. grad_clip: max global grad norm (null = no clipping).
    bucket_size: the sampler sorts pools of ``bucket_size * batch_size`` shuffled examples
    by length before cutting them into batches. seed: data order (weights are seeded by the
    model builder).
    """

    epochs: int = param(16, ge=1)
    batch_size: int = param(32, ge=1)
    lr: float = param(4e-3, gt=0)
    min_lr_ratio: float = param(0.1, ge=0, le=1)
    warmup_ratio: float = param(0.03, ge=0, lt=1)
    weight_decay: float = param(0.0, ge=0)
    grad_clip: float | None = param(1.0, gt=0)
    bucket_size: int = param(50, ge=1)
    seed: int = 0


@dataclass(frozen=True)
class TrainExample:
    """One training pair. ``prompt`` may be empty (raw text: all of it is learnt)."""

    prompt: str
    completion: str


@dataclass(frozen=True)
class TrainRecord:
    """What a training run did and cost."""

    steps: int
    epochs: int
    examples: int
    tokens: int  # completion tokens seen, summed over epochs
    final_loss: float
    wall_time_s: float
    peak_memory_mb: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LengthBucketSampler(Sampler[list[int]]):
    """Yields batches of indices with similar lengths; reshuffled (seeded) every epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, bucket_size: int, seed: int):
        self.lengths, self.batch_size = list(lengths), batch_size
        self.pool = batch_size * bucket_size
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(derive_seed(self.seed, "epoch", self.epoch))
        self.epoch += 1
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches: list[list[int]] = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=lambda i: self.lengths[i])
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        yield from batches


def lr_schedule(kind: str, total: int, warmup: int, min_ratio: float = 0.0):
    """The learning-rate factor at each step (for ``LambdaLR``): linear warmup over
    ``warmup`` steps, then "constant", "linear" decay or "cosine" decay from 1 to
    ``min_ratio`` at step ``total``. One schedule for training and unlearning."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        shape = 1.0 - progress if kind == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
        return min_ratio + (1 - min_ratio) * shape

    return f


def reset_peak_memory(device: torch.device | None = None) -> None:
    """Start a new peak-memory measurement (CUDA only: see :func:`peak_memory_mb`)."""
    if device is not None and device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device | None = None) -> float:
    """On CUDA: the peak allocated memory since :func:`reset_peak_memory` (one run). On CPU:
    the process's peak resident set size, which cannot be reset — it covers everything the
    process did before too, so compare CPU figures only between separate processes."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def train_causal_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[TrainExample],
    config: TrainConfig,
    *,
    progress: bool = True,
    desc: str = "train",
    log_path: str | Path | None = None,
    accelerator: Accelerator | None = None,
    prompt_format: PromptFormat | BoundPromptFormat | None = None,
) -> TrainRecord:
    """Train ``model`` in place on ``examples`` and return a :class:`TrainRecord`.

    prompt_format: the format the examples were written in (default: ours); it decides
    whether EOS ends each completion, where the completion's tokens start and whether the
    tokenizer adds its BOS (see :mod:`unlearnkit.data.formatting`)."""
    if not examples:
        raise TrainingError("no training examples: the training set is empty")
    accelerator = accelerator or Accelerator()
    max_len = getattr(model.config, "max_position_embeddings", None)
    fmt = bind_prompt_format(prompt_format, tokenizer)
    encoded: list[Encoded] = [
        encode_pair(
            tokenizer,
            ex.prompt,
            ex.completion,
            append_eos=fmt.eos,
            max_length=max_len,
            add_special_tokens=fmt.add_special_tokens,
            boundary=fmt.boundary,  # type: ignore[arg-type]
        )
        for ex in examples
    ]
    sampler = LengthBucketSampler(
        [len(e.ids) for e in encoded], config.batch_size, config.bucket_size, config.seed
    )
    pad_id = pad_token_id(tokenizer)
    loader = DataLoader(
        encoded,  # a list is a map-style dataset
        batch_sampler=sampler,
        collate_fn=lambda items: _as_inputs(collate(items, pad_id)),
    )
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.95),
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    total = config.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lr_schedule("cosine", total, max(1, int(config.warmup_ratio * total)), config.min_lr_ratio),
    )
    log = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115
    bar = tqdm(
        total=total,
        desc=desc,
        disable=not progress or not accelerator.is_main_process,
        **bar_kwargs(),
        unit="step",
        dynamic_ncols=True,
    )
    model.train()
    reset_peak_memory(accelerator.device)
    step, tokens, loss_value, start = 0, 0, math.nan, time.perf_counter()
    try:
        for epoch in range(config.epochs):
            for batch in loader:
                out = model(**batch)  # HF shifts labels and averages over non -100 tokens
                loss = out.loss
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise TrainingError(
                        f"loss became {loss_value} at step {step} (epoch {epoch}); "
                        "lower the learning rate or enable gradient clipping"
                    )
                accelerator.backward(loss)
                if config.grad_clip is not None:
                    accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                tokens += int((batch["labels"] != -100).sum())
                step += 1
                bar.update(1)
                if step % 20 == 0 or step == total:
                    bar.set_postfix(loss=f"{loss_value:.4f}", epoch=epoch)
                if log is not None:
                    lr = scheduler.get_last_lr()[0]
                    log.write(
                        json.dumps({"step": step, "epoch": epoch, "loss": loss_value, "lr": lr})
                    )
                    log.write("\n")
    finally:
        bar.close()
        if log is not None:
            log.close()
    model.eval()
    return TrainRecord(
        steps=step,
        epochs=config.epochs,
        examples=len(encoded),
        tokens=tokens,
        final_loss=loss_value,
        wall_time_s=time.perf_counter() - start,
        peak_memory_mb=peak_memory_mb(accelerator.device),
    )


def _as_inputs(batch: Any) -> dict[str, torch.Tensor]:
    return {
        "input_ids": batch.input_ids,
        "attention_mask": batch.attention_mask,
        "labels": batch.labels,
    }
