"""Encoding (prompt, continuation) pairs and collating them into padded batches.

One function used by training, unlearning, scoring and generation, so that all see the same
tokens. ``prompt + continuation`` is tokenised as ONE string; where the continuation starts
is decided by ``boundary``:

* ``"prompt_tokens"`` (TOFU's and open-unlearning's rule): after the first
  ``len(tokenize(prompt))`` tokens. Where a token straddles the border (a prompt ending in a
  space, followed by a word), that token counts as prompt, exactly as in the publishers'
  code, so that per-item values match theirs.
* ``"offsets"``: at the first token reaching past the prompt's last character (a fast
  tokenizer's ``offset_mapping``); a straddling token counts as continuation. Tokenising the
  two parts separately would, with SentencePiece-style tokenizers that prepend a word marker
  (Llama-2, Mistral), insert a spurious token at the start of the continuation.

Slow tokenizers (no offsets) encode the two parts separately. ``add_special_tokens=False``
is for prompts that already hold the BOS text (chat templates). EOS is appended when asked
unless the text already ends with it (as open-unlearning: ``if ids[-1] != eos: append``).
Padding masks are built from lengths, never from ``token == pad_id`` (for models whose pad
token equals eos, a real eos must stay visible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedTokenizerBase

from unlearnkit.core.errors import UnlearnkitError

IGNORE_INDEX = -100


class SequenceTooLongError(UnlearnkitError, ValueError):
    """A continuation does not fit the model's maximum length."""


@dataclass(frozen=True)
class Encoded:
    """Token ids of ``prompt + continuation``; ``n_prompt`` leading ids are the prompt."""

    ids: tuple[int, ...]
    n_prompt: int
    offsets: tuple[tuple[int, int], ...] | None = None  # char spans of continuation tokens

    @property
    def n_continuation(self) -> int:
        return len(self.ids) - self.n_prompt


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id used for padding: pad, else eos, else 0 (masks come from lengths, so any id
    is safe)."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0


Boundary = Literal["prompt_tokens", "offsets"]


