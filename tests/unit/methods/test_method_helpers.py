"""Small pieces of the methods that are not losses: CE-U's answer-token mask, PDU's dual step."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.methods.gradient.ce_u import drop_first_answer_tokens
from unlearnkit.methods.gradient.pdu import dual_update


def test_drop_first_answer_tokens_masks_the_start_of_each_answer():
    labels = torch.tensor(
        [
            [-100, -100, 5, 6, 7],  # three answer tokens
            [-100, -100, -100, -100, 9],  # one: kept (nothing would be left)
            [-100, 3, 4, -100, -100],  # two, then padding
        ]
    )
    out = drop_first_answer_tokens(labels, 1)
    assert out.tolist() == [
        [-100, -100, -100, 6, 7],
        [-100, -100, -100, -100, 9],
        [-100, -100, 4, -100, -100],
    ]
    assert drop_first_answer_tokens(labels, 2)[0].tolist() == [-100, -100, -100, -100, 7]
    assert torch.equal(drop_first_answer_tokens(labels, 0), labels)


def test_dual_ascent_rises_above_the_bound_and_stops_at_zero():
    assert dual_update(1.0, retain_loss=0.5, bound=0.3, step_size=2.0) == pytest.approx(1.4)
    assert dual_update(1.0, retain_loss=0.1, bound=0.3, step_size=2.0) == pytest.approx(0.6)
    assert dual_update(0.1, retain_loss=0.0, bound=0.3, step_size=2.0) == 0.0
