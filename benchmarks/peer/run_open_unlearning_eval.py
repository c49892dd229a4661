"""Run open-unlearning's own TOFU evaluation (its src/eval.py) on a local oracle and target.

Runs INSIDE the peer venv made by setup_open_unlearning.sh (it imports hydra from there to
compose open-unlearning's configs). Nothing is reimplemented: this script only builds the
hydra command line, runs ``python <ou>/src/eval.py`` twice and times it.

1. The oracle, with open-unlearning's experiment ``eval/tofu/default`` and the metrics below
   (mia_reference left out: its reference would be the oracle itself). Its TOFU_EVAL.json is
   the ``retain_logs_path`` of step 2.
2. The target, with ``retain_logs_path`` set to the oracle's logs (forget_quality's KS test
   against the oracle's forget truth ratios, privleak against the oracle's Min-K AUC) and
   ``mia_reference`` using the oracle as its reference model.

Overrides, all on the command line and all recorded in ``run.json``:
  - ``model=Llama-2-7b-hf`` for its plain template (Question: / Answer:, no chat template);
    model and tokenizer paths point at the local directories.
  - CPU: ``device_map=cpu``, ``torch_dtype=float32``, ``attn_implementation=sdpa`` (the config
    asks for flash_attention_2 in bfloat16, which needs CUDA).
  - ``+model.tokenizer_args.add_prefix_space=null``: transformers 4.45 otherwise rebuilds the
    Mistral fast tokenizer from a SentencePiece file the published files do not include;
    with it, tokenizer.json is used as published.
  - every ``hf_args.path`` (``locuslab/TOFU`` in the dataset configs) -> the local TOFU
    directory (hub layout: a README whose ``configs:`` name the JSON Lines files). The keys
    are found by composing the config with hydra, not listed by hand.
  - forget01 / holdout01 splits; ``eval.tofu.overwrite=true``.

    <peer-venv>/bin/python benchmarks/peer/run_open_unlearning_eval.py \\
        --ou-src /path/to/open-unlearning --models /work/peer/models --out /work/peer/ou-eval
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "fixtures" / "real" / "tofu-sample"

# configs/eval/tofu.yaml's default list at d3d7cf9, then its commented-out extras that need
# no network (forget_Q_A_gibberish downloads a classifier and is left out).
DEFAULT_METRICS = [
    "forget_Truth_Ratio",
    "forget_quality",
    "forget_Q_A_Prob",
    "forget_Q_A_ROUGE",
    "model_utility",
    "privleak",
    "extraction_strength",
]
EXTRA_METRICS = [
    "exact_memorization",
    "mia_min_k_plus_plus",
    "mia_min_k",
    "mia_loss",
    "mia_zlib",
    "mia_gradnorm",
]

PACKAGES = [
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "accelerate",
    "hydra-core",
    "omegaconf",
    "numpy",
    "scipy",
    "scikit-learn",
    "rouge-score",
    "deepspeed",
    "lm-eval",
]


def ou_commit(ou_src: Path) -> str | None:
    """The checkout's commit when it is a git work tree, else None (e.g. an unpacked archive)."""
    if not (ou_src / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(ou_src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def base_overrides(args, model_dir: Path, metrics: list[str]) -> list[str]:
    return [
        "experiment=eval/tofu/default",
        "model=Llama-2-7b-hf",
        f"model.model_args.pretrained_model_name_or_path={model_dir}",
        f"model.tokenizer_args.pretrained_model_name_or_path={model_dir}",
        "+model.tokenizer_args.add_prefix_space=null",
        "model.model_args.device_map=cpu",
        "model.model_args.torch_dtype=float32",
        "model.model_args.attn_implementation=sdpa",
        f"forget_split={args.forget_split}",
        f"holdout_split={args.holdout_split}",
        f"eval/tofu_metrics@eval.tofu.tofu_metrics=[{','.join(metrics)}]",
        f"eval.tofu.batch_size={args.batch_size}",
        "eval.tofu.overwrite=true",
    ]


def data_path_overrides(ou_src: Path, overrides: list[str], data_dir: Path) -> list[str]:
    """One override per ``...hf_args.path`` key of the composed config."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    probe = [*overrides, "task_name=probe", "retain_logs_path=null"]
    with initialize_config_dir(config_dir=str(ou_src / "configs"), version_base=None):
        cfg = compose(config_name="eval.yaml", overrides=probe)
    tree = OmegaConf.to_container(cfg.eval, resolve=False)
    found: list[str] = []

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}")
        elif prefix.endswith(".hf_args.path"):
            found.append(prefix.lstrip("."))

    walk(tree, "eval")
    if not found:
        raise SystemExit("no hf_args.path in the composed config: is --ou-src at d3d7cf9?")
    return [f"{key}={data_dir}" for key in sorted(found)]


def run_eval(args, role: str, model_dir: Path, metrics: list[str], extra: list[str]) -> dict:
    out_dir = args.out / role
    overrides = base_overrides(args, model_dir, metrics)
    overrides += data_path_overrides(args.ou_src, overrides, args.data)
    overrides += [f"task_name=peer_{role}", f"paths.output_dir={out_dir}", *extra]
    cmd = [sys.executable, str(args.ou_src / "src" / "eval.py"), *overrides]
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads),
        PYTHONHASHSEED="0",
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (out_dir / "stdout.log").open("w") as log:
        proc = subprocess.run(
            cmd, cwd=args.ou_src, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if proc.returncode != 0:
        tail = (out_dir / "stdout.log").read_text(errors="replace")[-4000:]
        raise SystemExit(f"open-unlearning eval of the {role} failed ({proc.returncode}):\n{tail}")
    return {
        "role": role,
        "model_dir": str(model_dir),
        "metrics": metrics,
        "overrides": overrides,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "eval_json": str(out_dir / "TOFU_EVAL.json"),
        "summary_json": str(out_dir / "TOFU_SUMMARY.json"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ou-src", type=Path, required=True, help="open-unlearning source at d3d7cf9")
    ap.add_argument(
        "--ou-commit",
        default="d3d7cf9e6b3c125d16687d4232680d8d83548f1a",
        help="commit to record when --ou-src is not a git checkout (an exported tree)",
    )
    ap.add_argument("--models", type=Path, default=Path("/work/peer/models"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("/work/peer/ou-eval"))
    ap.add_argument("--forget-split", default="forget01")
    ap.add_argument("--holdout-split", default="holdout01")
    ap.add_argument("--batch-size", type=int, default=32, help="open-unlearning's default: 32")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.ou_src, args.models = args.ou_src.resolve(), args.models.resolve()
    args.data, args.out = args.data.resolve(), args.out.resolve()
    oracle, target = args.models / "oracle", args.models / "target"
    for path in (oracle, target, args.data, args.ou_src / "src" / "eval.py"):
        if not path.exists():
            raise SystemExit(f"missing: {path}")

    metrics = DEFAULT_METRICS + EXTRA_METRICS
    runs = [run_eval(args, "oracle", oracle, metrics, ["retain_logs_path=null"])]
    oracle_logs = args.out / "oracle" / "TOFU_EVAL.json"
    runs.append(
        run_eval(
            args,
            "target",
            target,
            [*metrics, "mia_reference"],
            [
                f"retain_logs_path={oracle_logs}",
                f"eval.tofu.metrics.mia_reference.reference_model_path={oracle}",
            ],
        )
    )
    commit = ou_commit(args.ou_src)
    record = {
        "ou_src": str(args.ou_src),
        "ou_commit": commit or args.ou_commit,
        "ou_commit_source": "git" if commit else "--ou-commit (not a git checkout)",
        "python": sys.version.split()[0],
        "versions": {name: metadata.version(name) for name in PACKAGES},
        "data": str(args.data),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "runs": runs,
    }
    (args.out / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for run in runs:
        print(
            f"{run['role']}: {run['wall_s']} s wall, {run['cpu_s']} s CPU -> {run['summary_json']}"
        )


if __name__ == "__main__":
    main()
