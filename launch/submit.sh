#!/usr/bin/env bash
# Submit a sweep to a running Ray cluster: the driver runs on the cluster, every cell is a Ray task there.
#   RAY_ADDRESS=http://127.0.0.1:8265 launch/submit.sh experiment=journey80 results_dir=/shared/results
# The working directory is shipped without .venv, results, W&B dirs, checkpoints or secrets files
# (launch/runtime_env.json). The cluster's nodes need the project's Python environment (`make install`, then
# `ray start` from .venv). Use a results_dir every node can reach (a shared filesystem). Ray 2.60 clusters use
# token auth: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN) to the cluster's token.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" --working-dir . \
  --runtime-env launch/runtime_env.json \
  -- python -m orchestrator.train -m hydra.launcher.address=auto "$@"
