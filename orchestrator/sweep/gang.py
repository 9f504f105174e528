"""Gangs: the pool's members for jobs that run on k processes at once (a cell with `train.workers = k`).

A gang is k warm Ray actors in one placement group (strategy PACK: one node when it fits, spread over several when
it does not, so a cell larger than a node runs). Actor 0, the lead, runs the job like any pool actor; actors 1..k-1
run ranks 1..k-1 of each of its cells when the lead asks (`GangPeers`, installed in the lead's process as the cell's
`PeerRanks`, orchestrator/cell/peers.py). The k processes join one process group at their first cell and keep it
for every later one: DeepSpeed caches groups, so a group is never re-created inside a process.

Faults: a rank whose process or node dies while the lead trains ends the lead's process at once (rank 0's
collective would otherwise wait forever, or fail as if the cell had); the pool then lets the whole gang go and
retries the job on a new one, from its checkpoint, as a spawned worker group restarts. A rank that raises while rank
0 trains on ends it too, after a grace period in which rank 0 may fail by itself and record the cell. A cell that
raises in the lead breaks the gang up: the pool replaces it before the next job.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

GRACE_S = 10.0  # a rank that raised waits this long for rank 0 to fail too (and record the cell) before ending it
DEATH_NOTICE_S = 2.0  # when rank 0 fails, how long it looks for a rank that died (its failure is then only an echo)


class RankWorker:
    """Ranks 1..k-1 of a gang: the app's warm-up once, then whatever the lead asks, one call at a time."""

    def __init__(self, warm_up: Callable[[], None] | None) -> None:
        if warm_up is not None:
            warm_up()

    def call(self, entry: Callable[..., Any], *args: Any) -> Any:
        return entry(*args)


class _RunningRanks:
    """Ranks 1..k-1 of one cell, watched from a thread while rank 0 trains in the lead's main thread."""

    def __init__(self, refs: list) -> None:
        self._refs, self._settled = refs, threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="gang-watch").start()

    def _watch(self) -> None:
        import ray

        pending = list(self._refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(ready[0])
            except ray.exceptions.RayActorError as error:  # its process or node died: retried, as a spawned rank was
                if not self._settled.is_set():  # else break_up killed it, or rank 0 is past its cell
                    _end_this_process(error)
                return
            except Exception as error:
                if not self._settled.wait(GRACE_S):  # else rank 0 ended too, and records the cell itself
                    _end_this_process(error)
                return

    def a_rank_died(self, within_s: float) -> bool:
        """Whether a rank's process or node died (waiting up to `within_s` for Ray to notice)."""
        import ray

        ended, _ = ray.wait(self._refs, num_returns=len(self._refs), timeout=within_s)
        for ref in ended:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError:
                return True
            except Exception:
                pass
        return False

    def settle(self) -> None:
        self._settled.set()

    def wait(self) -> None:
        import ray

        try:
            ray.get(self._refs)
        finally:
            self.settle()


class GangPeers:
    """The other ranks of the gang this process leads (the `PeerRanks` of orchestrator/cell/peers.py)."""

    def __init__(self, others: list) -> None:
        import ray

        from orchestrator.cell.distributed import free_port

        self.world_size = len(others) + 1
        self.master_addr = ray.util.get_node_ip_address()  # other nodes' ranks reach rank 0 here
        self.master_port = free_port("")
        self.sound = True  # false once a cell failed here: the gang runs no further cell
        self._others, self._running = others, None

    def start(self, entry: Callable[..., Any], args: tuple) -> _RunningRanks:
        self._running = _RunningRanks([other.call.remote(entry, rank, *args)
                                       for rank, other in enumerate(self._others, start=1)])
        return self._running

    def break_up(self) -> None:
        import ray

        self.sound = False
        if self._running is not None:
            self._running.settle()
            if self._running.a_rank_died(DEATH_NOTICE_S):  # rank 0 failed because a rank died: retry, not a result
                _end_this_process(RuntimeError("a rank of the gang died"))
        for other in self._others:  # they may wait in a collective for a rank 0 that left it
            ray.kill(other, no_restart=True)


def _end_this_process(cause: BaseException) -> None:
    """The lead's own end: the pool sees its actor die, lets the gang go and retries the job from its checkpoint."""
    print(f"[orchestrator] a rank of this cell's gang failed ({type(cause).__name__}: {cause}); ending rank 0's "
          "process: the sweep retries the cell on a new gang, from its checkpoint", flush=True)
    os._exit(1)


@dataclass
class Member:
    """One pool member: an actor, or a gang's lead with its other ranks and their placement group."""

    lead: Any
    others: list = field(default_factory=list)
    group: Any = None

    def kill(self) -> None:
        import ray

        for actor in [self.lead, *self.others]:
            ray.kill(actor, no_restart=True)
        if self.group is not None:
            ray.util.remove_placement_group(self.group)


def new_gang(lead_class, options: dict, ranks: int, bundle: dict, warm_up: Callable[[], None] | None,
             work: Callable[..., Any], strategy: str = "PACK", wind_down: Callable[[], None] | None = None) -> Member:
    """k = `ranks` actors, each with `options` (one rank's Ray options) in its bundle of one placement group
    (`strategy`: PACK, or STRICT_PACK to keep the ranks on one node)."""
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    group = ray.util.placement_group([dict(bundle) for _ in range(ranks)], strategy=strategy)
    placed = lambda index: {**options, "max_restarts": 0, "max_concurrency": 1,  # noqa: E731
                            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                                placement_group=group, placement_group_bundle_index=index)}
    others = [ray.remote(RankWorker).options(**placed(index)).remote(warm_up) for index in range(1, ranks)]
    lead = lead_class.options(**placed(0)).remote(warm_up, work, others, wind_down)
    return Member(lead, others, group)
