"""Run by test_checkpoints.py under `accelerate launch --num_processes 2`: a DDP run straight
through, the same run stopped by Ctrl-C in step 3 on every process, and its resume; writes,
per process, the weights' fingerprints, the step resumed from and the checkpoint's files."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState

from unlearnkit.methods import METHODS, unlearn
from unlearnkit.methods.api import register_builtin_methods
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm
from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer


def main(out: Path) -> None:
    torch.set_num_threads(1)
    register_builtin_methods()
    qa = [(f"What comes after {i}?", f"After {i} comes {i + 1}.") for i in range(12)]
    tok = train_tokenizer(
        [f"Question: {q}\nAnswer: {a}" for q, a in qa], TokenizerConfig(vocab_size=300)
    )
    model = build_tiny_lm(
        TinyLMConfig(hidden_size=32, num_heads=2, intermediate_size=64), tok, seed=0
    )
    kw = {"max_steps": 4, "batch_size": 2, "checkpoint_every": 2, "progress": False}

    def run(folder: str):
        adapter = CausalLMAdapter(copy.deepcopy(model), tok)
        return unlearn(adapter, qa[:4], qa[4:], "grad_diff", out_dir=out / folder, **kw)

    straight, _ = run("a")
    cls = METHODS.get("grad_diff")
    real, calls = cls.after_step, {"n": 0}

    def after_step(self, ctx, terms):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, ctx, terms)

    cls.after_step = after_step
    try:
        run("b")
        raise AssertionError("the run was not interrupted")
    except KeyboardInterrupt:
        pass
    finally:
        cls.after_step = real
    root = out / "b" / "checkpoints"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    PartialState().wait_for_everyone()  # every process has listed the checkpoint
    resumed, record = run("b")
    state = PartialState()
    info = {
        "rank": state.process_index,
        "world": state.num_processes,
        "straight": straight.fingerprint(),
        "resumed": resumed.fingerprint(),
        "resumed_from": record.resumed_from_step,
        "files": files,
    }
    (out / f"rank{state.process_index}.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
