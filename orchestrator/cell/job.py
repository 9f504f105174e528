"""Everything a worker needs to train one cell, decided before any compute: validated config, plan, id, paths and
the prepared data. Picklable, so it travels to spawned workers (and to Ray actors later) unchanged."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from model.gpt import PRESETS, GPTConfig, preset
from orchestrator.config import Config
from orchestrator.data import PreparedData
from orchestrator.store.files import CellPaths
from orchestrator.store.remote import RemoteCell
from pruning.plan import Plan

if TYPE_CHECKING:
    from orchestrator.cell.trunk import TrunkRun


@dataclass(frozen=True)
class CellJob:
    config: Config
    resolved: dict  # the resolved config as plain containers: config.yaml and the W&B config
    plan: Plan
    cell_id: str
    paths: CellPaths
    data: PreparedData
    finetune_data: PreparedData | None = None  # finetune.data_path prepared; None: the held-out split of `data`
    base: dict | None = None  # P²: the dense base cell's {"cell_id", "model" (its final_model.pt), "val_loss"}
    remote: RemoteCell | None = None  # results_dir is a URI: the cell's folder there (the paths are its stage)
    launched_at: float = 0.0  # when this cell's job began (epoch seconds): the clock of its fixed costs
    threads: int = 0  # torch threads per worker, chosen once for the cell (orchestrator/cell/threads.py); 0: unset
    trunk: TrunkRun | None = None  # a shared dense trunk (orchestrator/cell/trunk.py): this job trains it

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary: the data's (token files, a tokenizer's), padded up to model.vocab_multiple;
        byte-level text keeps the preset's vocabulary (its 256 ids fit any preset)."""
        model, data = self.config.model, self.config.data
        if data.format == "text" and data.tokenizer == "byte":
            return max(self.data.vocab_size, PRESETS[model.preset].vocab_size)
        return -(-self.data.vocab_size // model.vocab_multiple) * model.vocab_multiple

    @property
    def model_config(self) -> GPTConfig:
        return preset(self.config.model.preset, max_seq_len=self.config.model.context, vocab_size=self.vocab_size)

    @property
    def tokens_per_step(self) -> int:
        return self.config.train.batch_size * self.config.model.context
