"""Build the model pair for the open-unlearning comparison: a target and an oracle on TOFU.

Both start from one seeded, randomly initialised small Llama-architecture causal LM whose
vocabulary is the real Mistral-7B-Instruct-v0.3 tokenizer's (SentencePiece, BOS added, EOS
``</s>``). The TARGET is fine-tuned on forget01 + retain99 of a TOFU-format directory, the
ORACLE on retain99 only, with the plain template of open-unlearning's Llama-2 model configs:

    "Question: " + question + "\\n" + "Answer: " + answer + EOS

The loss covers the answer tokens and the EOS only: the prompt is tokenised on its own
(special tokens added, so one BOS), the full text likewise, EOS is appended when the full
text does not already end with it, and the first len(prompt) labels are ignored. That is how
open-unlearning's ``preprocess_chat_instance`` (src/data/utils.py at d3d7cf9) builds labels
when ``apply_chat_template`` is false, so the evaluation sees the format the models learnt.

Each model is written as a Hugging Face directory (config, safetensors weights, generation
config) with the tokenizer's files copied unchanged, plus ``training.json`` (template,
recipe, data, wall time). Runs on CPU in a few minutes; use the peer venv (transformers
4.45.1) so that the configs are written in the older format that both tools read.

    python benchmarks/peer/make_tofu_models.py [--out /work/peer/models]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "fixtures" / "real"
DEFAULT_DATA = SHARED / "tofu-sample"
DEFAULT_TOKENIZER = SHARED / "tokenizers" / "mistral-7b-instruct-v0.3"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
IGNORE = -100

# open-unlearning's configs/model/Llama-2-7b-hf.yaml template_args (apply_chat_template false).
TEMPLATE = {
    "apply_chat_template": False,
    "user_start_tag": "Question: ",
    "user_end_tag": "\n",
    "asst_start_tag": "Answer: ",
    "asst_end_tag": "\n\n",
}


def load_tokenizer(path: Path):
    """The real tokenizer from its published files.

    transformers 4.x rebuilds a Llama fast tokenizer from the SentencePiece model whenever
    ``add_prefix_space`` is set (Mistral's config sets it, and ships only tokenizer.model.v3),
    so it is passed as None: tokenizer.json is then used as published, and the token ids equal
    those transformers 5 produces from the same files.
    """
    major = int(transformers.__version__.split(".")[0])
    kwargs = {"add_prefix_space": None} if major < 5 else {}
    return AutoTokenizer.from_pretrained(str(path), **kwargs)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def encode(tokenizer, question: str, answer: str, max_length: int) -> tuple[list[int], list[int]]:
    """Input ids and labels of one QA pair: loss on the answer tokens and the EOS only."""
    prompt = TEMPLATE["user_start_tag"] + question + TEMPLATE["user_end_tag"]
    prompt += TEMPLATE["asst_start_tag"]
    full = tokenizer(
        prompt + answer, add_special_tokens=True, max_length=max_length, truncation=True
    )["input_ids"]
    head = tokenizer(prompt, add_special_tokens=True, max_length=max_length, truncation=True)[
        "input_ids"
    ]
    if full[-1] != tokenizer.eos_token_id:
        full = [*full, tokenizer.eos_token_id]
    labels = [IGNORE] * len(head) + full[len(head) :]
    return full, labels


def batches(examples: list[tuple[list[int], list[int]]], size: int, pad_id: int, rng):
    order = list(range(len(examples)))
    rng.shuffle(order)
    for start in range(0, len(order), size):
        chunk = [examples[i] for i in order[start : start + size]]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (x, y) in enumerate(chunk):
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            mask[row, : len(x)] = 1
        yield ids, labels, mask


def base_model(tokenizer, args, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 4,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    return LlamaForCausalLM(config)


def answer_loss(model, ids, labels, mask) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled positions.

    Equal to the loss ``LlamaForCausalLM`` computes from ``labels``, but the output layer is
    applied only where a label exists: with a 32k vocabulary that layer is most of the cost.
    """
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), target[keep])


def finetune(model, examples, args, seed: int) -> list[float]:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    steps = args.epochs * -(-len(examples) // args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / max(steps, 1))
    model.train()
    losses = []
    for _ in range(args.epochs):
        total, n = 0.0, 0
        for ids, labels, mask in batches(examples, args.batch_size, args.pad_id, rng):
            loss = answer_loss(model, ids, labels, mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item()
            n += 1
        losses.append(round(total / n, 5))
    model.eval()
    return losses


def save(model, tokenizer_dir: Path, out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=model.config.bos_token_id, eos_token_id=model.config.eos_token_id
    )
    model.save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, out / name)
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/work/peer/models"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--forget", default="forget01")
    ap.add_argument("--retain", default="retain99")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = load_tokenizer(args.tokenizer)
    args.pad_id = tokenizer.eos_token_id
    forget = read_jsonl(args.data / f"{args.forget}.json")
    retain = read_jsonl(args.data / f"{args.retain}.json")

    def enc(rows):
        return [encode(tokenizer, r["question"], r["answer"], args.max_length) for r in rows]

    recipe = {
        k: getattr(args, k)
        for k in ("hidden", "layers", "heads", "epochs", "batch_size", "lr", "max_length", "seed")
    }
    recipe.update(optimizer="AdamW(weight_decay=0)", schedule="linear decay to 0", clip=1.0)
    for role, rows in (("target", forget + retain), ("oracle", retain)):
        model = base_model(tokenizer, args, args.seed)
        start, cpu_start = time.perf_counter(), time.process_time()
        losses = finetune(model, enc(rows), args, args.seed + 1)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        meta = {
            "role": role,
            "trained_on": [args.forget, args.retain] if role == "target" else [args.retain],
            "examples": len(rows),
            "template": TEMPLATE,
            "prompt": "user_start_tag + question + user_end_tag + asst_start_tag",
            "labels": "answer tokens + EOS (prompt tokenised alone, with BOS, is ignored)",
            "tokenizer": args.tokenizer.name,
            "recipe": recipe,
            "epoch_losses": losses,
            "train_wall_s": round(wall, 2),
            "train_cpu_s": round(cpu, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "threads": args.threads,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        save(model, args.tokenizer, args.out / role, meta)
        print(f"{role}: {len(rows)} examples, losses {losses}, {wall:.1f} s wall, {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
