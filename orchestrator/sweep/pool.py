"""A pool of warm Ray actors that run a sweep's jobs, one job at a time each.

Every job asks for a shape of resources (its Ray options: CPUs, GPUs, custom resources). The pool keeps, per shape,
up to as many actors as jobs of that shape could run at once on the whole cluster (and never more than it has jobs
for). An actor is created when the sweep starts and pays the app's imports once, in its constructor (the launcher's
`warm_up` hook: torch, DeepSpeed, the cell code), while the driver records the sweep and submits; then it runs job
after job in the same process. When its shape has no job left it is let go, which frees its resources for the
actors of other shapes (their creation waits in Ray's queue until then: never a deadlock, since an idle actor is
always either given a job or let go).

A job whose options say `ranks: k` (k > 1) gets a gang instead of an actor: k actors in one placement group that
keep their processes, and the process group their first job makes, from job to job (orchestrator/sweep/gang.py).

Faults keep the guarantees of Ray's task retries: an actor whose process or node dies takes its job with it; the
job goes back to the front of its queue (up to `max_retries` times; it resumes from its checkpoint) on a new actor,
and after that it is handed to `on_error`. A job that raises is the job's own failure (its JobReturn): the actor
stays and runs the next job. With `reuse=False` every job gets a fresh actor (a fresh process), like max_calls=1.
"""
from __future__ import annotations

import json
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from orchestrator.sweep.gang import Member, new_gang
from orchestrator.sweep.job import run_one_job


class JobWorker:
    """One warm process: the app's warm-up once, then jobs one at a time (`work`: run_one_job, for the launcher).
    With `others` (a gang's ranks 1..k-1, orchestrator/sweep/gang.py) it leads them: its jobs' cells run their
    ranks there."""

    def __init__(self, warm_up: Callable[[], None] | None, work: Callable[..., Any],
                 others: list | None = None, wind_down: Callable[[], None] | None = None) -> None:
        if warm_up is not None:
            warm_up()
        self._work, self._peers, self._wind_down = work, None, wind_down
        if others:
            from orchestrator.cell.peers import set_peer_ranks
            from orchestrator.sweep.gang import GangPeers

            self._peers = GangPeers(others)
            set_peer_ranks(self._peers)

    def run(self, *args: Any) -> Any:
        return self._work(*args)

    def wind_down(self) -> None:
        """Before the pool lets this process go: the app's wind-down (what it keeps between jobs, flushed)."""
        if self._wind_down is not None:
            self._wind_down()

    def sound(self) -> bool:
        """False once a job broke up the gang this actor leads: the pool replaces the gang."""
        return self._peers is None or self._peers.sound


def shape_of(options: dict) -> str:
    """A job's shape: its Ray options, as a key."""
    return json.dumps(options, sort_keys=True)


def ranks_of(options: dict) -> int:
    """How many processes a job runs on at once (`ranks` in its options: a gang of that many actors; default 1)."""
    return int(options.get("ranks", 1))


WIND_DOWN_S = 60.0  # how long members being let go may take for their wind-down (W&B: flushing its runs' files)
GANG_KEYS = ("ranks", "placement")  # a job's options that shape its gang, not its actors


def rank_options(options: dict) -> dict:
    """One rank's Ray actor options: the job's options without `ranks` and `placement`."""
    return {k: v for k, v in options.items() if k not in GANG_KEYS}


def ray_resources(options: dict, *, per_rank: bool = False) -> dict:
    """Actor or task options (num_cpus, num_gpus, memory, resources={...}) as Ray's resource names and amounts:
    for all of a job's ranks, or for one (a placement group's bundle)."""
    named = {"CPU": options.get("num_cpus", 1), "GPU": options.get("num_gpus", 0),
             "memory": options.get("memory", 0)}
    named.update(options.get("resources", {}))
    ranks = 1 if per_rank else ranks_of(options)
    return {k: v * ranks for k, v in named.items() if v}


def why_unschedulable(options: dict, cluster: dict[str, float], nodes: list[dict[str, float]]) -> str | None:
    """Why Ray could never place a job with these options, or None: more of a resource than the whole cluster has,
    or a part that must sit on one node (an actor; a gang's rank; a STRICT_PACK gang whole) larger than every node."""
    missing = {k: cluster.get(k, 0) for k, v in ray_resources(options).items() if v > cluster.get(k, 0)}
    if missing:
        return f"more than the whole cluster has ({missing})"
    whole = ranks_of(options) == 1 or options.get("placement") == "STRICT_PACK"
    part = ray_resources(options, per_rank=not whole)
    if nodes and not any(all(node.get(k, 0) >= v for k, v in part.items()) for node in nodes):
        what = "the job" if ranks_of(options) == 1 else ("its gang" if whole else "each of its ranks")
        return f"{what} needs {part} on one node, more than any node has"
    return None


def fits(options: dict, cluster: dict[str, float]) -> int:
    """How many actors with these options the whole cluster holds at once (at least 1: a job asking for more than
    the cluster has is refused before it gets here, unless an autoscaler is expected to add nodes)."""
    counts = [math.floor(cluster.get(name, 0) / amount + 1e-9) for name, amount in ray_resources(options).items()]
    return max(1, min(counts, default=1))


@dataclass
class Shape:
    options: dict
    queue: deque = field(default_factory=deque)  # job indices, next first
    actors: int = 0  # alive or being created
    limit: int = 1  # actors at most: jobs of this shape that the cluster runs at once


