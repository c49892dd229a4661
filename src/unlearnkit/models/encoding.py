"""Encoding (prompt, continuation) pairs and collating them into padded batches.

One function used by training, scoring and generation, so that all three see the same
tokens. The prompt and the continuation are tokenised separately and concatenated: the
boundary between them is then exact (no token straddles it) and the continuation's tokens
do not depend on the prompt. Padding masks are built from lengths, never from
``token == pad_id`` (for models whose pad token equals eos, a real eos must stay visible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """Token ids of ``prompt + continuation``; ``n_prompt`` leading ids are the prompt."""

    ids: tuple[int, ...]
    n_prompt: int
    offsets: tuple[tuple[int, int], ...] | None = None  # char spans of continuation tokens

    @property
    def n_continuation(self) -> int:
        return len(self.ids) - self.n_prompt


def encode_pair(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    continuation: str,
    *,
    append_eos: bool = False,
    max_length: int | None = None,
    with_offsets: bool = False,
) -> Encoded:
    """Encode ``prompt`` (with the tokenizer's special tokens, e.g. BOS) and ``continuation``
    (without), optionally followed by eos. If too long, the prompt is cut from the left."""
    prompt_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    cont = tokenizer(continuation, add_special_tokens=False, return_offsets_mapping=with_offsets)
    cont_ids = list(cont["input_ids"])
    offsets = tuple(tuple(o) for o in cont["offset_mapping"]) if with_offsets else None
    if append_eos:
        if tokenizer.eos_token_id is None:
            raise ValueError("append_eos=True but the tokenizer has no eos token")
        cont_ids.append(tokenizer.eos_token_id)
        if offsets is not None:
            offsets = (*offsets, (len(continuation), len(continuation)))
    if max_length is not None and len(prompt_ids) + len(cont_ids) > max_length:
        keep = max_length - len(cont_ids)
        if keep < 1:
            raise ValueError(
                f"continuation of {len(cont_ids)} tokens does not fit max_length={max_length}"
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
