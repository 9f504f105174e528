"""hydra.launcher.wait_for_nodes: a sweep that joins a cluster starts once the allocation's nodes have all joined
(a Slurm job's workers start after its head), and fails in one line, saying how many joined, when they do not."""
import pytest

from orchestrator.launcher_config import RayLauncherConf
from orchestrator.sweep.connect import ClusterUnreachable, wait_for_nodes


def joining(*counts):
    """alive(): the node counts a cluster reports on successive polls (the last one repeats)."""
    seen = list(counts)
    return lambda: seen.pop(0) if len(seen) > 1 else seen[0]


def test_it_returns_once_every_node_has_joined():
    polls = []
    counts = joining(1, 1, 2, 3)
    wait_for_nodes(3, 5.0, "here", alive=lambda: polls.append(1) or counts(), poll_s=0.001)
    assert len(polls) == 4  # it stops polling at the first poll that sees 3 nodes


def test_a_node_that_never_joins_fails_after_the_timeout_naming_the_count():
    with pytest.raises(ClusterUnreachable, match=r"wait_for_nodes=4: 2 of 4 nodes joined the cluster \(here\) "
                                                 r"within 0.05 s"):
        wait_for_nodes(4, 0.05, "here", alive=joining(2), poll_s=0.01)


def test_the_default_waits_for_the_head_alone():
    assert RayLauncherConf().wait_for_nodes == 1
    wait_for_nodes(1, 0.0, "here", alive=joining(1))  # no wait, no error
