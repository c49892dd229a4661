"""The method contract: a config dataclass + a small class, registered by its paper's name.

A gradient method composes loss terms (``unlearnkit.methods.losses``) on a forget batch and,
when it uses one, a retain batch; the shared loop (:mod:`unlearnkit.methods.loop`) does
everything else (batching, LoRA, optimiser, schedules, clipping, checkpoints, logging)::

    @METHODS.register("npo", paper="arXiv:2404.05868", description="Negative Preference ...")
    class NPO(Method):
        config_class = NPOConfig
        uses_reference = True
        uses_retain = True

        def loss(self, ctx, forget, retain): ...
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from unlearnkit.core.config import Config, param
from unlearnkit.core.registry import Registry

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Every unlearning method, by its paper's name (``unlearnkit list methods``).
METHODS: Registry[type[Method] | type[EditMethod]] = Registry("method")

#: LoRA's default targets: every Linear / Conv1D layer of the transformer blocks, whatever
#: the architecture (``unlearnkit.methods.loop.lora_target_modules`` resolves it per model)
DEFAULT_LORA_TARGETS: Literal["all-linear", "peft"] = "all-linear"


@dataclass(frozen=True)
class UnlearnConfig(Config):
    """Settings of the shared unlearning loop, inherited by every method's config.

    epochs: passes over the forget set (one step = one forget batch; ``max_steps`` caps it).
    batch_size / retain_batch_size: examples per forget / retain batch (retain defaults to
    batch_size). grad_accum: micro-batches per optimiser step. lr, scheduler ("constant",
    "linear" or "cosine" decay after ``warmup_ratio`` of the steps), weight_decay, grad_clip
    (max global grad norm; null = off). seed: batch order and any random choice.
    checkpoint_every: save a resumable checkpoint every N steps (needs an output directory).
    trackers: accelerate trackers to log to besides the JSONL log (tensorboard, wandb, mlflow).
    lora: train LoRA adapters (peft) instead of full weights, with lora_rank, lora_alpha,
    lora_dropout on lora_target_modules: "all-linear" (default: every Linear / Conv1D layer
    of the transformer blocks, i.e. attention and MLP projections, found per architecture),
    "peft" (peft's own choice for the architecture, e.g. q_proj/v_proj on Llama, c_attn on
    GPT-2) or a list of module names; merge_lora merges them into the weights at the end.
    gradient_checkpointing: recompute the blocks' activations in the backward pass instead
    of keeping them (large models: less memory, ~1 more forward pass of time, same loss).
    smoothing: a smoothness defence on the forget objective (Unlearn-Smooth,
    :mod:`unlearnkit.methods.smoothing`): none, sam, random, grad_penalty, curvature or
    weight_avg, with smooth_rho (SAM radius, relative noise scale, finite-difference step)
    and smooth_weight (μ of the penalties).
    """

    epochs: int = param(5, ge=1)
    max_steps: int | None = param(None, ge=1)
    batch_size: int = param(16, ge=1)
    retain_batch_size: int | None = param(None, ge=1)
    grad_accum: int = param(1, ge=1)
    lr: float = param(1e-3, gt=0)
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_ratio: float = param(0.0, ge=0, lt=1)
    weight_decay: float = param(0.0, ge=0)
    grad_clip: float | None = param(1.0, gt=0)
    seed: int = 0
    checkpoint_every: int | None = param(None, ge=1)
    trackers: tuple[str, ...] = param(default=(), choices=None)
    lora: bool = False
    lora_rank: int = param(8, ge=1)
    lora_alpha: float = param(16.0, gt=0)
    lora_dropout: float = param(0.0, ge=0, lt=1)
    lora_target_modules: Literal["all-linear", "peft"] | tuple[str, ...] = DEFAULT_LORA_TARGETS
    merge_lora: bool = True
    gradient_checkpointing: bool = False
    smoothing: Literal["none", "sam", "random", "grad_penalty", "curvature", "weight_avg"] = "none"
    smooth_rho: float = param(0.01, gt=0)
    smooth_weight: float = param(0.1, ge=0)

    def validate(self) -> None:
        known = {"tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive"}
        for t in self.trackers:
            if t not in known:
                self.fail("trackers", self.trackers, f"unknown tracker {t!r}; use {sorted(known)}")
        if not self.lora_target_modules:
            self.fail(
                "lora_target_modules",
                self.lora_target_modules,
                "give at least one module name, or all-linear / peft to find them per model",
            )


@dataclass(frozen=True)
class RetainConfig(UnlearnConfig):
    """A loop config with a retain term: ``alpha`` weighs the retain loss."""

    alpha: float = param(1.0, ge=0)


@dataclass(frozen=True)
class EditConfig(Config):
    """Settings every editing method shares. seed: any random choice it makes."""

    seed: int = 0


def load_refusals(path: str | Path | None = None) -> list[str]:
    """Refusal answers ("I don't know"-style) for the ``idk_*`` methods: one per line of
    ``path``, or the list the toolkit ships (``methods/data/refusals.txt``)."""
    if path is None:
        text = (
            resources.files("unlearnkit.methods").joinpath("data/refusals.txt").read_text("utf-8")
        )
        source = "the shipped list"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"refusals file {p} does not exist")
        text, source = p.read_text("utf-8"), str(p)
    refusals = [line.strip() for line in text.splitlines() if line.strip()]
    if not refusals:
        raise ValueError(f"no refusal answers in {source}: give one per line")
    return refusals


@dataclass
class UnlearnContext:
    """What a method sees while it runs (built by the loop)."""

    model: PreTrainedModel  # possibly wrapped (DDP, peft); call it, don't poke inside
    tokenizer: PreTrainedTokenizerBase
    accelerator: Accelerator
    reference: PreTrainedModel | None  # frozen copy of the model before unlearning
    generator: torch.Generator  # seeded, for methods that draw random numbers
    state: dict[str, Any]  # per-run state a method keeps (e.g. RMU's control vector)
    #: one pass over the data in a fixed order, for a method's setup (e.g. LoKU's Fisher
    #: importance): ``data("forget")`` yields view -> batch dicts, ``data("retain")`` batches
    data: Callable[[str], Iterator[Any]] | None = None

    @property
    def base_model(self) -> PreTrainedModel:
        """The unwrapped model (no DDP / peft wrapper), for reading its config or modules."""
        model = self.accelerator.unwrap_model(self.model)
        return model.get_base_model() if hasattr(model, "get_base_model") else model


class Method(ABC):
    """Base class of gradient methods. Subclasses set ``config_class`` and implement ``loss``.

    family: the model family (every family's methods share the one ``METHODS`` registry,
    and each family's entry point refuses another family's methods). uses_retain: needs
    retain batches. uses_reference: needs a frozen copy of the original model (created by
    the loop only for such methods). edits_base_weights: see below.
    """

    #: the model family the method unlearns (its entry point: :func:`unlearnkit.methods.unlearn`)
    family: ClassVar[str] = "lm"
    config_class: ClassVar[type[UnlearnConfig]] = UnlearnConfig
    uses_retain: ClassVar[bool] = False
    uses_reference: ClassVar[bool] = False
    #: under LoRA, the method also rewrites the frozen base weights at setup, keeping the
    #: model's function (LoKU's Fisher-weighted initialisation)
    edits_base_weights: ClassVar[bool] = False
    #: the method can train LoRA adapters (``lora=true``)
    supports_lora: ClassVar[bool] = True
    #: the method needs a mixture-of-experts model (UOE)
    requires_moe: ClassVar[bool] = False

    def __init__(self, config: UnlearnConfig | Mapping[str, Any] | None = None) -> None:
        self.config = self.config_class.coerce(config, type(self).__name__)
        #: the model's prompt format bound to its tokenizer, set by the loop before
        #: :meth:`views` (views that write new answers format them with it)
        self.prompt_format: Any = None

    def views(self, prompt: str, answer: str, rng: random.Random) -> dict[str, tuple[str, str]]:
        """The (prompt, continuation) sequences made from one forget example (``answer`` is
        the formatted continuation, EOS included when the format has it). The default is
        the example itself under "forget"; refusal-based methods add an "idk" view."""
        return {"forget": (prompt, answer)}

    def setup(self, ctx: UnlearnContext) -> None:
        """Called once before the first step (freeze parameters, draw vectors, ...).
        The default trains every parameter and keeps no state."""
        return None

    def finish(self, ctx: UnlearnContext) -> None:
        """Called once after the last step, before LoRA adapters are merged (edit the
        trained weights, e.g. negate a task vector). The default does nothing."""
        return None

    @abstractmethod
    def loss(
        self,
        ctx: UnlearnContext,
        forget: dict[str, dict[str, torch.Tensor]],
        retain: dict[str, torch.Tensor] | None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms for one step; must include ``"loss"``, the total to minimise.

        ``forget`` maps each view name to a batch (input_ids, attention_mask, labels, and
        ``index``: which forget examples, for values cached per example); ``retain`` is a
        retain batch or None. With None the terms must be the forget part alone (the
        smoothing defences ask for it), and ``loss`` must not change state: keep updates
        that follow a step (a dual variable) in :meth:`after_step`.
        """

    def after_step(self, ctx: UnlearnContext, terms: dict[str, float]) -> None:
        """Called after each optimiser step with that step's terms (averaged over its
        micro-batches). The default does nothing."""
        return None


