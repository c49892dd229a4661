"""Run by test_ddp.py under `accelerate launch --num_processes 2 --cpu`: unlearns with the
shared loop on a tiny model and writes, per process, what it saw and the final weights'
fingerprint (DDP must keep the replicas identical)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState

from unlearnkit.methods import unlearn
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm
from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer


def main(out: Path) -> None:
    torch.set_num_threads(1)
    qa = [(f"What comes after {i}?", f"After {i} comes {i + 1}.") for i in range(12)]
    tok = train_tokenizer(
        [f"Question: {q}\nAnswer: {a}" for q, a in qa], TokenizerConfig(vocab_size=300)
    )
    model = build_tiny_lm(
        TinyLMConfig(hidden_size=32, num_heads=2, intermediate_size=64), tok, seed=0
    )
    adapter = CausalLMAdapter(model, tok)
    unlearned, record = unlearn(
        adapter,
        qa[:4],
        qa[4:],
        "grad_diff",
        max_steps=3,
        batch_size=2,
        progress=False,
        out_dir=out / "run",
    )
    state = PartialState()  # initialised by the loop's Accelerator (MULTI_CPU here)
    info = {
        "rank": state.process_index,
        "world": state.num_processes,
        "steps": record.steps,
        "changed": record.parameters_changed,
        "fingerprint": unlearned.fingerprint(),
    }
    (out / f"rank{state.process_index}.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
