#!/usr/bin/env bash
# Submit a sweep to a running Ray cluster through its job API: the driver runs on the cluster, every cell is a Ray
# task there. Nothing needs activating here:
#   RAY_ADDRESS=http://127.0.0.1:8265 launch/submit.sh experiment=journey80 results_dir=/shared/results
# - `ray` is $RAY, else this checkout's .venv/bin/ray, else the first on PATH.
# - The working directory is shipped without .venv, results, W&B dirs, checkpoints or secrets files
#   (launch/runtime_env.json); the sweep imports it on the cluster with the cluster's Python: $CLUSTER_PYTHON,
#   else `python` on the PATH Ray was started with there (ray_cluster.yaml, slurm.sbatch and the RayJob image put
#   the project's environment first on it; for a `ray start` by hand, run it with that environment's bin on PATH,
#   or set CLUSTER_PYTHON to its python).
# - A cluster's dashboard listens on 127.0.0.1: reach it with `ray dashboard launch/ray_cluster.yaml` or
#   `ssh -N -L 8265:127.0.0.1:8265 <head>`, then RAY_ADDRESS=http://127.0.0.1:8265.
# - results_dir must be a path every node can reach (a shared filesystem) or an object store URI.
# - Ray 2.60's `ray start` turns token auth on, but its job client sends the token only with RAY_AUTH_MODE=token:
#   that is set here when a token is at hand (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token, where
#   `ray start` keeps it on the head; copy it there from a remote head).
set -euo pipefail
cd "$(dirname "$0")/.."
ray_bin="${RAY:-}"
if [[ -z "${ray_bin}" && -x .venv/bin/ray ]]; then ray_bin=.venv/bin/ray; fi
if [[ -z "${ray_bin}" ]]; then ray_bin=$(command -v ray || true); fi
if [[ -z "${ray_bin}" ]]; then
  echo "launch/submit.sh: no ray found: run \`make install\` here, or set RAY to a ray executable" >&2
  exit 2
fi
if [[ -z "${RAY_AUTH_MODE:-}" && ( -n "${RAY_AUTH_TOKEN:-}${RAY_AUTH_TOKEN_PATH:-}" || -f ~/.ray/auth_token ) ]]; then
  export RAY_AUTH_MODE=token
fi
exec "${ray_bin}" job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" --working-dir . \
  --runtime-env launch/runtime_env.json \
  -- "${CLUSTER_PYTHON:-python}" -m orchestrator.train -m hydra.launcher.address=auto "$@"
