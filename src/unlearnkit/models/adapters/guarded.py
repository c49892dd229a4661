"""An inference-time guard: prompts about a forget target are answered with the target's
forbidden tokens pushed down (GUARD, arXiv:2505.13312).

No weight changes. A prompt is *about* a target when it contains the target's name, or a
run of tokens whose mean input embedding is close (cosine >= ``detect_threshold``) to the
name's (a misspelt or re-tokenised name). For such prompts, every logit of a forbidden
token is lowered by ``penalty`` in teacher-forced scoring and in generation alike (a
forward hook on the output layer), so every metric and attack sees the guarded model.
Other prompts are answered by the bare model. Saved with the model like the prompted
wrapper (``unlearnkit.json`` key ``inference_time``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnkit.models.adapters.causal_lm import ContinuationScores
from unlearnkit.models.adapters.wrappers import InferenceWrapper


@contextlib.contextmanager
def penalised(model: PreTrainedModel, token_ids: Sequence[int], penalty: float) -> Iterator[None]:
    """While open, the output layer of ``model`` gives ``token_ids`` logits lowered by
    ``penalty`` (a forward hook, removed on exit)."""
    head = model.get_output_embeddings()
    bias = torch.zeros(head.weight.shape[0], device=head.weight.device)
    bias[list(token_ids)] = -penalty
    handle = head.register_forward_hook(lambda mod, args, out: out + bias.to(out.dtype))
    try:
        yield
    finally:
        handle.remove()


class GuardedAdapter(InferenceWrapper):
    """targets: the names guarded. forbidden: token ids pushed down by ``penalty`` for
    prompts about a target. detect_threshold: cosine of mean input embeddings above which a
    token run counts as a target's name."""

    kind = "guard"
    options = ("targets", "forbidden", "penalty", "detect_threshold")

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        targets: Sequence[str],
        forbidden: Sequence[int],
        penalty: float = 10.0,
        detect_threshold: float = 0.95,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if not targets:
            raise ValueError("a guard needs at least one target")
        self.targets = list(targets)
        self.forbidden = sorted({int(i) for i in forbidden})
        self.penalty = float(penalty)
        self.detect_threshold = float(detect_threshold)
        self._target_vectors = [self._mean_embedding(self._ids(t)) for t in self.targets]

    # -- detection ------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _mean_embedding(self, ids: Sequence[int]) -> torch.Tensor:
        table = self.model.get_input_embeddings().weight.detach().float()
        return table[torch.tensor(list(ids) or [0], device=table.device)].mean(0)

    def about_target(self, prompt: str) -> bool:
        """Whether ``prompt`` names a target: exactly (case-insensitive), or through a run of
        tokens whose mean embedding is within ``detect_threshold`` cosine of the name's."""
        low = prompt.lower()
        if any(t.lower() in low for t in self.targets):
            return True
        ids = self._ids(prompt)
        table = self.model.get_input_embeddings().weight.detach().float()
        emb = table[torch.tensor(ids, device=table.device)] if ids else None
        for target, vector in zip(self.targets, self._target_vectors, strict=True):
            n = len(self._ids(target))
            if emb is None or n == 0 or len(ids) < n:
                continue
            windows = emb.unfold(0, n, 1).mean(-1)  # (positions, H)
            cos = torch.nn.functional.cosine_similarity(windows, vector[None, :], dim=-1)
            if float(cos.max()) >= self.detect_threshold:
                return True
        return False

    def _guarding(self) -> contextlib.AbstractContextManager[None]:
        return penalised(self.model, self.forbidden, self.penalty)

    def _split(self, prompts: Sequence[str]) -> tuple[list[int], list[int]]:
        hit = [self.about_target(p) for p in prompts]
        return [i for i, h in enumerate(hit) if h], [i for i, h in enumerate(hit) if not h]

    # -- the contract ---------------------------------------------------------------------------
    def score(
        self, prompts: Sequence[str], continuations: Sequence[str], **kwargs: Any
    ) -> list[ContinuationScores]:
        guarded, plain = self._split(prompts)
        out: list[Any] = [None] * len(prompts)
        for group, guard in ((guarded, True), (plain, False)):
            if not group:
                continue
            with self._guarding() if guard else contextlib.nullcontext():
                part = super().score(
                    [prompts[i] for i in group], [continuations[i] for i in group], **kwargs
                )
            for i, s in zip(group, part, strict=True):
                out[i] = s
        return out

    def generate(self, prompts: Sequence[str], **kwargs: Any) -> list[str]:
        guarded, plain = self._split(prompts)
        out: list[str] = [""] * len(prompts)
        for group, guard in ((guarded, True), (plain, False)):
            if not group:
                continue
            with self._guarding() if guard else contextlib.nullcontext():
                part = super().generate([prompts[i] for i in group], **kwargs)
            for i, text in zip(group, part, strict=True):
                out[i] = text
        return out


__all__ = ["GuardedAdapter", "penalised"]
