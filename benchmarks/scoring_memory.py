"""Peak memory of teacher-forced scoring over the model's weights (issue 18, point 6).

For three real vocabularies (Mistral-7B-Instruct-v0.3: 32,768; GPT-2: 50,257; Qwen2-VL:
151,665 tokens), each with a small randomly initialised model of its architecture
(MistralConfig / GPT2Config / Qwen2Config, hidden size 64, 2 layers), scores the TOFU
sample's forget01_perturbed set (each question with its answer, its paraphrase and its five
perturbed answers: 280 pairs) with :meth:`CausalLMAdapter.score` at batch 8 and 64, packed
(the default for these models) and unpacked, and prints the extra memory over the weights.

How it is measured: every configuration runs in a fresh Python process. After the imports,
the tokenizer, the model, the adapter and the encoded pairs are ready, the process records
its resident set size (VmRSS), resets the kernel's peak-RSS counter (``5`` written to
``/proc/self/clear_refs``), scores every pair once, and reads the peak (VmHWM, the counter
``getrusage``'s ``ru_maxrss`` reports). The figure is peak - resident-before: everything the
scoring call allocates (logits, log-distributions, activations), whatever allocator holds it;
tracemalloc cannot see torch's CPU allocations, hence RSS. Linux only.

    python benchmarks/scoring_memory.py [--label after] [--batches 8 64] [--vocabs gpt2]

Results are merged into benchmarks/results/scoring_memory.json under ``--label`` (e.g.
``before`` / ``after`` a change), with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "fixtures" / "real"
VOCABS = {  # name: (tokenizer directory, architecture)
    "mistral": ("mistral-7b-instruct-v0.3", "mistral"),
    "gpt2": ("gpt2", "gpt2"),
    "qwen2": ("qwen2-vl", "qwen2"),
}
TARGET_GB = 0.5


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def _tiny_model(arch: str, vocab: int, tokenizer):
    import torch
    from transformers import (
        AutoModelForCausalLM,
        GPT2Config,
        MistralConfig,
        Qwen2Config,
    )

    torch.manual_seed(0)
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=vocab, n_embd=64, n_layer=2, n_head=4, n_positions=512, **special
        )
    else:
        cls = MistralConfig if arch == "mistral" else Qwen2Config
        config = cls(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            tie_word_embeddings=False,
            **special,
        )
    return AutoModelForCausalLM.from_config(config).eval()


def _pairs(data: Path) -> list[tuple[str, str]]:
    from unlearnkit.data.formatting import PromptFormat

    fmt = PromptFormat()
    pairs = []
    for line in (data / "forget01_perturbed.json").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        for answer in [r["answer"], r["paraphrased_answer"], *r["perturbed_answer"]]:
            pairs.append(fmt.pair(r["question"], answer))
    return pairs


def worker(name: str, batch: int, pack: bool, real: Path, chunk_mb: float | None) -> dict:
    """One configuration, in this (fresh) process."""
    import torch
    from transformers import AutoTokenizer

    from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

    directory, arch = VOCABS[name]
    tokenizer = AutoTokenizer.from_pretrained(real / "tokenizers" / directory)
    vocab = len(tokenizer)
    model = _tiny_model(arch, vocab, tokenizer)
    adapter = CausalLMAdapter(model, tokenizer, batch_size=batch)
    if chunk_mb is not None:
        adapter.score_chunk_bytes = int(chunk_mb * 2**20)
    pairs = _pairs(real / "tofu-sample")
    prompts, continuations = zip(*pairs, strict=True)
    encoded = adapter.encode_many(prompts, continuations)
    tokens = sum(len(e.ids) - e.n_prompt for e in encoded)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    before = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    t0 = time.perf_counter()
    scores = adapter.score(prompts, continuations, pack=pack)
    wall = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    assert len(scores) == len(pairs) and all(torch.isfinite(s.logprobs).all() for s in scores)
    return {
        "vocab": name,
        "vocab_size": vocab,
        "architecture": arch,
        "batch": batch,
        "pack": pack,
        "pairs": len(pairs),
        "scored_tokens": tokens,
        "weights_mb": weights / 2**20,
        "rss_before_mb": before / 1024,
        "peak_rss_mb": peak / 1024,
        "extra_mb": (peak - before) / 1024,
        "wall_s": wall,
        "mean_logprob": float(torch.cat([s.logprobs for s in scores]).mean()),
        "score_chunk_bytes": getattr(adapter, "score_chunk_bytes", _default_chunk()),
    }


def _default_chunk() -> int | None:
    try:
        from unlearnkit.models.token_scores import CHUNK_BYTES
    except ImportError:  # before the streamed scoring existed
        return None
    return CHUNK_BYTES


def machine() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="name of this set of figures")
    parser.add_argument("--vocabs", nargs="*", default=list(VOCABS), choices=list(VOCABS))
    parser.add_argument("--batches", type=int, nargs="*", default=[8, 64])
    parser.add_argument("--pack", nargs="*", default=["packed", "unpacked"])
    parser.add_argument("--real", type=Path, default=REAL, help="the real fixtures folder")
    parser.add_argument("--note", default="", help="what code these figures are of")
    parser.add_argument(
        "--chunk-mb",
        type=float,
        default=None,
        help="score_chunk_bytes in MiB (default: the library's)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scoring_memory.json")
    parser.add_argument(
        "--worker", nargs=3, metavar=("VOCAB", "BATCH", "PACK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        name, batch, pack = args.worker
        print(json.dumps(worker(name, int(batch), pack == "packed", args.real, args.chunk_mb)))
        return

    rows = []
    for name in args.vocabs:
        for pack in args.pack:
            for batch in args.batches:
                cmd = [sys.executable, __file__, "--real", str(args.real)]
                if args.chunk_mb is not None:
                    cmd += ["--chunk-mb", str(args.chunk_mb)]
                cmd += ["--worker", name, str(batch), pack]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    sys.stderr.write(done.stderr)
                    raise SystemExit(f"{name} batch {batch} {pack} failed")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{name:8s} V={row['vocab_size']:>6d} {pack:8s} batch {batch:>3d}: "
                    f"+{row['extra_mb']:8.1f} MB over {row['rss_before_mb']:.0f} MB "
                    f"({row['wall_s']:.1f}s)",
                    flush=True,
                )

    print()
    header = " ".join(f"{'batch ' + str(b):>10s}" for b in args.batches)
    print(f"{'vocabulary':26s} {'mode':8s} {header}   (extra memory over the weights)")
    for name in args.vocabs:
        for pack in args.pack:
            packed = pack == "packed"
            mine = {r["batch"]: r for r in rows if r["vocab"] == name and r["pack"] == packed}
            size = next(iter(mine.values()))["vocab_size"]
            cells = " ".join(f"{mine[b]['extra_mb']:>7.0f} MB" for b in args.batches)
            print(f"{name + f' ({size:,})':26s} {pack:8s} {cells}")
    worst = max(r["extra_mb"] for r in rows if r["batch"] == max(args.batches))
    target = TARGET_GB * 1024
    print(
        f"\nlargest extra at batch {max(args.batches)}: {worst:.0f} MB (target < {target:.0f} MB)"
    )

    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report["method"] = (
        "peak RSS (VmHWM after resetting it via /proc/self/clear_refs) minus RSS before the "
        "score() call, one fresh process per configuration; extra_mb is that difference"
    )
    report["data"] = "TOFU forget01_perturbed: answer, paraphrased answer, 5 perturbed answers"
    report[args.label] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": args.note,
        "machine": machine(),
        "rows": rows,
        "largest_extra_mb_at_max_batch": worst,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
