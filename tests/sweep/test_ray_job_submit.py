"""The cluster path as the README walks it: a local Ray head started with the project's environment first on PATH
(`make ray-head`) receives a micro sweep through launch/submit.sh, run from a shell where nothing is activated (the
script finds the project's `ray` itself), and the sweep completes there."""
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, TINY

from orchestrator.cell.distributed import free_port

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_a_sweep_submitted_with_ray_job_submit_completes(tmp_path):
    bare_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = os.environ | {"PATH": f"{BIN}:{bare_path}", "RAY_USAGE_STATS_ENABLED": "0", "WANDB_MODE": "offline"}
    for name in ("RAY_ADDRESS", "VIRTUAL_ENV", "RAY", "CLUSTER_PYTHON"):
        env.pop(name, None)
    token = tmp_path / "ray_auth_token"  # Ray 2.60 clusters require token auth: one token for head and client
    token.write_text(secrets.token_hex(32))
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    port, dashboard, agent = free_port(), free_port(), free_port()
    temp_dir = Path("/tmp") / f"ray-{uuid.uuid4().hex[:8]}"  # short: Ray's socket paths have a length limit
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
                    # the job agent's own port: Ray's default (52365) is taken whenever another Ray runs here
                    f"--dashboard-agent-listen-port={agent}",
                    f"--temp-dir={temp_dir}", "--disable-usage-stats"],
                   env=env, check=True, capture_output=True, timeout=180)
    try:
        shell = env | {"PATH": bare_path, "RAY_ADDRESS": f"http://127.0.0.1:{dashboard}"}  # nothing activated
        if not (REPO / ".venv" / "bin" / "ray").exists():  # the tests run from another environment than make's
            shell["RAY"] = str(BIN / "ray")
        for attempt in range(8):  # a head under load can take a while to start the agent that accepts jobs
            submitted = subprocess.run(
                ["bash", str(REPO / "launch" / "submit.sh"), *TINY, "pruning.sparsity=0.3,0.6", f"results_dir={tmp_path / 'store'}"],
                cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=600)
            if "No available agent to submit job" not in submitted.stderr:
                break
            time.sleep(10)
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
        assert "succeeded" in submitted.stdout
        statuses = [json.loads(p.read_text())["status"] for p in (tmp_path / "store").glob("default/*/result.json")]
        assert statuses == ["done", "done"]
    finally:
        stop_head(temp_dir, port)


def stop_head(temp_dir: Path, port: int) -> None:
    """End this test's Ray head and everything it started, and nothing else (`ray stop` would end every Ray on
    the machine, other sweeps' included): the processes naming its temp dir or port, and their descendants."""
    import psutil

    marks = (str(temp_dir), f":{port} ", f":{port}\n")
    roots = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or []) + "\n"
        if process.pid != os.getpid() and any(mark in line for mark in marks):
            roots.append(process)
    doomed = {p.pid: p for root in roots for p in [root, *root.children(recursive=True)]}
    for process in doomed.values():
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(doomed.values()), timeout=30)