def encode_pair(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    continuation: str,
    *,
    append_eos: bool = False,
    max_length: int | None = None,
    with_offsets: bool = False,
    add_special_tokens: bool = True,
    boundary: Boundary = "prompt_tokens",
) -> Encoded:
    """Encode ``prompt + continuation`` (with the tokenizer's special tokens, e.g. BOS,
    unless ``add_special_tokens=False``), followed by eos when ``append_eos`` and the text
    does not already end with it. If too long, the prompt is cut from the left.

    ``offsets`` (when asked) are the continuation tokens' character spans inside
    ``continuation``.
    """
    (enc,) = encode_pairs(
        tokenizer,
        [prompt],
        [continuation],
        append_eos=append_eos,
        max_length=max_length,
        with_offsets=with_offsets,
        add_special_tokens=add_special_tokens,
        boundary=boundary,
    )
    return enc


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    continuations: Sequence[str],
    *,
    append_eos: bool = False,
    max_length: int | None = None,
    with_offsets: bool = False,
    add_special_tokens: bool = True,
    boundary: Boundary = "prompt_tokens",
) -> list[Encoded]:
    """:func:`encode_pair` of many pairs (fast tokenizers encode them in one call)."""
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    if boundary not in ("prompt_tokens", "offsets"):
        raise ValueError(f"boundary must be 'prompt_tokens' or 'offsets', got {boundary!r}")
    if not prompts:
        return []
    if not tokenizer.is_fast:
        out = []
        for p, c in zip(prompts, continuations, strict=True):
            prompt_ids = list(tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"])
            if boundary == "prompt_tokens":
                ids = list(tokenizer(p + c, add_special_tokens=add_special_tokens)["input_ids"])
                prompt_ids, cont_ids = ids[: len(prompt_ids)], ids[len(prompt_ids) :]
            else:
                cont_ids = list(tokenizer(c, add_special_tokens=False)["input_ids"])
            out.append(_finish(tokenizer, c, prompt_ids, cont_ids, None, append_eos, max_length))
        return out
    texts = [p + c for p, c in zip(prompts, continuations, strict=True)]
    enc = tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    n_prompt: list[int | None] = [None] * len(prompts)
    if boundary == "prompt_tokens":
        n_prompt = [
            len(ids)
            for ids in tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
        ]
    special = set(tokenizer.all_special_ids)
    return [
        _assemble(
            tokenizer,
            p,
            c,
            list(ids),
            spans,
            special,
            append_eos=append_eos,
            max_length=max_length,
            with_offsets=with_offsets,
            n_prompt=k,
        )
        for p, c, ids, spans, k in zip(
            prompts, continuations, enc["input_ids"], enc["offset_mapping"], n_prompt, strict=True
        )
    ]


def _assemble(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    continuation: str,
    ids: list[int],
    offset_mapping: Sequence[Sequence[int]],
    special: set[int],
    *,
    append_eos: bool,
    max_length: int | None,
    with_offsets: bool,
    n_prompt: int | None = None,
) -> Encoded:
    """Split the tokens of ``prompt + continuation`` at the prompt's end (fast tokenizers):
    after ``n_prompt`` tokens when given (the publishers' rule), else at the first token
    reaching past the prompt's characters."""
    spans = [tuple(o) for o in offset_mapping]
    cut = len(prompt)
    if n_prompt is None:
        # first non-special token that reaches past the prompt starts the continuation
        n_prompt = next(
            (
                i
                for i, (tid, (_, end)) in enumerate(zip(ids, spans, strict=True))
                if end > cut and tid not in special
            ),
            len(ids),
        )
        # trailing special tokens (e.g. an eos added by the tokenizer) belong to neither part
        while len(ids) > n_prompt and ids[-1] in special and spans[-1] == (0, 0):
            ids.pop()
            spans.pop()
    n_prompt = min(n_prompt, len(ids))
    cont_spans = [(max(0, a - cut), max(0, b - cut)) for a, b in spans[n_prompt:]]
    offsets = tuple(cont_spans) if with_offsets else None
    return _finish(
        tokenizer, continuation, ids[:n_prompt], ids[n_prompt:], offsets, append_eos, max_length
    )


def _finish(
    tokenizer: PreTrainedTokenizerBase,
    continuation: str,
    prompt_ids: list[int],
    cont_ids: list[int],
    offsets: tuple[tuple[int, int], ...] | None,
    append_eos: bool,
    max_length: int | None,
) -> Encoded:
    """Append eos if asked (unless the continuation already ends with it) and cut the prompt
    from the left to fit ``max_length``."""
    if append_eos:
        if tokenizer.eos_token_id is None:
            raise ValueError("append_eos=True but the tokenizer has no eos token")
        if not cont_ids or cont_ids[-1] != tokenizer.eos_token_id:
            cont_ids.append(tokenizer.eos_token_id)
            if offsets is not None:
                offsets = (*offsets, (len(continuation), len(continuation)))
    if max_length is not None and len(prompt_ids) + len(cont_ids) > max_length:
        keep = max_length - len(cont_ids)
        if keep < 1:
            raise SequenceTooLongError(
                f"continuation of {len(cont_ids)} tokens does not fit max_length={max_length}; "
                "shorten it or load the model with a larger max_length"
            )
        prompt_ids = prompt_ids[-keep:]
    return Encoded(tuple(prompt_ids + cont_ids), len(prompt_ids), offsets)


@dataclass
class Batch:
    """A right-padded batch. Shapes: ``input_ids``/``attention_mask``/``labels`` (B, T)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor  # (B,)
    n_prompt: torch.Tensor  # (B,)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) for t in self.__dict__.values()))


def collate(encoded: Sequence[Encoded], pad_id: int) -> Batch:
    """Right-pad to the longest; labels are the ids on continuation positions, -100 elsewhere."""
    lengths = torch.tensor([len(e.ids) for e in encoded], dtype=torch.long)
    width = int(lengths.max())
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), IGNORE_INDEX, dtype=torch.long)
    for i, e in enumerate(encoded):
        row = torch.tensor(e.ids, dtype=torch.long)
        ids[i, : len(row)] = row
        labels[i, e.n_prompt : len(row)] = row[e.n_prompt :]
    mask = (torch.arange(width)[None, :] < lengths[:, None]).long()  # from lengths, not pad
    n_prompt = torch.tensor([e.n_prompt for e in encoded], dtype=torch.long)
    return Batch(ids, mask, labels, lengths, n_prompt)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), for inference."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
