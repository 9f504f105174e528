"""Cell checkpoints through DeepSpeed's engine (model, ZeRO-partitioned optimizer state, LR bookkeeping), plus
our client state: pruner masks and bookkeeping, parameter accounting, the step (which is the data position: the
batch of step t is a pure function of seed and t) and the RNG states. Resuming from one reproduces the
uninterrupted run bit for bit.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

TAG_PREFIX = "step"


def _tag(step: int) -> str:
    return f"{TAG_PREFIX}{step:09d}"


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def has_checkpoint(directory: Path) -> bool:
    return (Path(directory) / "latest").exists()


def save_checkpoint(engine, directory: Path, step: int, client_state: dict, keep: int = 1) -> None:
    """Save after `step` steps have run; every rank calls it. Keeps the newest `keep` checkpoints."""
    directory = Path(directory)
    engine.save_checkpoint(str(directory), tag=_tag(step), client_state=client_state | {"rng": rng_state()})
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # every rank's shards of the new checkpoint are on disk before old ones go
    if engine.global_rank == 0:
        tags = sorted(p for p in directory.glob(f"{TAG_PREFIX}*") if p.is_dir())
        for old in tags[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def load_latest_checkpoint(engine, directory: Path) -> dict | None:
    """Load the newest checkpoint into the engine; return the client state, or None when there is none."""
    if not has_checkpoint(directory):
        return None
    load_path, client_state = engine.load_checkpoint(str(directory), load_optimizer_states=True,
                                                     load_lr_scheduler_states=False)
    if load_path is None:
        raise RuntimeError(f"checkpoint in {directory} could not be loaded")
    restore_rng_state(client_state["rng"])
    return client_state
