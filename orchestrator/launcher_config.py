"""The Ray launcher's Hydra config (`hydra/launcher=ray`), registered by the hydra_plugins shim."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.ray_cells.ray_launcher.RayLauncher"
    # None: start a local Ray for this sweep; "auto": join the cluster this machine belongs to (`ray start`,
    # `ray job submit`); "ray://host:10001": a remote cluster through Ray Client.
    address: Optional[str] = None
    num_cpus: Optional[int] = None  # CPUs of a local Ray (None: all cores)
    include_dashboard: Optional[bool] = None  # local Ray only (None: Ray decides, on when installed), on dashboard_host
    dashboard_host: str = "127.0.0.1"
    # A local Ray's head (GCS, raylet, agents, object manager) listens on 127.0.0.1 only; false: Ray's default,
    # every interface (other machines could then reach it, token auth being the only guard).
    localhost_only: bool = True
    connect_timeout_s: float = 20.0  # how long to wait for an unreachable cluster before failing (TCP, then Ray)
    # With an address: start the sweep once this many nodes are alive in the cluster (a Slurm allocation whose
    # workers are still joining), or fail after connect_timeout_s more seconds, saying how many joined.
    wait_for_nodes: int = 1
    # Jobs run one at a time on a pool of Ray actors (per resource shape, as many as the cluster runs at once). Each
    # actor keeps its process from job to job, which saves the interpreter start and the imports (~2.5-4 s per job
    # here); false gives every job a fresh actor, hence a fresh process.
    reuse_processes: bool = True
    max_retries: int = 2  # re-runs of a job whose process or node died (resumed from its checkpoint)
    # Dotted paths to functions of the composed job configs. Both are optional, so any Hydra app can use this
    # launcher; when unset, the task function's attributes of the same names are used if it has them.
    validate_jobs: Optional[str] = None  # f(list[DictConfig]) -> None; raises before anything runs
    # f(DictConfig) -> {"num_cpus": .., "num_gpus": ..} per job; with "ranks": k, per rank of a gang of k actors in
    # one placement group (orchestrator/sweep/gang.py), whose lead runs the job
    job_resources: Optional[str] = None
    job_cost: Optional[str] = None  # f(DictConfig) -> float; costliest jobs are submitted first (shorter tail)
    warm_up: Optional[str] = None  # f() -> None, run once in each pool actor as it starts (the app's imports)
    # f() -> None, run in each pool actor (a gang's lead) that ran its jobs to the end, before it is let go: the app
    # flushes what it keeps from job to job (orchestrator-train: W&B's service, which completes its runs' files)
    wind_down: Optional[str] = None
    on_sweep_start: Optional[str] = None  # f(list[DictConfig]) -> None; once Ray is up, before any job is submitted
    on_sweep_end: Optional[str] = None  # f(DictConfig, list[JobReturn]) -> None; runs even when jobs failed
    # f(DictConfig, BaseException) -> None, for a job that never ran to its end: refused as unschedulable, or given
    # up by Ray after max_retries (its process or node kept dying); the app records it (orchestrator-train writes
    # the cell's failed result.json)
    on_job_failed: Optional[str] = None
    # Ray actor options for every job (for each rank of a job that runs on a gang of `ranks` actors), over what the
    # app's job_resources hook asks (orchestrator-train: a CPU per worker thread, or train.gpus_per_worker GPUs per
    # worker, with ranks = train.workers) or over {"num_cpus": 1} without a hook: e.g. {memory: 4e9},
    # {resources: {big_node: 1}}, or num_cpus / num_gpus to overrule the hook's count.
    default_resources: dict[str, Any] = field(default_factory=dict)
    # A job asking for more of a resource than the whole cluster has (GPUs on a CPU cluster) would wait forever;
    # it fails at once instead, unless an autoscaler is expected to add such nodes.
    allow_infeasible: bool = False
    progress: bool = True  # a live progress bar and a summary table at the end
    runtime_env: dict[str, Any] = field(default_factory=dict)  # passed to ray.init (local or client mode)
