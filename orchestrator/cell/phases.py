"""The phases of a cell's training, numbered by one global step counter: pre-training (pruned as planned), then,
when `finetune.steps` > 0, dense fine-tuning (SPDF: the mask is dropped and every weight trains). A P² cell has
one phase, post-training of its pruned base model (orchestrator/cell/p2_base.py).

Fine-tuning reads `finetune.data_path` when given (its own train and validation splits), else the pre-training
corpus's held-out split: its head (1 - finetune.eval_fraction) to train on, its tail to evaluate on. The
pre-training validation loss is measured before fine-tuning starts, so it never sees a fine-tuned model.
"""
from __future__ import annotations

from dataclasses import dataclass

from orchestrator.cell.job import CellJob
from orchestrator.cell.lr_schedule import CosineSchedule, WSDSchedule
from orchestrator.data import TokenBatches, TokenStream

PRETRAIN, FINETUNE, POSTTRAIN = "pretrain", "finetune", "posttrain"


@dataclass(frozen=True)
class Phase:
    name: str
    first_step: int
    end_step: int  # exclusive
    train: TokenBatches
    held_out: TokenBatches
    schedule: CosineSchedule | WSDSchedule  # the learning rate at a step counted from first_step
    logs_its_end: bool = True  # False for a shared trunk: its children go on, its last step is like any other

    @property
    def loss_key(self) -> str:
        return "finetune_loss" if self.name == FINETUNE else "loss"

    @property
    def val_key(self) -> str:
        return "finetune_val_loss" if self.name == FINETUNE else "val_loss"

    @property
    def trains_the_cell_model(self) -> bool:
        """Pre-training or P² post-training: accounted (N_avg), logged with parameter counts, and saved as
        final_model.pt at its end; fine-tuning is a dense epilogue to it."""
        return self.name != FINETUNE

    @property
    def n_steps(self) -> int:
        return self.end_step - self.first_step

    def lr(self, step: int) -> float:
        """This phase's schedule over its own steps."""
        return self.schedule(step - self.first_step)

    def is_last(self, step: int) -> bool:
        """The phase's last step, which is always logged and evaluated (a trunk's is not: see logs_its_end)."""
        return self.logs_its_end and step == self.end_step


def _batches(stream: TokenStream, job: CellJob, token_range: tuple[float, float] = (0.0, 1.0)) -> TokenBatches:
    return TokenBatches(stream, seq_len=job.config.model.context, token_range=token_range)


def pretrain_schedule(config, total_steps: int | None) -> CosineSchedule | WSDSchedule:
    """optim.schedule over the cell's T planned steps: the paper's cosine, or warmup–stable–decay (never decaying
    with T = None: a shared trunk)."""
    optim = config.optim
    if optim.schedule == "wsd":
        return WSDSchedule(total_steps, optim.lr, optim.wsd_warmup_steps(config.budget.dense_steps),
                           optim.decay_fraction, optim.min_lr_ratio)
    return CosineSchedule(total_steps, optim.lr, optim.warmup_fraction, optim.min_lr_ratio)


def build_phases(job: CellJob) -> list[Phase]:
    config, total = job.config, job.plan.total_steps
    if job.base is not None:  # P²: post-training of the pruned base, at a constant LR after warmup (min ratio 1)
        structured = config.structured
        return [Phase(POSTTRAIN, 0, total, _batches(job.data.train, job), _batches(job.data.val, job),
                      CosineSchedule(total, structured.lr, structured.warmup_fraction, 1.0))]
    if job.trunk is not None:  # a shared dense trunk: wsd without its decay, the records of any cell of its prefix
        return [Phase(PRETRAIN, 0, total, _batches(job.data.train, job), _batches(job.data.val, job),
                      pretrain_schedule(config, None), logs_its_end=False)]
    phases = [Phase(PRETRAIN, 0, total, _batches(job.data.train, job), _batches(job.data.val, job),
                    pretrain_schedule(config, total))]
    finetune = config.finetune
    if finetune.steps == 0:
        return phases
    if job.finetune_data is not None:
        train, held_out = (_batches(stream, job) for stream in (job.finetune_data.train, job.finetune_data.val))
    else:
        split = 1.0 - finetune.eval_fraction
        train = _batches(job.data.val, job, (0.0, split))
        held_out = _batches(job.data.val, job, (split, 1.0))
    phases.append(Phase(FINETUNE, total, total + finetune.steps, train, held_out,
                        CosineSchedule(finetune.steps, finetune.lr, finetune.warmup_fraction,
                                       config.optim.min_lr_ratio)))
    return phases
