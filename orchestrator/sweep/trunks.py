"""The fork tree of a sweep whose cells share dense trunks (`share_trunks=true`, `optim.schedule=wsd`).

Under wsd a cell's learning rate does not depend on its length T until its own decay begins
(orchestrator/cell/lr_schedule.py), and before its first prune event a cell trains dense. So cells with one prefix
identity (orchestrator.store.cell_id.prefix_identity: model, data, seed, batch, optimizer, warmup, …) train the same
weights until they prune. `plan_sharing` groups a sweep's cells by that identity and plans, per group, one dense
trunk cell that checkpoints at every fork step; a cell forks at its first prune event t_start, when
0 < t_start < D (D: the first step of its own decay), and trains alone otherwise (dense cells, SPDF's mask from step
0, a window starting at 0, P² post-training, a group of one).

Compute is in dense-equivalent steps (each cell's planned Σ c(t), `Plan.compute`): unshared, the sum over the
cells; shared, each trunk's steps (dense: 1 each) plus each child's compute after its fork plus the lone cells'.
Pure: configs in, a plan out; `write_sharing` records it as `<results_dir>/<sweep>/sharing.json`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from orchestrator.cell.lr_schedule import wsd_decay_start
from orchestrator.cell.run import Plan, plan_cell
from orchestrator.store.files import SHARING_FILE
from orchestrator.config import PRUNING_SCHEDULES, Config
from orchestrator.store.cell_id import cell_id, prefix_identity, trunk_id

FORKING_SCHEDULES = tuple(s for s in PRUNING_SCHEDULES if s not in ("none", "static"))  # dense before t_start


@dataclass(frozen=True)
class Trunk:
    trunk_id: str
    steps: int  # the trunk trains steps 0 .. steps-1 (its last fork step)
    forks: tuple[int, ...]  # ascending fork steps: a checkpoint after each
    children: dict[str, int]  # cell id → its fork step
    config: Config = field(compare=False, repr=False)  # one child's config: the trunk's prefix identity

    def to_dict(self) -> dict:
        return {"trunk_id": self.trunk_id, "steps": self.steps, "forks": list(self.forks), "children": self.children}


@dataclass(frozen=True)
class SharingPlan:
    trunks: tuple[Trunk, ...]
    alone: tuple[str, ...]  # cell ids that train from step 0
    compute_unshared: float  # dense-equivalent steps: Σ over cells of each cell's planned compute
    compute_shared: float  # Σ trunk steps + Σ children's compute after their fork + Σ lone cells' compute

    @property
    def saved_fraction(self) -> float:
        return 1.0 - self.compute_shared / self.compute_unshared if self.compute_unshared else 0.0

    def trunk_of(self, identity: str) -> tuple[Trunk, int] | None:
        """(trunk, fork step) of a child cell id; None for a cell that trains alone."""
        for trunk in self.trunks:
            if identity in trunk.children:
                return trunk, trunk.children[identity]
        return None

    def to_dict(self) -> dict:
        return {"compute_unshared": self.compute_unshared, "compute_shared": self.compute_shared,
                "saved_fraction": self.saved_fraction, "trunks": [t.to_dict() for t in self.trunks],
                "alone": list(self.alone)}

    def summary(self) -> str:
        children = sum(len(t.children) for t in self.trunks)
        return (f"{len(self.trunks)} dense trunk(s) for {children} cell(s), {len(self.alone)} alone: "
                f"{self.compute_shared:,.0f} dense-equivalent steps instead of {self.compute_unshared:,.0f}, "
                f"{100 * self.saved_fraction:.1f} % saved")


def fork_step(config: Config, plan: Plan) -> int | None:
    """Where `config` leaves a shared trunk: its first prune event, if it is after step 0 and before its decay."""
    if not config.share_trunks or config.optim.schedule != "wsd" or config.structured.method != "none":
        return None
    if config.pruning.schedule not in FORKING_SCHEDULES or not plan.prunes:
        return None
    decay_start = wsd_decay_start(plan.total_steps, config.optim.decay_fraction)
    return plan.t_start if 0 < plan.t_start < decay_start else None


def _group_key(config: Config) -> str:
    return json.dumps([config.results_dir, config.sweep, prefix_identity(config)], sort_keys=True)


def plan_sharing(configs: list[Config]) -> SharingPlan:
    """The fork tree of a sweep's cells (see the module docstring); cells are taken once each, by cell id."""
    plans: dict[str, tuple[Config, Plan]] = {}
    for config in configs:
        plans.setdefault(cell_id(config), (config, plan_cell(config)))
    groups: dict[str, dict[str, int]] = {}
    members: dict[str, Config] = {}
    alone: list[str] = []
    for identity, (config, plan) in plans.items():
        fork = fork_step(config, plan)
        if fork is None:
            alone.append(identity)
            continue
        key = _group_key(config)
        groups.setdefault(key, {})[identity] = fork
        members.setdefault(key, config)
    trunks = []
    for key, children in groups.items():
        if len(children) < 2:  # a trunk for one cell saves nothing
            alone.extend(children)
            continue
        forks = tuple(sorted(set(children.values())))
        trunks.append(Trunk(trunk_id(members[key], forks), forks[-1], forks, dict(sorted(children.items())),
                            members[key]))
    unshared = sum(plan.compute for _, plan in plans.values())
    after_forks = sum(plans[child][1].compute - fork for t in trunks for child, fork in t.children.items())
    shared = sum(t.steps for t in trunks) + after_forks + sum(plans[c][1].compute for c in alone)
    return SharingPlan(tuple(sorted(trunks, key=lambda t: t.trunk_id)), tuple(sorted(alone)), unshared, shared)


def write_sharing(configs: list[Config], *, store_is_local: bool = True) -> list[tuple[str, SharingPlan | None]]:
    """Plan each sweep folder's cells that ask for sharing and write its `sharing.json`; returns (where, plan) per
    folder, for the sweep to print. A store this process does not write — a URI store, or any store when
    `store_is_local` is false (through Ray Client the store is the cluster's) — gets no plan: (its sweep folder,
    None), as its cells train alone (trunks need a local store, cell/trunk.py)."""
    from pathlib import Path

    from orchestrator.store.files import write_json_atomic
    from orchestrator.store.uri import is_uri

    by_folder: dict[tuple[str, str], list[Config]] = {}
    for config in configs:
        if config.share_trunks:
            by_folder.setdefault((config.results_dir, config.sweep), []).append(config)
    written = []
    for (results_dir, sweep), members in by_folder.items():
        folder = f"{results_dir.rstrip('/')}/{sweep}"
        if is_uri(results_dir) or not store_is_local:
            written.append((folder, None))
            continue
        where = f"{folder}/{SHARING_FILE}"
        plan = plan_sharing(members)
        (Path(results_dir) / sweep).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(where), plan.to_dict())
        written.append((where, plan))
    return written
