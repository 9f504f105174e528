"""launch/submit.sh and launch/slurm.sbatch. slurm.sbatch run as Slurm would run it, with `srun` and `scontrol` stand-ins (srun runs the step here) and
a stand-in `ray` in the project environment it puts first on PATH: Ray gets the job's CPU and GPU counts, the
workers start once the head answers (polled, no fixed sleeps), the sweep waits for every node, and Ray is stopped
whatever the sweep's exit status, which is the job's."""
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "launch" / "slurm.sbatch"

SRUN = """#!/usr/bin/env bash
while [[ $# -gt 0 && "$1" == -* ]]; do [[ "$1" == -w ]] && shift; shift; done
exec "$@"
"""
SCONTROL = "#!/usr/bin/env bash\necho node-a\necho node-b\n"
# `ray status` fails on the first poll (the head is starting) and answers from the second on
RAY = """#!/usr/bin/env bash
echo "ray $*" >> "$LOG"
case "$1" in
  start) [[ " $* " == *" --block "* ]] && exec sleep 300 ;;
  status) polls=$(cat "$LOG.polls" 2>/dev/null || echo 0); echo $((polls + 1)) > "$LOG.polls"; ((polls >= 1)) ;;
esac
"""
# the sweep: like hydra.launcher.wait_for_nodes, it waits (up to 20 s) for the worker that the script started in
# the background to have joined (its `ray start` logged), so that the log's order does not depend on the machine's load
FAKE_PYTHON = """#!/usr/bin/env bash
for _ in $(seq 200); do grep -q "^ray start --address" "$LOG" && break; sleep 0.1; done
echo "python $* RAY_ADDRESS=$RAY_ADDRESS" >> "$LOG"
exit "${SWEEP_EXIT:-0}"
"""


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_job(tmp_path: Path, *sweep_args: str, real_python: bool = False, **env: str):
    shims, venv_bin = tmp_path / "shims", tmp_path / "venv" / "bin"
    shims.mkdir()
    venv_bin.mkdir(parents=True)
    executable(shims / "srun", SRUN)
    executable(shims / "scontrol", SCONTROL)
    executable(venv_bin / "ray", RAY)
    if real_python:
        executable(venv_bin / "python", f'#!/usr/bin/env bash\nexec "{sys.executable}" "$@"\n')
    else:
        executable(venv_bin / "python", FAKE_PYTHON)
    log = tmp_path / "log"
    job_env = {"PATH": f"{shims}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", str(tmp_path)),
               "VENV": str(tmp_path / "venv"), "LOG": str(log), "SLURM_SUBMIT_DIR": str(REPO),
               "SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_CPUS_PER_TASK": "6", "SLURM_GPUS_ON_NODE": "2",
               "WANDB_MODE": "disabled", **env}
    done = subprocess.run(["bash", str(SCRIPT), *sweep_args], env=job_env, capture_output=True, text=True,
                          timeout=120)
    return done, log.read_text().splitlines()


def test_a_job_starts_ray_with_slurms_counts_runs_the_sweep_on_every_node_and_stops_ray(tmp_path):
    done, calls = run_job(tmp_path, "experiment=journey80", "results_dir=/shared/results")
    assert done.returncode == 0, done.stderr
    head, *rest = [c for c in calls if c.startswith("ray start")]
    assert "--head" in head and "--num-cpus=6" in head and "--num-gpus=2" in head and "--port=6379" in head
    assert rest == ["ray start --address=127.0.0.1:6379 --num-cpus=6 --num-gpus=2 --block"]  # one worker: node-b
    polls = [i for i, c in enumerate(calls) if c.startswith("ray status")]
    assert len(polls) == 2 and polls[-1] < calls.index(rest[0])  # the worker starts once the head has answered
    sweep = next(c for c in calls if c.startswith("python"))
    assert sweep == ("python -m orchestrator.train -m hydra.launcher.address=auto hydra.launcher.wait_for_nodes=2 "
                     "hydra.launcher.connect_timeout_s=300 experiment=journey80 results_dir=/shared/results "
                     "RAY_ADDRESS=127.0.0.1:6379")
    assert calls[-1] == "ray stop --force" and calls.index(sweep) < len(calls) - 1


def test_a_failed_sweep_still_stops_ray_and_the_job_exits_with_its_status(tmp_path):
    done, calls = run_job(tmp_path, SWEEP_EXIT="3")
    assert done.returncode == 3
    assert calls[-1] == "ray stop --force"


def test_bad_input_to_the_real_sweep_ends_the_job_with_exit_2_and_ray_stopped(tmp_path):
    done, calls = run_job(tmp_path, "pruning.sparsity=1.5", f"results_dir={tmp_path / 'store'}", real_python=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "pruning.sparsity" in done.stderr and "Traceback" not in done.stderr
    assert calls[-1] == "ray stop --force" and not (tmp_path / "store").exists()


def test_a_head_that_never_answers_fails_the_job_after_ray_wait_s(tmp_path):
    done, calls = run_job(tmp_path, RAY_WAIT_S="0")
    assert done.returncode == 1
    assert "did not answer within 0 s" in done.stderr
    assert not any(c.startswith("python") for c in calls) and calls[-1] == "ray stop --force"


def test_submit_without_any_ray_says_how_to_get_one(tmp_path):
    checkout = tmp_path / "checkout"  # a checkout without .venv, and a PATH without ray
    (checkout / "launch").mkdir(parents=True)
    (checkout / "launch" / "submit.sh").write_text((REPO / "launch" / "submit.sh").read_text())
    done = subprocess.run(["bash", str(checkout / "launch" / "submit.sh"), "experiment=demo"], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=60)
    assert done.returncode == 2 and "no ray found" in done.stderr and "make install" in done.stderr


def test_submit_hands_the_sweep_to_ray_job_submit_with_the_clusters_python(tmp_path):
    fake_ray = tmp_path / "ray"
    executable(fake_ray, '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$LOG"\n')
    log = tmp_path / "log"
    done = subprocess.run(["bash", str(REPO / "launch" / "submit.sh"), "experiment=journey80", "results_dir=/r r"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "RAY": str(fake_ray), "LOG": str(log),
                               "RAY_ADDRESS": "http://10.0.0.1:8265", "CLUSTER_PYTHON": "/opt/env/bin/python"})
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "job", "submit", "--address", "http://10.0.0.1:8265", "--working-dir", ".", "--runtime-env",
        "launch/runtime_env.json", "--", "/opt/env/bin/python", "-m", "orchestrator.train", "-m",
        "hydra.launcher.address=auto", "experiment=journey80", "results_dir=/r r"]
