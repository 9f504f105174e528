"""One rank of a cell's worker group: the DeepSpeed training loop.

plan → model → data → pruner → deepspeed.initialize → phases (orchestrator/cell/phases.py): pre-training, a prune event
every `every` steps inside the planned window (or SPDF's static mask from step 0), evaluation and checkpoints →
final_model.pt; then, when `finetune.steps` > 0, dense fine-tuning with the mask dropped → finetuned_model.pt →
result.json (rank 0, atomic, written last).

Order inside step t: the prune event for t (if any) → accounting of the non-zero prunable weights in force during
t → forward/backward (gradient hooks zero pruned gradients) → optimizer step → masks re-applied.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import torch

from model.gpt import GPT
from orchestrator.cell.checkpoint import load_latest_checkpoint, save_checkpoint
from orchestrator.cell.deepspeed_masks import DeepSpeedMaskTarget
from orchestrator.cell.distributed import (WorkerPlace, build_engine, clips_in_the_loop, ensure_process_group,
                                           resolve_device)
from orchestrator.cell.job import CellJob
from orchestrator.cell.p2_base import mask_names_in, pruned_model
from orchestrator.cell.phases import FINETUNE, PRETRAIN, Phase, build_phases
from orchestrator.cell.progress_report import ProgressReporter, ProgressSink
from orchestrator.cell.step_lines import StepLines
from orchestrator.cell.result import cell_result
from orchestrator.cell.tracking import Tracker, run_config
from orchestrator.cell.trunk import forks_dir
from orchestrator.store.cell_id import cell_coordinates
from orchestrator.store.files import MetricsLog, save_torch_atomic, write_json_atomic
from pruning.accounting import ParamAccountant
from pruning.magnitude import GlobalMagnitudePruner, prunable_weights
from pruning.static import STATIC, FixedMaskPruner, StaticRandomPruner, static_masked_weights


@dataclass
class LossWindow:
    """Losses and step times since the last logged step. The losses are summed on the training device in float64
    (the sum Python floats would give) and read back to the host only when a step is logged: a GPU step then never
    waits for the GPU."""

    loss_sum: float | torch.Tensor = 0.0
    time_sum: float = 0.0
    count: int = 0

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum = loss.detach().double() + self.loss_sum
        self.count += 1

    def drain(self, loss_sum: float) -> tuple[float, float]:
        """(mean loss, mean step seconds) of the window, given its loss sum as read back; then empty it."""
        loss, seconds = loss_sum / self.count, self.time_sum / self.count
        self.loss_sum, self.time_sum, self.count = 0.0, 0.0, 0
        return loss, seconds


@dataclass
class Progress:
    """Where the cell is; all of it goes into every checkpoint."""

    step: int = 0
    window: LossWindow = field(default_factory=LossWindow)
    resumed_from: list[int] = field(default_factory=list)
    last_loss: float = math.nan  # of the current phase
    val_loss: float = math.nan  # of the current phase
    pretrain: dict | None = None  # {"final_loss", "val_loss"} once pre-training is over
    trunk: dict | None = None  # {"cell_id", "fork_step"}: the shared dense trunk this cell was forked from

    def state_dict(self) -> dict:
        window = vars(self.window) | {"loss_sum": float(self.window.loss_sum)}
        return {"step": self.step, "window": window, "resumed_from": self.resumed_from,
                "last_loss": self.last_loss, "val_loss": self.val_loss, "pretrain": self.pretrain,
                "trunk": self.trunk}

    @classmethod
    def resumed(cls, state: dict) -> "Progress":
        """From a checkpoint's client state: the cell's own (a resume, recorded in resumed_from) or a trunk's fork
        checkpoint (`fork` in it: recorded as the cell's trunk, not as a resume)."""
        fork = state.get("fork")
        return cls(step=state["step"], window=LossWindow(**state["window"]),
                   resumed_from=[] if fork else [*state.get("resumed_from", []), state["step"]],
                   last_loss=state.get("last_loss", math.nan), val_loss=state.get("val_loss", math.nan),
                   pretrain=state.get("pretrain"), trunk=fork or state.get("trunk"))


def _mean_across_ranks(value: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1:
        value = value.detach().clone()
        torch.distributed.all_reduce(value)
        value /= world_size
    return value


def _to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A GPU gets the batch from pinned memory, asynchronously: a copy from pageable memory waits for the GPU."""
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch


def _autocast(engine, device: torch.device):
    """The engine's torch_autocast outside its forward (evaluation calls the module itself)."""
    return torch.autocast(device.type, dtype=engine.torch_autocast_dtype(), enabled=engine.torch_autocast_enabled())


def evaluate(engine, data, job: CellJob, place: WorkerPlace, device: torch.device) -> float:
    config = job.config
    engine.module.eval()
    with torch.no_grad(), _autocast(engine, device):
        losses = [engine.module(x.to(device), y.to(device))[1].float()
                  for x, y in data.eval_batches(config.train.eval_batches, batch_size=config.train.batch_size,
                                                rank=place.rank, world_size=place.world_size)]
    engine.module.train()
    return float(_mean_across_ranks(torch.stack(losses).mean(), place.world_size))


def _threads(job: CellJob, place: WorkerPlace) -> int:
    """The count the cell chose before its workers started (orchestrator/cell/threads.py), else train.threads,
    else (a job built by hand) the cell's CPUs split across its workers."""
    if job.threads:
        return job.threads
    cpus = int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count() or 1
    return job.config.train.threads or max(1, cpus // place.world_size)


def _make_pruner(engine, job: CellJob, weights: dict, fixed_masks: dict | None) -> GlobalMagnitudePruner | None:
    config, plan = job.config, job.plan
    target = DeepSpeedMaskTarget(engine)
    if fixed_masks is not None:  # P² 2:4: the masks of the pruned base, held through post-training
        pruner = FixedMaskPruner(mask_names_in(engine.module, fixed_masks), fixed_masks, target=target)
    elif config.pruning.schedule == "none":
        return None
    elif config.pruning.schedule == STATIC:
        pruner = StaticRandomPruner(static_masked_weights(weights), sparsity=plan.sparsity, seed=config.seed,
                                    target=target)
    else:
        pruner = GlobalMagnitudePruner(weights, schedule=config.pruning.schedule, sparsity=plan.sparsity,
                                       t_start=plan.t_start, t_end=plan.t_end, every=plan.every, target=target)
    pruner.register_gradient_hooks()
    return pruner


class CellTrainer:
    """The state of one rank while it trains a cell: engine, pruner, accounting, progress, logs. Rank 0 reports its
    step to `report` (a sweep's live display) at its logged steps."""

    def __init__(self, place: WorkerPlace, job: CellJob, report: ProgressSink | None = None) -> None:
        self.place, self.job, self.config = place, job, job.config
        self.phases = build_phases(job)
        self.report = ProgressReporter(report if place.is_main else None)
        torch.set_num_threads(_threads(job, place))
        self.device = resolve_device(self.config, place.rank)
        ensure_process_group(place, self.device)
        torch.manual_seed(self.config.seed)  # identical initial weights on every rank
        model, fixed_masks, self.structured = GPT(job.model_config), None, None
        if job.base is not None:
            model, fixed_masks, self.structured = pruned_model(self.config, job.model_config, job.base,
                                                               job.data.train)
        self.engine, _ = build_engine(model.to(self.device), self.config, place, self.device)
        weights = prunable_weights(self.engine.module)
        self.n_prunable = sum(w.numel() for w in weights.values())
        self.pruner = _make_pruner(self.engine, job, weights, fixed_masks)
        self.clip_norm = self.config.optim.grad_clip if clips_in_the_loop(self.config, self.device) else 0.0
        self.accountant, self.progress = ParamAccountant(), Progress()
        client = load_latest_checkpoint(self.engine, job.paths.checkpoints)
        if client is not None:
            self.progress = Progress.resumed(client)
            self.accountant.load_state_dict(client["accountant"])
            if self.pruner is not None and client["pruner"] is not None:
                self.pruner.load_state_dict(client["pruner"])
                self.pruner.apply_masks()
            if place.is_main:
                print(f"[orchestrator] cell {job.cell_id}: " + (
                    f"forked from the shared dense trunk {client['fork']['cell_id']} at step {self.progress.step}"
                    if client.get("fork") else f"resumed from its checkpoint at step {self.progress.step}"), flush=True)
        self.metrics, self.tracker, self.lines = MetricsLog(job.paths.metrics), None, StepLines(job.cell_id)
        if place.is_main:
            self.metrics.truncate_after(self.progress.step)
            self.tracker = Tracker(self.config.wandb, run_dir=job.paths.root, store=self.config.results_dir,
                                   sweep=self.config.sweep, cell_id=job.cell_id, config=run_config(job),
                                   tags=[f"{k}={v}" for k, v in cell_coordinates(self.config).items() if v is not None],
                                   system_stats=self.device.type == "cuda")
            if client is not None and client.get("fork"):  # the trunk's records up to the fork: the run's too
                for record in self.metrics.read():
                    self.tracker.log(record)

    def n_nonzero(self) -> int:
        pruner = self.pruner
        return self.n_prunable - (pruner.n_total - pruner.n_nonzero()) if pruner is not None else self.n_prunable

    def _log(self, record: dict) -> None:
        if self.place.is_main:
            self.metrics.append(record)
            self.tracker.log(record)

    def _read_losses(self, last: torch.Tensor) -> tuple[float, float]:
        """(the last step's loss, the window's loss sum), means across ranks: the one host sync of a logged step."""
        window_sum = torch.as_tensor(self.progress.window.loss_sum, dtype=torch.float64).to(last.device)
        values = torch.stack([last.detach().double(), window_sum])
        last_loss, loss_sum = _mean_across_ranks(values, self.place.world_size).tolist()
        return last_loss, loss_sum

    def _diverged_before_event(self, step: int) -> bool:
        """At a prune event, a loss gone NaN since the last logged step ends the cell as diverged (ranking NaN
        weights would fail it instead): the window is read back there, an event being a sync anyway."""
        is_event = getattr(self.pruner, "is_event", None)
        if is_event is None or not is_event(step) or not self.progress.window.count:
            return False
        if not math.isfinite(self._window_loss_sum()):
            self.progress.last_loss = math.nan
            return True
        return False

    def _window_loss_sum(self) -> float:
        """The window's loss sum, mean across ranks (a collective: every rank calls it at the same steps)."""
        loss_sum = torch.as_tensor(self.progress.window.loss_sum, dtype=torch.float64).to(self.device)
        return float(_mean_across_ranks(loss_sum, self.place.world_size))

    def _settle_window(self) -> None:
        """Before a checkpoint: every rank's window holds the mean across ranks (rank 0's state is the one saved, and
        every rank resumes from it)."""
        self.progress.window.loss_sum = self._window_loss_sum()

    def _clip_gradients(self) -> None:
        if self.clip_norm:
            torch.nn.utils.clip_grad_norm_(self.engine.module.parameters(), self.clip_norm)

    def _client_state(self) -> dict:
        return {**self.progress.state_dict(), "accountant": self.accountant.state_dict(),
                "pruner": self.pruner.state_dict() if self.pruner is not None else None}

    def _checkpoint(self) -> None:
        self._settle_window()
        save_checkpoint(self.engine, self.job.paths.checkpoints, self.progress.step, self._client_state())
        if self.job.remote is not None and self.place.is_main:  # a URI store: any machine can resume from here
            self.job.remote.upload(with_result=False)

    def _fork_checkpoint(self) -> None:
        """A shared trunk at one of its fork steps: a checkpoint its children start from, kept beside the others."""
        trunk = self.job.trunk
        self._settle_window()
        save_checkpoint(self.engine, forks_dir(self.job.paths), self.progress.step, self._client_state() | {
            "fork": {"cell_id": trunk.trunk_id, "fork_step": self.progress.step}}, keep=len(trunk.forks))

    def train(self, phase: Phase, stop_after_step: int | None) -> str:
        """Run `phase` from the current step to its end: done, diverged or interrupted."""
        config, place, progress, engine = self.config, self.place, self.progress, self.engine
        tokens_per_step = self.job.tokens_per_step
        self.lines.start_phase(phase.name, progress.step, phase.end_step, progress.step * tokens_per_step)
        last_step = self.phases[-1].end_step
        self.report(progress.step, last_step)
        while progress.step < phase.end_step:
            tick, step = time.perf_counter(), progress.step
            if self._diverged_before_event(step):
                self._log({"step": step, "tokens": step * tokens_per_step, phase.loss_key: None}
                          | ({"phase": phase.name} if phase.name != PRETRAIN else {}))
                return "diverged"
            if self.pruner is not None:
                self.pruner.update(step)
            n_nonzero = self.n_nonzero()
            if phase.trains_the_cell_model:
                self.accountant.record(step, n_nonzero)
            lr = phase.lr(step)
            for group in engine.optimizer.param_groups:
                group["lr"] = lr
            x, y = phase.train.batch(step, batch_size=config.train.batch_size, seed=config.seed, rank=place.rank,
                                     world_size=place.world_size)
            _, loss = engine(_to_device(x, self.device), _to_device(y, self.device))
            engine.backward(loss)
            self._clip_gradients()
            engine.step()
            if self.pruner is not None:
                self.pruner.apply_masks()
            progress.window.add(loss)
            progress.step = step = step + 1
            logged = step % config.train.log_every == 0 or phase.is_last(step)
            if logged:  # a NaN loss is caught here, within train.log_every steps
                progress.last_loss, loss_sum = self._read_losses(loss)
            progress.window.time_sum += time.perf_counter() - tick
            base = {"step": step, "tokens": step * tokens_per_step} | ({"phase": phase.name}
                                                                      if phase.name != PRETRAIN else {})
            record = None
            if logged:
                mean_loss, step_time = progress.window.drain(loss_sum)
                if not math.isfinite(mean_loss):
                    progress.last_loss = math.nan
                    self._log(base | {phase.loss_key: None, "lr": lr})
                    return "diverged"
                record = base | {phase.loss_key: mean_loss, "lr": lr, "step_time": step_time}
                if phase.trains_the_cell_model:
                    record |= {"params_current": n_nonzero, "params_avg": self.accountant.avg_params,
                               "sparsity": 1.0 - n_nonzero / self.n_prunable}
            if step % config.train.eval_every == 0 or phase.is_last(step):
                progress.val_loss = evaluate(engine, phase.held_out, self.job, place, self.device)
                record = (record or base) | {phase.val_key: progress.val_loss}
            if record is not None:
                self._log(record)
                if place.is_main:
                    self.lines.show(record, phase.loss_key)
                    self.report(step, last_step)
            if self.job.trunk is not None and step in self.job.trunk.forks:  # before the resume point: a trunk
                self._fork_checkpoint()  # killed while saving it resumes from an earlier step and saves it again
            if step % config.train.checkpoint_every == 0 and step < phase.end_step:
                self._checkpoint()
            if stop_after_step is not None and step >= stop_after_step:
                if self.tracker is not None:
                    self.tracker.finish({}, exit_code=1)
                return "interrupted"
        return "done"

    def end_pretraining(self) -> None:
        """Pre-training (or P² post-training) is over: keep its losses and save its model (rank 0)."""
        self.progress.pretrain = {"final_loss": self.progress.last_loss, "val_loss": self.progress.val_loss}
        self.progress.last_loss = self.progress.val_loss = math.nan
        if self.place.is_main:
            self._save_model(self.job.paths.final_model)

    def start_finetuning(self) -> None:
        if self.pruner is not None:  # SPDF: every weight trains again, the pruned ones from 0
            self.pruner.remove_hooks()
            self.pruner = None

    def _save_model(self, path) -> None:
        state = {k: v.detach().cpu().clone() for k, v in self.engine.module.state_dict().items()}
        save_torch_atomic(path, state)

    def write_result(self, status: str, wall_seconds: float, timing: dict) -> None:
        """Rank 0: the fine-tuned model (if any), then result.json, written last: its presence means the cell's
        files are complete."""
        job, progress, planned = self.job, self.progress, self.job.plan.total_steps
        pretrain = progress.pretrain or {"final_loss": progress.last_loss, "val_loss": progress.val_loss}
        finetune = None
        if progress.step > planned:
            self._save_model(job.paths.finetuned_model)
            finetune = {"steps": progress.step - planned, "final_loss": progress.last_loss,
                        "val_loss": progress.val_loss, "data": self.config.finetune.data_path or "held-out split"}
        result = cell_result(job, status=status, steps=min(progress.step, planned),
                             final_loss=pretrain["final_loss"], val_loss=pretrain["val_loss"],
                             accountant=self.accountant, n_prunable=self.n_prunable, wall_seconds=wall_seconds,
                             resumed_from=progress.resumed_from, finetune=finetune, trunk=progress.trunk)
        if self.structured is not None:
            result["structured"] = self.structured | {"post_tokens": result["tokens"]}
        if job.trunk is not None:  # a shared dense trunk: the steps its children fork after
            result["forks"] = list(job.trunk.forks)
        self.tracker.finish({k: v for k, v in result.items() if isinstance(v, (int, float, str))})
        result["timing"] = timing | {"result_written_at": time.time()}
        write_json_atomic(job.paths.result, result)


def run_worker(place: WorkerPlace, job: CellJob, stop_after_step: int | None = None,
               report: ProgressSink | None = None) -> str:
    """Train this rank's share of the cell; returns the status. `stop_after_step` simulates an interruption
    after that many steps (tests of resume), leaving only checkpoints behind. A rank 0 that raises ends its W&B run
    as failed, with the cell's log and the traceback, before the error goes on."""
    trainer = CellTrainer(place, job, report)
    try:
        return _train_cell(trainer, place, job, stop_after_step)
    except Exception as error:
        if trainer.tracker is not None:
            trainer.tracker.fail(error)
        raise


def _train_cell(trainer: CellTrainer, place: WorkerPlace, job: CellJob, stop_after_step: int | None) -> str:
    started, first_step_at, status = time.perf_counter(), time.time(), "done"
    for phase in trainer.phases:
        if trainer.progress.step >= phase.end_step:
            continue  # finished before the checkpoint this run resumed from
        if phase.name == FINETUNE:
            trainer.start_finetuning()
        status = trainer.train(phase, stop_after_step)
        if status == "interrupted":
            return status
        if phase.trains_the_cell_model:
            trainer.end_pretraining()
        if status == "diverged":
            break
    timing = {"job_started_at": job.launched_at, "first_step_at": first_step_at, "last_step_at": time.time()}
    if place.is_main:
        trainer.write_result(status, time.perf_counter() - started, timing)
    if trainer.pruner is not None:
        trainer.pruner.finalize()
    return status
