#!/usr/bin/env bash
# Everything a lent GPU is for, in one go (the device tool gives a session 15 minutes of one GPU):
#   1. install the wheels a bare GPU machine (torch + CUDA only) lacks, from .gpu_wheels/ (`make gpu-wheels` here;
#      name it in the device tool's `carry`);
#   2. the GPU tests (`-m gpu`): masks in every copy DeepSpeed keeps, on the GPU; no CUDA sync that grows with a
#      cell's length; the threshold and masks on the GPU equal the CPU's;
#   3. benchmarks/bench_gpu.py: the cell against eager and compiled bare loops, MFU, the floor, a prune event.
# Outputs go to $OUT (the device tool brings that folder back): gpu_tests.txt, bench_gpu.json, bench_gpu.txt.
#
#   bash benchmarks/gpu_session.sh [extra bench_gpu.py arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=$(command -v python3 || command -v python)
export PYTHONPATH=$PWD WANDB_MODE=disabled PIP_BREAK_SYSTEM_PACKAGES=1 TORCH_EXTENSIONS_DIR=${TMPDIR:-/tmp}/torch-ext
started=$(date +%s)
stage() { echo "== $1 ($(($(date +%s) - started)) s)"; }

stage "install"
"$PY" -m pip install -q --no-deps --no-index .gpu_wheels/*.whl 2>&1 | grep -v "^WARNING" | tail -5
"$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "devices",
      [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
import deepspeed, hydra, omegaconf  # noqa: E401,F401  the cell's imports
PYEOF

stage "GPU tests"
# only the files that hold GPU tests: the others import the report's stack (scipy, matplotlib), not shipped here
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs $(grep -rl "mark.gpu" tests --include="test_*.py") 2>&1 \
    | tee "$OUT/gpu_tests.txt" | tail -25

stage "bench_gpu"
timeout 420 "$PY" benchmarks/bench_gpu.py --json "$OUT/bench_gpu.json" "$@" 2>&1 | grep -v -i "warn" \
    | tee "$OUT/bench_gpu.txt" | tail -20
stage "done"
