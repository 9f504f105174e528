"""Readable, stable cell ids: the grid coordinates in words, then a short hash of everything that changes what
the cell computes. The same cell config always gets the same id; bookkeeping keys (where results go, logging
cadence, W&B mode, threads) do not change it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from orchestrator.config import Config, resolved_precision

# where this process's sweep runs its `train.device=auto` cells, once its launcher knows (set_sweep_device); None:
# where this process runs them itself, its own hardware
_SWEEP_DEVICE: str | None = None


def set_sweep_device(device: str | None) -> None:
    """Resolve `train.device=auto` in this process's cell ids as `device` ("cuda" or "cpu"), not by this machine's
    hardware: a sweep's driver (a CPU head node) names the cells its GPU workers train, and must name them as the
    workers do. None goes back to this machine's hardware."""
    global _SWEEP_DEVICE
    if device not in (None, "cuda", "cpu"):
        raise ValueError(f"a sweep's device is 'cuda' or 'cpu', got {device!r}")
    _SWEEP_DEVICE = device


def auto_is_cuda() -> bool:
    """Whether `train.device=auto` means CUDA for the cells this process names."""
    if _SWEEP_DEVICE is not None:
        return _SWEEP_DEVICE == "cuda"
    import torch

    return torch.cuda.is_available()


def _semantic_fields(config: Config) -> dict:
    fields = asdict(config)
    for key in ("results_dir", "sweep", "dry_run", "wandb", "share_trunks"):
        fields.pop(key)
    # sections that change nothing when off are left out, so ids that predate them stay as they were
    if config.finetune.steps == 0:
        fields.pop("finetune")
    if config.structured.method == "none":
        fields.pop("structured")
    if config.budget.compute == "linear":
        fields["budget"].pop("compute")
    if config.optim.schedule == "cosine":  # the paper's schedule: the wsd keys change nothing
        for key in ("schedule", "decay_fraction", "warmup_steps"):
            fields["optim"].pop(key)
    else:  # wsd: the warmup in steps, however it was given (steps, or a fraction of C)
        fields["optim"]["warmup_steps"] = config.optim.wsd_warmup_steps(config.budget.dense_steps)
        fields["optim"].pop("warmup_fraction")
    fields["data"].pop("cache_dir")
    if config.data.format == "text":
        for key in ("format", "dtype", "vocab_size", "eos_id"):
            fields["data"].pop(key)
    if config.model.vocab_multiple == 1:
        fields["model"].pop("vocab_multiple")
    for key in ("eval_every", "eval_batches", "log_every", "checkpoint_every", "threads", "workers", "max_restarts",
                "compile", "gpus_per_worker"):
        fields["train"].pop(key)
    # `auto` resolved where the cell runs: a CPU (fp32) and a GPU (bf16) run of one config are different cells
    on_gpu = config.train.device == "cuda" or (config.train.device == "auto" and auto_is_cuda())
    fields["train"]["device"] = "cuda" if on_gpu else "cpu"
    fields["deepspeed"]["precision"] = resolved_precision(config.deepspeed.precision, on_gpu)
    return fields


def cell_coordinates(config: Config) -> dict:
    """The grid coordinates recorded in result.json as `cell` (and as the W&B run's tags); `lr_schedule` only for a
    schedule other than the paper's cosine, so cosine cells' coordinates are what they always were."""
    pruning = config.pruning
    return {
        "model": config.model.preset,
        "schedule": pruning.schedule,
        "sparsity": pruning.sparsity,
        "start": pruning.start,
        "end": pruning.end,
        "every": pruning.every,
        "dense_steps": config.budget.dense_steps,
        "tokens_per_param": config.budget.tokens_per_param,
        "seed": config.seed,
        "finetune_steps": config.finetune.steps,
        "structured": config.structured.method,
        "structured_ratio": config.structured.ratio if config.structured.method != "none" else None,
        "post_steps": config.structured.post_steps,
    } | ({"lr_schedule": config.optim.schedule} if config.optim.schedule != "cosine" else {})


def cell_id(config: Config) -> str:
    pruning = config.pruning
    digest = hashlib.sha256(json.dumps(_semantic_fields(config), sort_keys=True).encode()).hexdigest()[:8]
    if pruning.schedule == "none":
        shape = "dense"
    elif pruning.schedule == "one_shot":
        shape = f"one_shot-s{pruning.sparsity:g}-at{pruning.start:g}"
    elif pruning.schedule == "static":
        shape = f"static-s{pruning.sparsity:g}"
    else:
        shape = f"{pruning.schedule}-s{pruning.sparsity:g}-w{pruning.start:g}-{pruning.end:g}"
    stage = f"-ft{config.finetune.steps}" if config.finetune.steps else ""
    structured = config.structured
    if structured.method != "none":
        ratio = "" if structured.method == "2:4" else f"{structured.ratio:g}"
        stage = f"-{structured.method.replace(':', 'of')}{ratio}-D{structured.post_steps}"
    return f"{config.model.preset}-{shape}-C{config.budget.dense_steps}{stage}-seed{config.seed}-{digest}"


# what a cell's record of its dense prefix depends on besides its semantic fields: the loss is averaged over
# log_every steps (a fork inside a window carries the window), evaluated every eval_every steps on eval_batches, and
# the number of workers changes the arithmetic (not the cell: see train.workers above, but a trunk is bit-exact)
PREFIX_BOOKKEEPING = ("log_every", "eval_every", "eval_batches", "workers")


def prefix_identity(config: Config) -> dict:
    """Everything that determines a wsd cell's dense prefix, the steps before its first prune event: its semantic
    fields without the pruning, the budget, fine-tuning and the decay (none acts before the fork), plus the
    bookkeeping that its logged records depend on. Cells with equal identities train the same weights and log the
    same records until they fork; they differ in length T, which wsd's learning rate ignores until its decay."""
    fields = _semantic_fields(config)
    for key in ("pruning", "budget", "finetune"):
        fields.pop(key, None)
    for key in ("decay_fraction", "min_lr_ratio"):
        fields["optim"].pop(key, None)
    fields["bookkeeping"] = {key: getattr(config.train, key) for key in PREFIX_BOOKKEEPING}
    return fields


def trunk_id(config: Config, forks: tuple[int, ...]) -> str:
    """The store's id of the dense trunk of `config`'s prefix identity that checkpoints at `forks` (ascending)."""
    payload = {"prefix": prefix_identity(config), "forks": list(forks)}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]
    warmup = config.optim.wsd_warmup_steps(config.budget.dense_steps)
    return f"{config.model.preset}-trunk-W{warmup}-to{forks[-1]}-seed{config.seed}-{digest}"
