#!/usr/bin/env bash
# Install open-unlearning (commit d3d7cf9) into its own virtual environment, on CPU.
#
#   bash benchmarks/peer/setup_open_unlearning.sh OU_SRC VENV
#
# OU_SRC: a checkout of open-unlearning's public repository at commit d3d7cf9 (fetch it
#         yourself; this script downloads no source). VENV: where to make the venv; keep it
#         outside this repository (e.g. /work/peer/ou-venv).
#
# What it installs: open-unlearning's requirements.txt exactly as pinned, except torch, which
# is held to the CPU wheel torch==2.13.0 (the pin of this project's constraints.txt) instead of
# their torch==2.4.1, so that pip never pulls the CUDA packages; plus lm-eval==0.4.8 (their
# setup.py extra) and deepspeed built without ops (DS_BUILD_OPS=0), both of which their code
# imports at start-up. `pip freeze` of the result goes to VENV/freeze.txt.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 OU_SRC VENV" >&2
    exit 2
fi
OU_SRC=$(cd "$1" && pwd)
VENV=$2
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

if [ ! -f "$OU_SRC/requirements.txt" ] || [ ! -f "$OU_SRC/src/eval.py" ]; then
    echo "$OU_SRC is not an open-unlearning checkout (no requirements.txt / src/eval.py)" >&2
    exit 2
fi
if [ -d "$OU_SRC/.git" ]; then
    head=$(git -C "$OU_SRC" rev-parse --short=7 HEAD)
    if [ "$head" != "d3d7cf9" ]; then
        echo "warning: $OU_SRC is at $head, not d3d7cf9" >&2
    fi
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "torch==2.13.0" >"$work/constraints.txt"
grep -v '^torch==' "$OU_SRC/requirements.txt" >"$work/requirements.txt"

# The constraint reaches the build environments too (deepspeed is built from its sdist).
export PIP_CONSTRAINT="$work/constraints.txt"
export DS_BUILD_OPS=0
"$VENV/bin/pip" install torch==2.13.0 -r "$work/requirements.txt"
"$VENV/bin/pip" install lm-eval==0.4.8

if "$VENV/bin/pip" list 2>/dev/null | grep -qiE '^(nvidia-|triton )'; then
    echo "error: CUDA packages were installed into $VENV; check the constraints" >&2
    exit 1
fi

# Their entry point imports the trainers (deepspeed) and the evaluators (lm-eval) at start-up.
(cd "$OU_SRC/src" && "$VENV/bin/python" -c \
    "import trainer.utils, model, evals, deepspeed, lm_eval; print('open-unlearning imports: ok')")
"$VENV/bin/pip" freeze >"$VENV/freeze.txt"
echo "installed; pip freeze in $VENV/freeze.txt"
