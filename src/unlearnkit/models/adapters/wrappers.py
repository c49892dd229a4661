"""Inference-time wrappers saved with a model, by kind (``unlearnkit.json`` key
``inference_time``): ``prompt`` (an instruction before every prompt), ``guard`` (forbidden
tokens pushed down for prompts about a target) and ``agentic`` (detect, draft, rewrite,
critic, compose) and ``uld`` (the target's logits minus an assistant's)."""

from __future__ import annotations

from typing import Any

from unlearnkit.models.adapters.causal_lm import CausalLMAdapter


def wrap_saved(adapter: CausalLMAdapter, meta: dict[str, Any]) -> CausalLMAdapter:
    """``adapter`` wrapped as a saved ``inference_time`` entry describes."""
    from unlearnkit.models.adapters.agentic import agentic_from_meta
    from unlearnkit.models.adapters.guarded import guarded_from_meta
    from unlearnkit.models.adapters.logit_difference import uld_from_meta
    from unlearnkit.models.adapters.prompted import prompted_from_meta

    kinds = {
        "prompt": prompted_from_meta,
        "guard": guarded_from_meta,
        "agentic": agentic_from_meta,
        "uld": uld_from_meta,
    }
    kind = meta.get("kind")
    if kind not in kinds:
        raise ValueError(
            f"unknown inference-time wrapper {kind!r} in the model directory; this "
            f"unlearnkit knows {sorted(kinds)}"
        )
    return kinds[kind](adapter, meta)


__all__ = ["wrap_saved"]
