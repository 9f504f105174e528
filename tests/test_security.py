"""Secrets never reach saved configs, logs, results or W&B; checkpoints load with weights_only=True; results are
JSON; a local Ray listens on 127.0.0.1 only; `ray job submit` leaves local secrets files behind."""
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, TINY, build

from orchestrator.cell.run import run_cell

BIN = Path(sys.executable).parent
PLANTED = {
    "WANDB_API_KEY": "0123456789abcdef0123456789abcdefPLANTED1",
    "AWS_SECRET_ACCESS_KEY": "PLANTEDawsSecretKey/abcdefghijklmnop12345",
    "HF_TOKEN": "hf_PLANTEDtokenQwErTy0987654321",
}


def files_under(*roots: Path):
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and not path.name.endswith((".sock", "_socket")):
                yield path


@pytest.mark.slow
def test_planted_secrets_appear_nowhere_and_local_ray_listens_on_localhost(tmp_path):
    scratch = Path(tempfile.mkdtemp(prefix="sec", dir="/tmp"))  # Ray's session (sockets: keep the path short)
    store = tmp_path / "store"
    env = os.environ | PLANTED | {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
                                  "TMPDIR": str(scratch), "RAY_TMPDIR": str(scratch)}
    done = subprocess.run([str(BIN / "orchestrator-train"), "-m", *TINY, "wandb.mode=offline",
                           "hydra.launcher.num_cpus=1", f"results_dir={store}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    launch_line = next(line for line in (done.stdout + done.stderr).splitlines() if "Launching" in line)
    assert "on Ray (127.0.0.1:" in launch_line, launch_line

    scanned = list(files_under(store, scratch))
    texts = [done.stdout.encode(), done.stderr.encode()] + [p.read_bytes() for p in scanned]
    assert any(p.suffix == ".wandb" for p in scanned) and any("session_" in str(p) for p in scanned)
    assert any(str(store).encode() in text for text in texts[2:]), "the scan reads the files configs are saved in"
    for name, secret in PLANTED.items():
        leaks = [str(p) for p, text in zip(["stdout", "stderr", *scanned], texts) if secret.encode() in text]
        assert not leaks, f"{name} leaked into {leaks}"


def test_a_tampered_checkpoint_is_refused_not_executed(tiny, tmp_path):
    overrides = tiny + ["pruning=geometric", "pruning.sparsity=0.5"]
    config, resolved = build(overrides)
    paths = run_cell(config, resolved, stop_after_step=13).paths
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (checkpoint,) = paths.checkpoints.glob("step*/mp_rank_00_model_states.pt")
    torch.save({"module": Payload()}, checkpoint)
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        run_cell(*build(overrides))
    assert not marker.exists()
    assert json.loads(paths.result.read_text())["status"] == "failed"


def test_results_are_json_and_the_model_loads_with_weights_only(tiny):
    outcome = run_cell(*build(tiny + ["pruning=geometric", "pruning.sparsity=0.5"]))
    root = outcome.paths.root
    json.loads((root / "result.json").read_text())
    json.loads((root / "plan.json").read_text())
    [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    yaml.safe_load((root / "config.yaml").read_text())
    assert torch.load(root / "final_model.pt", weights_only=True)
    pickles = [p.relative_to(root) for p in root.rglob("*.pt") if p.name != "final_model.pt"]
    assert all(p.parts[0] == "checkpoints" for p in pickles), pickles


def test_job_submit_leaves_local_secrets_files_and_outputs_behind(tmp_path):
    from ray._private.runtime_env.packaging import create_package

    project = tmp_path / "project"
    kept = ["orchestrator/data/tokenizer.py", "conf/config.yaml", "setup.cfg", "launch/submit.sh"]
    left_behind = [".env", ".env.local", "secrets.yaml", "deploy/secrets/ray.yaml", "certs/server.pem", "tls.key",
                   ".netrc", "sub/.netrc", ".aws/credentials", "gcp/credentials.json", ".ssh/id_rsa",
                   "ray_auth.token", ".venv/bin/python", "results/x/result.json", "wandb/run/a.wandb",
                   "results_dir/cell/checkpoints/step1/m.pt", "outputs/a.log", ".git/config"]
    for name in kept + left_behind:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    excludes = json.loads((REPO / "launch" / "runtime_env.json").read_text())["excludes"]
    package = tmp_path / "package.zip"
    create_package(str(project), package, include_gitignore=False, excludes=excludes)  # no .gitignore to help
    shipped = set(zipfile.ZipFile(package).namelist())
    assert set(kept) <= shipped
    assert not [name for name in left_behind if name in shipped]


LISTENING = """
import json, psutil, ray
from orchestrator.launcher_config import RayLauncherConf
from orchestrator.sweep.connect import connect
connect(RayLauncherConf(num_cpus=1, include_dashboard=True))
ray.get(ray.remote(lambda: 1).remote())  # a worker process is up too
ours = {p.pid for p in psutil.Process().children(recursive=True)} | {psutil.Process().pid}
print(json.dumps(sorted({c.laddr.ip for c in psutil.net_connections("inet")
                         if c.status == psutil.CONN_LISTEN and c.pid in ours})))
ray.shutdown()
"""


@pytest.mark.slow
def test_every_socket_of_a_local_ray_listens_on_localhost_only():
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", LISTENING], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    addresses = json.loads(done.stdout.strip().splitlines()[-1])
    assert addresses and set(addresses) <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, addresses
