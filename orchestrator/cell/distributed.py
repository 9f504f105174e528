"""Process groups and the DeepSpeed engine for one cell's worker group.

On CPU the group uses gloo, on GPU nccl (bf16 compute under torch.autocast by default there). A process keeps one
group alive for every cell it runs: DeepSpeed caches groups, and destroying and re-creating one in a reused process
breaks that cache.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch

from orchestrator.config import Config, resolved_precision


COMPILE_BACKEND = "inductor"  # torch.compile's default; tests of the code path use a backend that compiles faster


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class WorkerPlace:
    rank: int
    world_size: int
    master_port: int
    master_addr: str = "127.0.0.1"  # rank 0's host: another node's address when a gang spans nodes

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(config: Config, rank: int) -> torch.device:
    wants_cuda = config.train.device == "cuda" or (config.train.device == "auto" and torch.cuda.is_available())
    if wants_cuda and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but CUDA is not available on this machine")
    if not wants_cuda:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # tells DeepSpeed instead of letting it guess and warn
    if wants_cuda:
        torch.cuda.set_device(rank % torch.cuda.device_count())
        return torch.device("cuda", rank % torch.cuda.device_count())
    return torch.device("cpu")


def ensure_process_group(place: WorkerPlace, device: torch.device) -> None:
    """Join (or reuse) the default process group for this worker."""
    import deepspeed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if torch.distributed.get_world_size() != place.world_size:
            raise RuntimeError("this process already belongs to a process group of another world size")
        return
    # DeepSpeed puts the engine on cuda:LOCAL_RANK: the device this rank resolved (a gang's rank sees its own GPU)
    local_rank = device.index if device.type == "cuda" else place.rank
    os.environ.update(RANK=str(place.rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(place.world_size),
                      LOCAL_WORLD_SIZE=str(place.world_size), MASTER_ADDR=place.master_addr,
                      MASTER_PORT=str(place.master_port))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cpu":
        # DeepSpeed's CPU backend JIT-compiles a shared-memory all-reduce (~30 s here) used only for inference;
        # training all-reduces go through gloo. DeepSpeed keeps this dict editable for exactly this purpose.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False, verbose=False,
                               rank=place.rank, world_size=place.world_size)


def precision(config: Config, device: torch.device) -> str:
    """fp32, bf16 (DeepSpeed's bf16 weights with fp32 masters) or bf16_autocast (torch.autocast over fp32 weights)."""
    return resolved_precision(config.deepspeed.precision, device.type == "cuda")


def clips_in_the_loop(config: Config, device: torch.device) -> bool:
    """ZeRO-0 over fp32 weights hands the client optimizer through unwrapped: the cell clips the gradients itself
    with torch's clip_grad_norm_, which stays on the device, where DeepSpeed's own clipping copies its max norm from
    the host at every step (a stream sync on a GPU). Everywhere else DeepSpeed clips (its wrappers own the grads)."""
    return config.deepspeed.zero_stage == 0 and precision(config, device) in ("fp32", "bf16_autocast")


def deepspeed_config(config: Config, world_size: int, device: torch.device) -> dict:
    mode = precision(config, device)
    return {
        "train_batch_size": config.train.batch_size,
        "train_micro_batch_size_per_gpu": config.train.batch_size // world_size,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": 0.0 if clips_in_the_loop(config, device) else config.optim.grad_clip,
        "zero_optimization": {"stage": config.deepspeed.zero_stage},
        "bf16": {"enabled": mode == "bf16"},
        "torch_autocast": {"enabled": mode == "bf16_autocast", "dtype": "bfloat16"},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def build_optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices (linear kernels, embeddings) and none on norms and biases."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.optim.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    on_gpu = any(p.is_cuda for p in model.parameters())  # fused: one kernel for every weight, no host sync
    return torch.optim.AdamW(groups, lr=config.optim.lr, betas=(config.optim.beta1, config.optim.beta2),
                             eps=config.optim.eps, fused=True if on_gpu else None)


def build_engine(model: torch.nn.Module, config: Config, place: WorkerPlace, device: torch.device):
    """deepspeed.initialize with a client torch AdamW (no JIT-built optimizer op); train.compile compiles the
    module's forward through DeepSpeed's engine.compile."""
    import deepspeed

    optimizer = build_optimizer(model, config)
    engine, optimizer, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=deepspeed_config(config, place.world_size, device))
    if config.train.compile:  # the module's forward, in place: parameter names (masks, checkpoints) unchanged
        engine.compile(backend=COMPILE_BACKEND)
    return engine, optimizer
