"""Cell checkpoints through DeepSpeed's engine (model, ZeRO-partitioned optimizer state, LR bookkeeping), plus
our client state: pruner masks and bookkeeping, parameter accounting, the step (which is the data position: the
batch of step t is a pure function of seed and t) and the RNG states. Resuming from one reproduces the
uninterrupted run bit for bit.

Every load is `torch.load(weights_only=True)`: DeepSpeed's own checkpoint engine loads with weights_only=False
(arbitrary code execution from a tampered file), so `use_weights_only_loads` swaps in one that allowlists just the
few DeepSpeed classes a ZeRO checkpoint holds.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

TAG_PREFIX = "step"


def checkpoint_tag(step: int) -> str:
    """The folder name of the checkpoint after `step` steps."""
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


def _deepspeed_checkpoint_globals() -> list:
    """The non-tensor classes DeepSpeed pickles into its ZeRO optimizer states (found with
    torch.serialization.get_unsafe_globals_in_checkpoint on ZeRO 0/1/2 checkpoints, fp32 and bf16)."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


def use_weights_only_loads(engine) -> None:
    """Make every checkpoint load of this DeepSpeed engine a weights_only=True load."""
    from deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine import TorchCheckpointEngine

    class WeightsOnlyCheckpointEngine(TorchCheckpointEngine):
        def load(self, path: str, map_location=None):
            with torch.serialization.safe_globals(_deepspeed_checkpoint_globals()):
                return torch.load(path, map_location=map_location, weights_only=True)

    if type(engine.checkpoint_engine) is not TorchCheckpointEngine:
        raise RuntimeError(f"unexpected DeepSpeed checkpoint engine {type(engine.checkpoint_engine).__name__}; "
                           "only the torch one is known to load with weights_only=True")
    engine.checkpoint_engine.__class__ = WeightsOnlyCheckpointEngine


def has_checkpoint(directory: Path) -> bool:
    return (Path(directory) / "latest").exists()


def save_checkpoint(engine, directory: Path, step: int, client_state: dict, keep: int = 1) -> None:
    """Save after `step` steps have run; every rank calls it. Keeps the newest `keep` checkpoints."""
    directory = Path(directory)
    engine.save_checkpoint(str(directory), tag=checkpoint_tag(step), client_state=client_state | {"rng": rng_state()})
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
    use_weights_only_loads(engine)
    load_path, client_state = engine.load_checkpoint(str(directory), load_optimizer_states=True,
                                                     load_lr_scheduler_states=False)
    if load_path is None:
        raise RuntimeError(f"checkpoint in {directory} could not be loaded")
    restore_rng_state(client_state["rng"])
    return client_state
