"""Shared test helpers: compose configs from conf/ the way `orchestrator-train` does, with tiny presets."""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Callable

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# A cell that trains in about a second on one core.
TINY = [
    "model=micro", "model.seq_len=32", "budget.dense_steps=24", "pruning.every=2", "train.batch_size=4",
    "train.eval_every=12", "train.eval_batches=1", "train.log_every=1", "train.checkpoint_every=12",
    "train.threads=1", "wandb.mode=disabled", "optim.warmup_fraction=0.1",
]


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from orchestrator.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def build(overrides: list[str]):
    """(typed Config, resolved dict) as orchestrator-train builds them."""
    from omegaconf import OmegaConf

    from orchestrator.config import build_config

    cfg = compose(overrides)
    return build_config(cfg), OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data_cache")


@pytest.fixture
def tiny(tmp_path, data_cache) -> list[str]:
    return TINY + [f"results_dir={tmp_path / 'results'}", f"data.cache_dir={data_cache}"]


TENSOR_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


def count_host_reads(monkeypatch, counted: Callable[[FrameType], bool]) -> Counter:
    """A Counter of "file:line read" → how often code whose frame `counted` accepts reads a tensor's value back to
    the host (`.item()`, `float(t)`, `.tolist()`, ...): on a GPU each such read of a device tensor waits for the GPU.
    Only direct reads count (syncs inside torch's C++ ops are the GPU tests' business)."""
    import torch

    counts = Counter()

    def counting(name, original):
        def read(self, *args, **kwargs):
            frame = sys._getframe(1)
            if counted(frame):
                where = Path(frame.f_code.co_filename)
                where = where.relative_to(REPO) if where.is_relative_to(REPO) else where
                counts[f"{where}:{frame.f_lineno} {name}"] += 1
            return original(self, *args, **kwargs)
        return read

    for name in TENSOR_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    return counts


@pytest.fixture(autouse=True)
def _cells_named_by_this_machine():
    """A test that plays a sweep's driver (start_sweep) leaves ids resolved by this machine's hardware again."""
    yield
    from orchestrator.store.cell_id import set_sweep_device

    set_sweep_device(None)
