"""Inference-time wrappers: causal-LM adapters that change how the model answers without
changing its weights, saved with the model (``unlearnkit.json`` key ``inference_time``) and
wrapped again when :meth:`CausalLMAdapter.from_pretrained` loads it.

Every wrapper subclasses :class:`InferenceWrapper`, which implements what they share once
(``describe``, ``fingerprint``, ``like``, ``save``, ``from_meta``) and registers the
subclass under its ``kind``. The built-in kinds: ``prompt`` (an instruction before every
prompt), ``guard`` (forbidden tokens pushed down for prompts about a target), ``agentic``
(detect, draft, rewrite, critic, compose) and ``uld`` (the target's logits minus an
assistant's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from unlearnkit.core.cache import content_hash
from unlearnkit.core.errors import RegistryError
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

#: every wrapper class by its ``kind`` (filled as the classes are defined)
WRAPPERS: dict[str, type[InferenceWrapper]] = {}


class InferenceWrapper(CausalLMAdapter):
    """Base class of the inference-time wrappers.

    A subclass sets ``kind`` (its key in a saved model; it is registered in
    :data:`WRAPPERS` when the class is defined) and ``options``: the names of its
    constructor's keyword arguments that describe it, each kept as an attribute of the same
    name. Those are what is saved, what the fingerprint covers besides the weights, and
    what :meth:`like` and :meth:`from_meta` pass to the constructor again.
    """

    kind: ClassVar[str] = ""
    options: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if not kind:
            return
        known = WRAPPERS.get(kind)
        if known is not None and _path(known) != _path(cls):  # the same class, reloaded: fine
            raise RegistryError(
                f"two inference-time wrappers have the kind {kind!r}: {_path(known)} and "
                f"{_path(cls)}; give one of them another kind"
            )
        WRAPPERS[kind] = cls

    @classmethod
    def around(
        cls, adapter: CausalLMAdapter, *, model: torch.nn.Module | None = None, **options: Any
    ) -> Self:
        """This wrapper with ``options`` around ``model`` (default: ``adapter``'s), with
        ``adapter``'s tokenizer, batch size, length limit and prompt format."""
        return cls(
            adapter.model if model is None else model,
            adapter.tokenizer,
            batch_size=adapter.batch_size,
            max_length=adapter.max_length,
            prompt_format=adapter.prompt_format,
            **options,
        )

    def option_values(self) -> dict[str, Any]:
        """The constructor's keyword arguments that rebuild this wrapper (its ``options``)."""
        return {name: getattr(self, name) for name in self.options}

    def describe(self) -> dict[str, Any]:
        """What is saved with the model (``unlearnkit.json`` key ``inference_time``)."""
        return {"kind": self.kind, **self.option_values()}

    def fingerprint(self) -> str:
        """The weights' fingerprint and the wrapper's description, hashed together."""
        return content_hash({"weights": super().fingerprint(), "wrapper": self.describe()})

    def like(self, model: torch.nn.Module) -> Self:
        return self.around(self, model=model, **self.option_values())

    @property
    def saved_model(self) -> torch.nn.Module:
        """The model whose weights :meth:`save` writes (ULD: the target, its assistant is
        saved next to it)."""
        return self.model

    def save(self, path: str | Path) -> Path:
        from unlearnkit.models.loading import save_causal_lm

        return save_causal_lm(
            self.saved_model,
            self.tokenizer,
            path,
            prompt_format=self.prompt_format,
            extra={"inference_time": self.describe()},
        )

    @classmethod
    def from_meta(cls, adapter: CausalLMAdapter, meta: dict[str, Any]) -> Self:
        """``adapter`` wrapped as a saved ``inference_time`` entry describes (``meta``: that
        entry, plus ``directory``, the model directory)."""
        return cls.around(adapter, **{name: meta[name] for name in cls.options})


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def wrapper_kinds() -> dict[str, type[InferenceWrapper]]:
    """Every registered wrapper class by kind, the built-in ones included."""
    # importing the built-in wrappers' modules registers them
    from unlearnkit.models.adapters import agentic, guarded, logit_difference, prompted  # noqa: F401

    return dict(WRAPPERS)


def wrap_saved(adapter: CausalLMAdapter, meta: dict[str, Any]) -> CausalLMAdapter:
    """``adapter`` wrapped as a saved ``inference_time`` entry describes."""
    kinds = wrapper_kinds()
    kind = meta.get("kind")
    if kind not in kinds:
        raise ValueError(
            f"unknown inference-time wrapper {kind!r} in the model directory; this "
            f"unlearnkit knows {sorted(kinds)}"
        )
    return kinds[kind].from_meta(adapter, meta)


__all__ = ["WRAPPERS", "InferenceWrapper", "wrap_saved", "wrapper_kinds"]
