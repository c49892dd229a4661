"""Scoring several continuations of one prompt in one sequence (prefix sharing).

TOFU-style metrics score many continuations of the same question (the answer, its
paraphrase, five perturbed answers). Run one by one, the question is encoded seven times.
Packed, it is encoded once: ``prompt, continuation 1, continuation 2, ...`` form one
sequence in which each continuation attends to the prompt and to itself only, and its
position ids restart where the prompt ends, so every continuation token sees exactly the
context it would see alone. The log-probs are the same as unpacked scoring (up to
floating-point rounding); the forward pass costs about half on the demo's evaluation.

A :class:`Unit` is one sequence to run: a prompt and one or more segments (continuations).
Unpacked scoring uses the same units with one segment each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from unlearnkit.models.encoding import Encoded


@dataclass(frozen=True)
class Unit:
    """One sequence: ``ids[:n_prompt]`` is the prompt, then the segments one after another.

    segments: ``(pair index, start, length)`` of each continuation inside ``ids``.
    """

    ids: tuple[int, ...]
    n_prompt: int
    segments: tuple[tuple[int, int, int], ...]

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self) -> list[int]:
        """Position ids: the prompt counts 0..P-1 and every segment restarts at P."""
        pos = list(range(self.n_prompt))
        for _, _, n in self.segments:
            pos.extend(range(self.n_prompt, self.n_prompt + n))
        return pos

    def segment_ids(self) -> list[int]:
        """0 on the prompt, i + 1 on segment i."""
        seg = [0] * self.n_prompt
        for i, (_, _, n) in enumerate(self.segments):
            seg.extend([i + 1] * n)
        return seg

    def predictors(self, i: int) -> list[int]:
        """Where the logits predicting each token of segment ``i`` are: the prompt's last
        position for the first token, then the segment's own positions."""
        _, start, n = self.segments[i]
        return [self.n_prompt - 1, *range(start, start + n - 1)]


def single_units(encoded: Sequence[Encoded]) -> list[Unit]:
    """One unit per pair (no sharing)."""
    return [
        Unit(e.ids, e.n_prompt, ((k, e.n_prompt, len(e.ids) - e.n_prompt),))
        for k, e in enumerate(encoded)
    ]


def pack_units(encoded: Sequence[Encoded], max_tokens: int) -> list[Unit]:
    """Units sharing each prompt among its continuations, at most ``max_tokens`` long (a
    prompt with more continuations than fit is repeated in several units; a single pair
    longer than ``max_tokens`` is a unit of its own)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, e in enumerate(encoded):
        groups.setdefault(tuple(e.ids[: e.n_prompt]), []).append(k)
    units: list[Unit] = []
    for prompt, members in groups.items():
        ids: list[int] = list(prompt)
        segments: list[tuple[int, int, int]] = []
        for k in members:
            cont = encoded[k].ids[len(prompt) :]
            if segments and len(ids) + len(cont) > max_tokens:
                units.append(Unit(tuple(ids), len(prompt), tuple(segments)))
                ids, segments = list(prompt), []
            segments.append((k, len(ids), len(cont)))
            ids.extend(cont)
        units.append(Unit(tuple(ids), len(prompt), tuple(segments)))
    return units


def unit_batches(units: Sequence[Unit], pairs_per_batch: int) -> list[list[int]]:
    """Unit indices in batches of similar length (longest first), each holding at most
    ``pairs_per_batch`` continuations (or one unit holding more)."""
    order = sorted(range(len(units)), key=lambda i: (-len(units[i]), i))
    batches: list[list[int]] = []
    current: list[int] = []
    count = 0
    for i in order:
        n = len(units[i].segments)
        if current and count + n > pairs_per_batch:
            batches.append(current)
            current, count = [], 0
        current.append(i)
        count += n
    if current:
        batches.append(current)
    return batches


def packed_inputs(
    units: Sequence[Unit], pad_id: int, mask_dtype: torch.dtype = torch.bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids (B, W), attention_mask (B, 1, W, W), position_ids (B, W))`` of units.

    Query q may attend key k when k <= q and k is on the prompt or in q's own segment.
    Padding queries attend to themselves only (their outputs are never read). A boolean
    mask has True where attention is allowed; a floating mask is additive (0 or the
    dtype's minimum), as eager attention implementations expect.
    """
    width = max(len(u) for u in units)
    ids = torch.full((len(units), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(units), width), dtype=torch.long)
    seg = torch.full((len(units), width), -1, dtype=torch.long)
    for b, u in enumerate(units):
        ids[b, : len(u)] = torch.tensor(u.ids)
        pos[b, : len(u)] = torch.tensor(u.positions())
        seg[b, : len(u)] = torch.tensor(u.segment_ids())
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))  # (W, W) k <= q
    q, k = seg[:, :, None], seg[:, None, :]  # (B, W, 1), (B, 1, W)
    allowed = causal & (k >= 0) & ((k == 0) | (k == q))
    allowed |= torch.eye(width, dtype=torch.bool) & (q < 0)  # padding: itself only
    mask = allowed[:, None]  # (B, 1, W, W)
    if mask_dtype != torch.bool:
        mask = torch.zeros(mask.shape, dtype=mask_dtype).masked_fill(
            ~mask, torch.finfo(mask_dtype).min
        )
    return ids, mask, pos


__all__ = ["Unit", "pack_units", "packed_inputs", "single_units", "unit_batches"]