class EditMethod(ABC):
    """Base class of editing methods: a closed-form change of a few weights, no training
    loop. Subclasses set ``config_class`` (an :class:`EditConfig`) and implement ``edit``;
    :func:`unlearnkit.methods.unlearn` runs them and writes the same record as for
    gradient methods (0 steps)."""

    family: ClassVar[str] = "lm"  # causal LMs, like the gradient methods
    config_class: ClassVar[type[EditConfig]] = EditConfig
    uses_retain: ClassVar[bool] = False
    uses_reference: ClassVar[bool] = False
    edits_base_weights: ClassVar[bool] = False
    supports_lora: ClassVar[bool] = False

    def __init__(self, config: EditConfig | Mapping[str, Any] | None = None) -> None:
        self.config = self.config_class.coerce(config, type(self).__name__)

    def views(self, prompt: str, answer: str, rng: random.Random) -> dict[str, tuple[str, str]]:
        return {"forget": (prompt, answer)}

    @abstractmethod
    def edit(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        forget: list[tuple[str, str]],
        retain: list[tuple[str, str]],
        prompt_format: Any,
    ) -> dict[str, Any]:
        """Edit ``model`` in place to forget the (question, answer) pairs ``forget``
        (``retain``: data to keep, e.g. for statistics); return what was done (numbers and
        short lists, kept in the record's ``details``), including ``objective_before`` and
        ``objective_after``: the method's own objective before and after the edit (the
        conformance suite checks that it falls)."""


class InferenceMethod(EditMethod):
    """Base class of inference-time methods: no weight changes; the method wraps the
    adapter (an instruction before every prompt, a guard on the decoding, ...) and the
    wrapper is saved with the model. Subclasses set ``config_class`` (an
    :class:`EditConfig`) and implement ``wrap``."""

    def edit(self, model, tokenizer, forget, retain, prompt_format) -> dict[str, Any]:
        raise TypeError("inference-time methods wrap the adapter; call wrap()")

    @abstractmethod
    def wrap(
        self, adapter: Any, forget: list[tuple[str, str]], retain: list[tuple[str, str]]
    ) -> tuple[Any, dict[str, Any]]:
        """The wrapped adapter for forgetting ``forget`` (``retain``: what to keep), and
        what was done (kept in the record's ``details``)."""
