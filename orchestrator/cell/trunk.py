"""Shared dense trunks, the cell's side (`share_trunks=true`, `optim.schedule=wsd`; the fork tree is planned by
orchestrator/sweep/trunks.py and recorded in `<results_dir>/<sweep>/sharing.json` when the sweep starts).

A trunk is a cell of the store kept apart from the sweep's cells, in `<sweep>/.trunks/<trunk id>/` (the report's
reader and orchestrator-status never take it for a cell): one of its children's configs with `pruning=none` and no
fine-tuning, trained `steps` steps under a WSD schedule that never decays, with the logged records and evaluations of
any cell of its prefix (its end forces no log or evaluation), and a checkpoint after each fork step, kept in its
`forks/` folder. It is trained once, under its cell lock, and skipped when done, like a P² cell's dense base.

A child (a cell the plan forks at its first prune event t_start) starts from a copy of the fork checkpoint in its own
`checkpoints/` and the trunk's records up to the fork in its `metrics.jsonl`, and resumes through the ordinary
resume path: weights, optimizer moments, data position and RNG as the trunk left them, its pruner fresh (all-ones
masks, as any cell's before its first event). It ends bit-identical to the same cell trained alone.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.cell.checkpoint import checkpoint_tag, has_checkpoint
from orchestrator.config import Config, FinetuneConfig, PruningConfig
from orchestrator.store.cell_id import cell_id, trunk_id
from orchestrator.store.files import SHARING_FILE, TRUNKS_FOLDER, CellPaths, MetricsLog, write_text_atomic
from orchestrator.store.uri import is_uri
from pruning.plan import Plan, plan_iso_compute

FORKS_FOLDER = "forks"


@dataclass(frozen=True)
class TrunkRun:
    """The trunk a job trains: its id, its steps (0 .. steps-1) and the fork steps it checkpoints after."""

    trunk_id: str
    steps: int
    forks: tuple[int, ...]


def trunk_paths(config: Config, trunk: TrunkRun) -> CellPaths:
    return CellPaths(Path(config.results_dir) / config.sweep / TRUNKS_FOLDER / trunk.trunk_id)


def forks_dir(paths: CellPaths) -> Path:
    return paths.root / FORKS_FOLDER


def trunk_plan(trunk: TrunkRun) -> Plan:
    """A dense plan of the trunk's steps (the planner's dense case: T = C)."""
    return plan_iso_compute(sparsity=0.0, dense_steps=trunk.steps, start=0.0, end=1.0, every=1, schedule="none")


def trunk_config(config: Config, resolved: dict, trunk: TrunkRun) -> tuple[Config, dict]:
    """The trunk's (config, resolved) from one child's: dense, no fine-tuning; the rest is the prefix identity."""
    dense, no_finetune = PruningConfig(every=config.pruning.every), FinetuneConfig()
    return (replace(config, pruning=dense, finetune=no_finetune),
            resolved | {"pruning": vars(dense), "finetune": vars(no_finetune),
                        "trunk": {"trunk_id": trunk.trunk_id, "steps": trunk.steps, "forks": list(trunk.forks)}})


def find_trunk(config: Config, t_start: int) -> tuple[TrunkRun, int] | None:
    """(the trunk, the fork step) that the sweep's sharing.json gives this cell; None when it trains alone (sharing
    off, no sharing.json — a cell run without -m —, a URI store, or a cell the plan leaves alone). Raises when the
    plan's trunk is not of this cell's prefix identity or forks it elsewhere than at its first prune event."""
    if not config.share_trunks or config.structured.method != "none" or is_uri(config.results_dir):
        return None
    where = Path(config.results_dir) / config.sweep / SHARING_FILE
    if not where.is_file():
        return None
    identity = cell_id(config)
    for entry in json.loads(where.read_text())["trunks"]:
        if identity not in entry["children"]:
            continue
        forks, fork = tuple(entry["forks"]), entry["children"][identity]
        if trunk_id(config, forks) != entry["trunk_id"]:
            raise RuntimeError(f"{where} forks cell {identity} from trunk {entry['trunk_id']}, whose prefix identity "
                               f"is not this cell's ({trunk_id(config, forks)}): replan the sweep")
        if fork != t_start:
            raise RuntimeError(f"{where} forks cell {identity} at step {fork}, but its first prune event is at step "
                               f"{t_start}: replan the sweep")
        return TrunkRun(entry["trunk_id"], entry["steps"], forks), fork
    return None


def why_alone(config: Config) -> str:
    """Why a cell that asked for a shared trunk (share_trunks=true) trains alone, find_trunk having found none."""
    if config.structured.method != "none":
        return "a structured-pruning cell always trains alone"
    if is_uri(config.results_dir):
        return f"trunks are shared on a local store only, not on {config.results_dir}"
    where = Path(config.results_dir) / config.sweep / SHARING_FILE
    if not where.is_file():
        return (f"there is no {where}: the fork tree is planned when a sweep starts on the Ray launcher "
                "(orchestrator-train -m), not by the basic launcher or a single cell")
    return (f"{where} plans no fork for it (its first prune event is at step 0 or after its decay begins, or no "
            "other cell shares its dense prefix)")


def seed_from_fork(trunk: CellPaths, fork: int, child: CellPaths) -> bool:
    """Give a child that has no checkpoint of its own the trunk's state after `fork` steps: the fork checkpoint as
    its latest checkpoint, the trunk's records up to the fork as its metrics.jsonl (`latest`, written last, makes it
    whole). False when the child already has a checkpoint (it resumes from its own)."""
    if has_checkpoint(child.checkpoints):
        return False
    tag = checkpoint_tag(fork)
    source = forks_dir(trunk) / tag
    if not source.is_dir():
        raise RuntimeError(f"the shared dense trunk {trunk.root.name} has no checkpoint at fork step {fork} "
                           f"({source})")
    prefix = [record for record in MetricsLog(trunk.metrics).read() if record["step"] <= fork]
    write_text_atomic(child.metrics, "".join(json.dumps(record) + "\n" for record in prefix))
    shutil.rmtree(child.checkpoints, ignore_errors=True)
    shutil.copytree(source, child.checkpoints / tag)
    write_text_atomic(child.checkpoints / "latest", tag)
    return True
