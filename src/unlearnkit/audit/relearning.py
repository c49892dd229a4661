"""Relearning attack: fine-tune the unlearned model a few steps and watch the facts return.

A model that only suppressed the forget set relearns it far faster than a model that never
knew it, and relearning one part of the forget set brings back the other part (Hu et al.
2024, "Jogging the memory of unlearned LLMs", arXiv:2406.13356; Lynch et al. 2024,
arXiv:2402.16835). The attack fine-tunes a copy of the model with AdamW on ``relearn``
pairs (a part of the forget set, or related non-forget data) and measures the knowledge of
the held-out ``measure`` records after each step count of a ladder (default 1, 4, 16, 64
cumulative steps). A fresh model run through the same steps (the oracle) shows what
relearning teaches on its own.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from unlearnkit.core.config import Config, param
from unlearnkit.core.seeding import derive_seed
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, eval_mode
from unlearnkit.models.encoding import collate, encode_pair


@dataclass(frozen=True)
class RelearnConfig(Config):
    """steps: the cumulative step counts at which knowledge is measured. lr, batch_size:
    of the AdamW fine-tuning (full weights, or LoRA adapters of ``lora_rank`` on the
    attention and MLP projections with ``lora=True``). fraction: the share of the forget
    set relearned (the rest is measured). seed: which records are relearned, and their order.
    """

    steps: tuple[int, ...] = (1, 4, 16, 64)
    lr: float = param(1e-3, gt=0)
    batch_size: int = param(8, ge=1)
    fraction: float = param(0.5, gt=0, lt=1)
    lora: bool = False
    lora_rank: int = param(4, ge=1)
    seed: int = 0

    def validate(self) -> None:
        if not self.steps or any(s < 1 for s in self.steps):
            self.fail("steps", self.steps, "give step counts >= 1, e.g. [1, 4, 16, 64]")


@dataclass
class RelearnCurve:
    """Knowledge of the measured records after each step count (0 = before relearning)."""

    steps: list[int]
    values: list[float]
    config: dict[str, Any] = field(default_factory=dict)

    def at(self, step: int) -> float:
        return self.values[self.steps.index(step)]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "values": self.values, "config": self.config}


def split_records(
    records: Sequence[Mapping[str, Any]], fraction: float, seed: int
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(relearned, measured): a seeded ``fraction`` of ``records`` and the rest (each
    keeps at least one record)."""
    if len(records) < 2:
        raise ValueError("relearning needs at least two records (one to relearn, one to measure)")
    order = list(range(len(records)))
    random.Random(derive_seed(seed, "relearn-split")).shuffle(order)
    k = min(max(1, round(fraction * len(records))), len(records) - 1)
    chosen = set(order[:k])
    relearned = [r for i, r in enumerate(records) if i in chosen]
    measured = [r for i, r in enumerate(records) if i not in chosen]
    return relearned, measured


def relearn(
    adapter: CausalLMAdapter,
    relearn_records: Sequence[Mapping[str, Any]],
    measure: Callable[[CausalLMAdapter], float],
    config: RelearnConfig | None = None,
) -> RelearnCurve:
    """Fine-tune a copy of ``adapter``'s model on ``relearn_records`` (question, answer; or
    ``text`` records, learnt whole) and
    return ``measure(copy)`` before and after each step count of ``config.steps``.

    The adapter's own model is left untouched.
    """
    from unlearnkit.methods.forward import logits
    from unlearnkit.methods.losses import nll_loss

    cfg = config or RelearnConfig()
    if not relearn_records:
        raise ValueError("no records to relearn on")
    model = copy.deepcopy(adapter.model)
    if cfg.lora:
        from unlearnkit.methods.base import DEFAULT_LORA_TARGETS
        from unlearnkit.methods.loop import apply_lora

        lora = _LoraSettings(cfg.lora_rank, 2.0 * cfg.lora_rank, 0.0, DEFAULT_LORA_TARGETS)
        with torch.random.fork_rng(devices=[]):  # seeded adapters; the caller's RNG untouched
            torch.manual_seed(derive_seed(cfg.seed, "relearn-lora"))
            model = apply_lora(model, lora)
    attacked = adapter.like(model)  # measured as deployed (any inference-time wrapper kept)
    fmt = adapter.prompt_format
    encoded = [
        encode_pair(
            adapter.tokenizer,
            *(
                ("", str(r["text"]))  # a raw text is learnt whole, as it was trained
                if "question" not in r and "text" in r
                else fmt.pair(str(r["question"]), str(r["answer"]))
            ),
            max_length=adapter.max_length,
        )
        for r in relearn_records
    ]
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    rng = random.Random(derive_seed(cfg.seed, "relearn-order"))
    queue: list[int] = []
    ladder = sorted(set(cfg.steps))
    steps, values = [0], [measure(attacked)]
    done = 0
    for target in ladder:
        model.train()
        while done < target:
            if len(queue) < cfg.batch_size:  # a new shuffled pass over the records
                order = list(range(len(encoded)))
                rng.shuffle(order)
                queue.extend(order)
            picked, queue = queue[: cfg.batch_size], queue[cfg.batch_size :]
            batch = collate([encoded[i] for i in picked], adapter.pad_id).to(adapter.device)
            loss = nll_loss(
                *logits(
                    model,
                    {
                        "input_ids": batch.input_ids,
                        "attention_mask": batch.attention_mask,
                        "labels": batch.labels,
                    },
                )
            )
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(
                    f"relearning loss is {float(loss.detach())} at step {done + 1}"
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            done += 1
        with eval_mode(model):
            steps.append(target)
            values.append(measure(attacked))
    return RelearnCurve(steps, values, cfg.to_dict())


def steps_to_recover(
    curve: RelearnCurve, unlearned: float, target: float, share: float = 0.5
) -> int | None:
    """The first step count whose knowledge closed ``share`` of the gap between the
    unlearned model and the target (None: never within the ladder; 0: nothing to close)."""
    if target - unlearned <= 1e-9:
        return 0
    goal = unlearned + share * (target - unlearned)
    for step, value in zip(curve.steps, curve.values, strict=True):
        if value >= goal:
            return step
    return None


@dataclass(frozen=True)
class _LoraSettings:
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    lora_target_modules: tuple[str, ...]


__all__ = ["RelearnConfig", "RelearnCurve", "relearn", "split_records", "steps_to_recover"]
