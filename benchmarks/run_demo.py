"""How long the README's main command takes: `unlearnkit run` on the embedded demo.

1. cold: an empty cache (world, tokenizer, target, oracle, six unlearned models, eight
   evaluations all built), through to the leaderboard and the HTML report;
2. one evaluation setting changed (``bootstrap``): every model is reused, only the
   evaluations run again.

Goals (issue 5): cold <= 300 s, changed setting <= 60 s on 2 CPU cores.

    python benchmarks/run_demo.py            # writes benchmarks/results/run_demo.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return seconds, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "run_demo.json")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("unlearnkit"))
    with tempfile.TemporaryDirectory() as tmp:
        base = [exe, "run", "--cache", f"{tmp}/cache", "--runs", f"{tmp}/runs"]
        cold_s, cold_out = timed(base)
        print(cold_out)
        changed_s, changed_out = timed([*base, "-s", "bootstrap=500"])
        print(changed_out)
        results = sorted(Path(tmp, "runs", "demo").glob("*/results.json"))
        reports = all((p.parent / "report" / "index.html").is_file() for p in results)
    figures = {
        "cold_s": round(cold_s, 1),
        "changed_eval_setting_s": round(changed_s, 1),
        "goal_cold_s": 300,
        "goal_changed_s": 60,
        "cpus": os.cpu_count(),
        "runs": len(results),
        "reports_written": reports,
        "leaderboard": cold_out[cold_out.find("Leaderboard") :],
    }
    print(f"cold run: {cold_s:.1f} s (goal 300 s); changed setting: {changed_s:.1f} s (goal 60 s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
