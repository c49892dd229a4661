"""How long the README's main command takes: `unlearnkit run` on the embedded demo.

1. cold: an empty cache (world, tokenizer, target, oracle, six unlearned models, eight
   evaluations all built), through to the leaderboard and the HTML report;
2. one evaluation setting changed (``bootstrap``): every model is reused, only the
   evaluations run again;
3. (``--seeds 0,1,2``) the same run over several seeds (the methods' batch order): seed 0's
   models are reused, the others are unlearned and evaluated; its leaderboard gives
   mean ± sd over the seeds (the README's table).

Goals (issue 5): cold <= 300 s, changed setting <= 60 s on 2 CPU cores.

    python benchmarks/run_demo.py            # writes benchmarks/results/run_demo.json
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
    parser.add_argument("--seeds", default="0,1,2", help="seeds of step 3 ('' to skip it)")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("unlearnkit"))
    with tempfile.TemporaryDirectory() as tmp:
        base = [exe, "run", "--cache", f"{tmp}/cache", "--runs", f"{tmp}/runs"]
        cold_s, cold_out = timed(base)
        print(cold_out)
        changed_s, changed_out = timed([*base, "-s", "bootstrap=500"])
        print(changed_out)
        seeds_s, seeds_out = None, ""
        if args.seeds:
            seeds_s, seeds_out = timed([*base, "-s", f"seeds=[{args.seeds}]"])
            print(seeds_out)
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
        "seeds": args.seeds,
        "seeds_s": None if seeds_s is None else round(seeds_s, 1),
        "leaderboard_seeds": seeds_out[seeds_out.find("Leaderboard") :] if seeds_out else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average at the end "
        f"{[round(x, 2) for x in os.getloadavg()]}",
    }
    print(f"cold run: {cold_s:.1f} s (goal 300 s); changed setting: {changed_s:.1f} s (goal 60 s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
