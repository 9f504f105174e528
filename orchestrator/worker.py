"""One rank of a cell's worker group: the DeepSpeed training loop.

plan → model → data → pruner → deepspeed.initialize → steps (a prune event every `every` steps inside the
planned window) → evaluation, checkpoints → final_model.pt and result.json (rank 0, atomic).

Order inside step t: the prune event for t (if any) → accounting of the non-zero prunable weights in force during
t → forward/backward (gradient hooks zero pruned gradients) → optimizer step → masks re-applied.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import torch

from model.gpt import GPT
from orchestrator.cell_id import cell_coordinates
from orchestrator.cell_job import CellJob
from orchestrator.checkpoint import load_latest_checkpoint, save_checkpoint
from orchestrator.data import TokenBatches
from orchestrator.deepspeed_masks import DeepSpeedMaskTarget
from orchestrator.distributed import WorkerPlace, build_engine, ensure_process_group, resolve_device
from orchestrator.lr_schedule import learning_rate
from orchestrator.result import cell_result
from orchestrator.store import MetricsLog, save_torch_atomic, write_json_atomic
from orchestrator.tracking import Tracker
from pruning.accounting import ParamAccountant
from pruning.magnitude import GlobalMagnitudePruner, prunable_weights


@dataclass
class LossWindow:
    """Losses and step times since the last logged step."""

    loss_sum: float = 0.0
    time_sum: float = 0.0
    count: int = 0

    def add(self, loss: float, seconds: float) -> None:
        self.loss_sum += loss
        self.time_sum += seconds
        self.count += 1

    def drain(self) -> tuple[float, float]:
        loss, seconds = self.loss_sum / self.count, self.time_sum / self.count
        self.loss_sum, self.time_sum, self.count = 0.0, 0.0, 0
        return loss, seconds


def _mean_across_ranks(value: torch.Tensor, world_size: int) -> float:
    if world_size > 1:
        value = value.detach().clone().float()
        torch.distributed.all_reduce(value)
        value /= world_size
    return float(value)


def evaluate(engine, data: TokenBatches, job: CellJob, place: WorkerPlace, device: torch.device) -> float:
    config = job.config
    engine.module.eval()
    with torch.no_grad():
        losses = [engine.module(x.to(device), y.to(device))[1].float()
                  for x, y in data.eval_batches(config.train.eval_batches, batch_size=config.train.batch_size,
                                                rank=place.rank, world_size=place.world_size)]
    engine.module.train()
    return _mean_across_ranks(torch.stack(losses).mean(), place.world_size)


def _threads(job: CellJob, place: WorkerPlace) -> int:
    """train.threads, else the cell's CPUs split across its workers: $OMP_NUM_THREADS when set (Ray sets it to
    the CPUs it gave the task), else all cores."""
    cpus = int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count() or 1
    return job.config.train.threads or max(1, cpus // place.world_size)


def run_worker(place: WorkerPlace, job: CellJob, stop_after_step: int | None = None) -> str:
    """Train this rank's share of the cell; returns the status. `stop_after_step` simulates an interruption
    after that many steps (tests of resume), leaving only checkpoints behind."""
    config, plan, paths = job.config, job.plan, job.paths
    torch.set_num_threads(_threads(job, place))
    device = resolve_device(config, place.rank)
    ensure_process_group(place, device)

    torch.manual_seed(config.seed)  # identical initial weights on every rank
    engine, _ = build_engine(GPT(job.model_config).to(device), config, place, device)
    weights = prunable_weights(engine.module)
    n_prunable = sum(w.numel() for w in weights.values())
    pruner = None
    if config.pruning.schedule != "none":
        pruner = GlobalMagnitudePruner(weights, schedule=config.pruning.schedule, sparsity=plan.sparsity,
                                       t_start=plan.t_start, t_end=plan.t_end, every=plan.every,
                                       target=DeepSpeedMaskTarget(engine))
        pruner.register_gradient_hooks()
    accountant, window, step, resumed_from = ParamAccountant(), LossWindow(), 0, []
    client = load_latest_checkpoint(engine, paths.checkpoints)
    if client is not None:
        step = client["step"]
        resumed_from = [*client.get("resumed_from", []), step]
        if place.is_main:
            print(f"[orchestrator] cell {job.cell_id}: resumed from its checkpoint at step {step}", flush=True)
        accountant.load_state_dict(client["accountant"])
        window = LossWindow(**client["window"])
        if pruner is not None:
            pruner.load_state_dict(client["pruner"])
            pruner.apply_masks()

    metrics = MetricsLog(paths.metrics)
    tracker = None
    if place.is_main:
        metrics.truncate_after(step)
        tracker = Tracker(config.wandb, run_dir=paths.root, sweep=config.sweep, cell_id=job.cell_id,
                          config=job.resolved, tags=[f"{k}={v}" for k, v in cell_coordinates(config).items()])
    data = TokenBatches(job.data.train_path, seq_len=config.model.context, dtype=job.data.dtype)
    val_data = TokenBatches(job.data.val_path, seq_len=config.model.context, dtype=job.data.dtype)
    status, last_loss, val_loss = "done", math.nan, math.nan
    started, first_step_at = time.perf_counter(), time.time()

    while step < plan.total_steps:
        tick = time.perf_counter()
        if pruner is not None:
            pruner.update(step)
        n_nonzero = pruner.n_nonzero() if pruner is not None else n_prunable
        accountant.record(step, n_nonzero)
        lr = learning_rate(step, total_steps=plan.total_steps, peak_lr=config.optim.lr,
                           warmup_fraction=config.optim.warmup_fraction, min_lr_ratio=config.optim.min_lr_ratio)
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
        x, y = data.batch(step, batch_size=config.train.batch_size, seed=config.seed, rank=place.rank,
                          world_size=place.world_size)
        _, loss = engine(x.to(device), y.to(device))
        engine.backward(loss)
        engine.step()
        if pruner is not None:
            pruner.apply_masks()
        last_loss = _mean_across_ranks(loss.detach(), place.world_size)
        step += 1
        window.add(last_loss, time.perf_counter() - tick)
        if not math.isfinite(last_loss):
            status = "diverged"
            if place.is_main:
                record = {"step": step, "tokens": step * job.tokens_per_step, "loss": None, "lr": lr}
                metrics.append(record)
                tracker.log(record)
            break
        record = None
        if step % config.train.log_every == 0 or step == plan.total_steps:
            mean_loss, step_time = window.drain()
            record = {"step": step, "tokens": step * job.tokens_per_step, "loss": mean_loss, "lr": lr,
                      "params_current": n_nonzero, "params_avg": accountant.avg_params,
                      "sparsity": 1.0 - n_nonzero / n_prunable, "step_time": step_time}
        if step % config.train.eval_every == 0 or step == plan.total_steps:
            val_loss = evaluate(engine, val_data, job, place, device)
            record = (record or {"step": step, "tokens": step * job.tokens_per_step}) | {"val_loss": val_loss}
        if record is not None and place.is_main:
            metrics.append(record)
            tracker.log(record)
        if step % config.train.checkpoint_every == 0 and step < plan.total_steps:
            save_checkpoint(engine, paths.checkpoints, step, {
                "step": step, "accountant": accountant.state_dict(), "window": vars(window).copy(),
                "resumed_from": resumed_from, "pruner": pruner.state_dict() if pruner is not None else None})
        if stop_after_step is not None and step >= stop_after_step:
            if tracker is not None:
                tracker.finish({}, exit_code=1)
            return "interrupted"

    last_step_at = time.time()
    if place.is_main:
        state = {k: v.detach().cpu().clone() for k, v in engine.module.state_dict().items()}
        save_torch_atomic(paths.final_model, state)
        result = cell_result(job, status=status, steps=step, final_loss=last_loss, val_loss=val_loss,
                             accountant=accountant, n_prunable=n_prunable,
                             wall_seconds=time.perf_counter() - started, resumed_from=resumed_from)
        tracker.finish({k: v for k, v in result.items() if isinstance(v, (int, float, str))})
        # result.json is written last: its presence means the cell's files are complete
        result["timing"] = {"job_started_at": job.launched_at, "first_step_at": first_step_at,
                            "last_step_at": last_step_at, "result_written_at": time.time()}
        write_json_atomic(paths.result, result)
    if pruner is not None:
        pruner.finalize()
    return status
