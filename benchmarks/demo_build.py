"""Measure the README's main command (`unlearnkit demo`) cold and warm.

Cold: an empty cache directory, so the world, tokenizer, target and oracle are all built.
Warm: the same command again; everything is reused from the cache.
Prints the figures and writes them (with the accuracy table) to benchmarks/results/.

    .venv/bin/python benchmarks/demo_build.py [--preset demo] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / f"demo_build_{args.preset}.json"
    exe = str(Path(sys.executable).with_name("unlearnkit"))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "UNLEARNKIT_CACHE": cache}
        cmd = [exe, "demo", "--preset", args.preset, "--json"]
        cold = run([*cmd, str(Path(cache) / "cold.json")], env)
        warm = run([*cmd, str(Path(cache) / "warm.json")], env)
        demo = json.loads((Path(cache) / "cold.json").read_text())
        reused = json.loads((Path(cache) / "warm.json").read_text())["built"]
        if any(reused.values()):
            raise SystemExit(f"the warm run rebuilt something: {reused}")
    figures = {
        "preset": args.preset,
        "cold_seconds": round(cold, 1),
        "warm_seconds": round(warm, 1),
        "cold_steps_seconds": {k: round(v, 1) for k, v in demo["seconds"].items()},
        "accuracy": demo["accuracy"],
        "training": {
            role: {
                k: demo["training"][role]["train_record"][k]
                for k in ("steps", "epochs", "examples", "wall_time_s")
            }
            for role in ("target", "oracle")
        },
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
    }
    print(json.dumps({k: figures[k] for k in ("preset", "cold_seconds", "warm_seconds")}))
    print(json.dumps(figures["cold_steps_seconds"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
