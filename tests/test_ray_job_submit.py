"""The cluster path: a local Ray head (`ray start --head` on 127.0.0.1) receives a micro sweep through
`ray job submit` (the runtime env of launch/) and the sweep completes there."""
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import REPO, TINY
from orchestrator.distributed import free_port

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_a_sweep_submitted_with_ray_job_submit_completes(tmp_path):
    env = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
                        "WANDB_MODE": "offline"}
    env.pop("RAY_ADDRESS", None)
    token = tmp_path / "ray_auth_token"  # Ray 2.60 clusters require token auth: one token for head and client
    token.write_text(secrets.token_hex(32))
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    port, dashboard = free_port(), free_port()
    temp_dir = Path("/tmp") / f"ray-{uuid.uuid4().hex[:8]}"  # short: Ray's socket paths have a length limit
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
                    f"--temp-dir={temp_dir}", "--disable-usage-stats"],
                   env=env, check=True, capture_output=True, timeout=180)
    try:
        submitted = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dashboard}", "--working-dir", ".",
             "--runtime-env", "launch/runtime_env.json", "--", "python", "-m", "orchestrator.train", "-m",
             "hydra.launcher.address=auto", *TINY, "pruning.sparsity=0.3,0.6", f"results_dir={tmp_path / 'store'}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
        assert "succeeded" in submitted.stdout
        statuses = [json.loads(p.read_text())["status"] for p in (tmp_path / "store").glob("default/*/result.json")]
        assert statuses == ["done", "done"]
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True, timeout=120)
