"""The other ranks of a persistent worker group, when this process leads one.

A sweep's pool (orchestrator/sweep/gang.py) runs a `train.workers = k` cell on a gang of k warm processes that keep
their process group from cell to cell: this process is rank 0 and runs the cell, the gang's other processes run
ranks 1..k-1 when asked. The gang installs its `PeerRanks` here; a cell without one (a cell run on its own, the
basic launcher) spawns its worker group as before. Nothing here imports Ray: the cell only sees this protocol.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol


class RunningRanks(Protocol):
    def wait(self) -> None:
        """Until ranks 1..k-1 have returned; raises the first one's error."""


class PeerRanks(Protocol):
    world_size: int
    master_addr: str  # where rank 0 (this process) hosts the group's rendezvous
    master_port: int

    def start(self, entry: Callable[..., Any], args: tuple) -> RunningRanks:
        """Run entry(rank, *args) on each other rank. A rank that dies or raises while this process still trains
        ends this process too (its collective would wait forever): the sweep then retries the cell on a new gang."""

    def break_up(self) -> None:
        """The cell failed here: stop the other ranks; this gang runs no further cell."""


_PEERS: PeerRanks | None = None


def set_peer_ranks(peers: PeerRanks | None) -> None:
    global _PEERS
    _PEERS = peers


def peer_ranks(world_size: int) -> PeerRanks | None:
    """The gang this process leads, when it is the size the cell asks for."""
    return _PEERS if _PEERS is not None and _PEERS.world_size == world_size else None
