"""Readable, stable cell ids: the grid coordinates in words, then a short hash of everything that changes what
the cell computes. The same cell config always gets the same id; bookkeeping keys (where results go, logging
cadence, W&B mode, threads) do not change it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import torch

from orchestrator.config import Config, resolved_precision


def _semantic_fields(config: Config) -> dict:
    fields = asdict(config)
    for key in ("results_dir", "sweep", "dry_run", "wandb"):
        fields.pop(key)
    # sections that change nothing when off are left out, so ids that predate them stay as they were
    if config.finetune.steps == 0:
        fields.pop("finetune")
    if config.structured.method == "none":
        fields.pop("structured")
    if config.budget.compute == "linear":
        fields["budget"].pop("compute")
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
    on_gpu = config.train.device == "cuda" or (config.train.device == "auto" and torch.cuda.is_available())
    fields["train"]["device"] = "cuda" if on_gpu else "cpu"
    fields["deepspeed"]["precision"] = resolved_precision(config.deepspeed.precision, on_gpu)
    return fields


def cell_coordinates(config: Config) -> dict:
    """The grid coordinates recorded in result.json as `cell`."""
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
    }


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