class JobPool:
    """Runs jobs (by index) on warm actors: made (and warming up) at once, given jobs from `start`; `poll` returns
    the jobs that ended since its last call."""

    def __init__(self, *, options: dict[int, dict], order: Sequence[int], job_args: Callable[[int], tuple],
                 warm_up: Callable[[], None] | None, reuse: bool, max_retries: int,
                 work: Callable[..., Any] = run_one_job, wind_down: Callable[[], None] | None = None) -> None:
        import ray

        self._ray = ray
        self._actor_class = ray.remote(JobWorker)
        self._job_args, self._warm_up, self._work, self._wind_down = job_args, warm_up, work, wind_down
        self._reuse, self._max_retries = reuse, max_retries
        self._shapes: dict[str, Shape] = {}
        self._idle: dict[str, list[Member]] = {}  # per shape: members without a job
        self._running: dict[Any, tuple[int, Member, str]] = {}  # ref -> (job, member, shape)
        self._retries: Counter = Counter()
        cluster = ray.cluster_resources()
        for index in order:
            key = shape_of(options[index])
            shape = self._shapes.setdefault(key, Shape(options[index], limit=fits(options[index], cluster)))
            shape.queue.append(index)
        for key, shape in self._shapes.items():  # they warm up now, while the driver gets ready to start
            self._idle[key] = [self._new_actor(key) for _ in range(min(shape.limit, len(shape.queue)))]

    def start(self) -> None:
        """Hand the jobs out (the actors made so far may still be warming up: a job waits for its actor)."""
        for key in self._shapes:
            self._dispatch(key)

    @property
    def pending(self) -> int:
        """Jobs not yet ended: queued or running."""
        return len(self._running) + sum(len(shape.queue) for shape in self._shapes.values())

    def _new_actor(self, key: str) -> Member:
        shape = self._shapes[key]
        shape.actors += 1
        options, ranks = rank_options(shape.options), ranks_of(shape.options)
        if ranks > 1:
            return new_gang(self._actor_class, options, ranks, ray_resources(shape.options, per_rank=True),
                            self._warm_up, self._work, strategy=shape.options.get("placement", "PACK"),
                            wind_down=self._wind_down)
        return Member(self._actor_class.options(**options, max_restarts=0, max_concurrency=1).remote(
            self._warm_up, self._work, None, self._wind_down))

    def _dispatch(self, key: str) -> None:
        """Give this shape's queued jobs to its idle actors, creating actors up to its limit; let idle actors go when
        the queue is empty."""
        shape, idle = self._shapes[key], self._idle.setdefault(key, [])
        while shape.queue and (idle or shape.actors < shape.limit):
            actor = idle.pop() if idle else self._new_actor(key)
            index = shape.queue.popleft()
            self._running[actor.lead.run.remote(*self._job_args(index))] = (index, actor, key)
        if not shape.queue and idle:
            self._wind_down_and_let_go([(key, actor) for actor in idle])
            idle.clear()

    def _release(self, key: str, actor: Member) -> None:
        """A member whose job ended: idle for the next one, or let go (reuse=False: a fresh process per job; a gang
        that a failed cell broke up)."""
        if self._reuse and self._sound(actor):
            self._idle.setdefault(key, []).append(actor)
        else:
            self._wind_down_and_let_go([(key, actor)])

    def _sound(self, actor: Member) -> bool:
        if not actor.others:
            return True
        try:
            return self._ray.get(actor.lead.sound.remote())
        except self._ray.exceptions.RayActorError:
            return False

    def _let_go(self, key: str, actor: Member) -> None:
        self._shapes[key].actors -= 1
        actor.kill()

    def _wind_down_and_let_go(self, leaving: list[tuple[str, Member]]) -> None:
        """Let go of live members that ran their jobs to the end: each lead's wind-down first, all at once (W&B's
        service flushes its runs' files), waiting up to WIND_DOWN_S for them, then their processes end."""
        if self._wind_down is not None and leaving:
            calls = [actor.lead.wind_down.remote() for _, actor in leaving]
            self._ray.wait(calls, num_returns=len(calls), timeout=WIND_DOWN_S)
        for key, actor in leaving:
            self._let_go(key, actor)

    def poll(self, timeout: float) -> list[tuple[int, Any, BaseException | None]]:
        """Wait up to `timeout` s for jobs to end; [(job, its return value, None) or (job, None, the error that ended
        it for good)]. A job whose actor died is retried on a new actor (not returned) while retries remain."""
        if not self._running:
            return []
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=timeout)
        ended = []
        for ref in ready:
            index, actor, key = self._running.pop(ref)
            shape = self._shapes[key]
            try:
                value = self._ray.get(ref)
            except self._ray.exceptions.RayActorError as error:  # its process or node died: the actor is gone
                self._let_go(key, actor)  # and with it a gang's other ranks
                if self._retries[index] < self._max_retries:
                    self._retries[index] += 1
                    shape.queue.appendleft(index)  # resumes from its checkpoint on a new actor
                else:
                    ended.append((index, None, error))
            except Exception as error:  # the job's function raised outside Hydra's run_job: the actor is sound
                ended.append((index, None, error))
                self._release(key, actor)
            else:
                ended.append((index, value, None))
                self._release(key, actor)
            self._dispatch(key)
        return ended

    def close(self) -> None:
        """Let every actor go (the sweep has ended, or was interrupted): the idle ones after their wind-down; those
        still running a job (an interrupted sweep) at once."""
        self._wind_down_and_let_go([(key, actor) for key, idle in self._idle.items() for actor in idle])
        self._idle.clear()
        for _, actor, key in list(self._running.values()):
            self._let_go(key, actor)
        self._running.clear()
