"""The shared unlearning loop under DDP on CPU, started with `accelerate launch`.

`accelerate launch --cpu --num_processes 2` starts several processes only through MPI
(mpirun) in accelerate 1.x; without MPI the portable way is the torchrun launcher
(`--multi_gpu`), and the loop's Accelerator joins a gloo process group when there is no CUDA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("ddp_unlearn.py")


def test_unlearning_loop_runs_under_ddp_on_cpu(tmp_path):
    launcher = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(launcher),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(SCRIPT),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "rank1.json").is_file(), res.stdout[-3000:] + res.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert all(r["steps"] == 3 and r["changed"] > 0 for r in ranks)
    assert ranks[0]["fingerprint"] == ranks[1]["fingerprint"]  # replicas stayed in sync
    log = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len(log) == 3  # written once, by the main process
