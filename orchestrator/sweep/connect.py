"""Start or join Ray for a sweep: a local Ray by default (it and its dashboard listen on 127.0.0.1 only), or an
existing cluster (`address=auto` from a node of it or under `ray job submit`, `ray://host:port` through Ray Client).
An address that does not answer fails within about `connect_timeout_s` with a message naming it and where it came
from. `auto` is resolved here, not by Ray: RAY_ADDRESS, else the cluster of this machine's last `ray start`, else a
Ray head found in the process list — which may be another user's, so the sweep says which one it joins, and refuses
to guess between several."""
from __future__ import annotations

import math
import os
import re
import socket
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from orchestrator.launcher_config import RayLauncherConf

# Ray retries a GCS that does not answer once a second, this many times (its default is 20); read when ray.init runs.
RAY_GCS_WAIT_ENV = "RAY_gcs_server_port_wait_time_s"


SINGLE_MACHINE_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's single-machine mode, on 127.0.0.1


class ClusterUnreachable(RuntimeError):
    pass


HOST_PORT = re.compile(r"^(?:ray://)?(?P<host>[^:/\s]+):(?P<port>\d+)$")


def _check_reachable(address: str, timeout_s: float, named: str) -> None:
    """ClusterUnreachable naming the setting (`named`: the address and where it came from) unless host:port
    accepts a TCP connection within timeout_s."""
    match = HOST_PORT.match(address)
    if match is None:
        return  # other forms (a dashboard URL, ...) are resolved by Ray itself
    try:
        socket.create_connection((match["host"], int(match["port"])), timeout=timeout_s).close()
    except OSError as error:
        raise ClusterUnreachable(f"{named}: no Ray cluster answers there within {timeout_s:g} s ({error})") from None


def resolve_auto() -> tuple[str, str]:
    """(address, where it came from) for address=auto; ClusterUnreachable when there is none, or several."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], "RAY_ADDRESS"
    from ray._private.services import find_bootstrap_address, find_gcs_addresses

    bootstrap = find_bootstrap_address(None)
    if bootstrap:
        return bootstrap, "the cluster of this machine's last `ray start`"
    found = sorted(find_gcs_addresses())
    if not found:
        raise ClusterUnreachable("hydra.launcher.address='auto': no Ray cluster to join (RAY_ADDRESS is unset and no "
                                 "`ray start` ran on this machine): start one, or give its address")
    if len(found) > 1:
        raise ClusterUnreachable(f"hydra.launcher.address='auto': several Ray clusters run on this machine "
                                 f"({', '.join(found)}); choose one with RAY_ADDRESS or hydra.launcher.address")
    return found[0], ("a Ray head found in this machine's process list — it may be another user's; set "
                      "RAY_ADDRESS to choose")


@contextmanager
def _ray_waits_at_most(timeout_s: float) -> Iterator[None]:
    """Bound Ray's own retries of a GCS that accepts connections but does not answer (a port that is not Ray's,
    a head still starting) by the launcher's timeout, unless the user set Ray's variable; restored afterwards."""
    if RAY_GCS_WAIT_ENV in os.environ:
        yield
        return
    os.environ[RAY_GCS_WAIT_ENV] = str(max(1, math.ceil(timeout_s)))
    try:
        yield
    finally:
        os.environ.pop(RAY_GCS_WAIT_ENV, None)


def _listen_on_localhost_only() -> None:
    """A local Ray turns 127.0.0.1 into this machine's network address and its head listens on every interface,
    except in its single-machine mode (the laptop default), which binds everything to 127.0.0.1. Ray's switch for
    that mode is RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: read from the environment by the processes Ray starts, and
    by this one at `import ray` (hence the constant too: Ray is imported already)."""
    os.environ[SINGLE_MACHINE_SWITCH] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def connect(settings: RayLauncherConf) -> bool:
    """Start or join Ray as the settings say; True when this call did (False: Ray was up already, the caller's)."""
    import ray

    if ray.is_initialized():
        return False
    runtime_env = settings.runtime_env or None
    if settings.address is None:
        if settings.localhost_only:
            _listen_on_localhost_only()
        ray.init(num_cpus=settings.num_cpus, include_dashboard=settings.include_dashboard,
                 dashboard_host=settings.dashboard_host, runtime_env=runtime_env, configure_logging=False)
        return True
    address, named = settings.address, f"hydra.launcher.address={settings.address!r}"
    if address == "auto":
        address, found_by = resolve_auto()
        named += f" ({address}, from {found_by})"
        print(f"[orchestrator] joining the Ray cluster at {address}, from {found_by}", file=sys.stderr, flush=True)
        if found_by != "RAY_ADDRESS":
            token_auth_as_ray_would()
    _check_reachable(address, settings.connect_timeout_s, named)
    try:
        with _ray_waits_at_most(settings.connect_timeout_s):
            ray.init(address=address, runtime_env=runtime_env, configure_logging=False)
    except ConnectionError as error:
        raise ClusterUnreachable(f"{named}: cannot join a Ray cluster there ({error}){_auth_hint()}") from None
    wait_for_nodes(settings.wait_for_nodes, settings.connect_timeout_s, named)
    return True


AUTH_MODE_ENV = "RAY_AUTH_MODE"


def token_auth_as_ray_would() -> None:
    """Ray 2.60's `ray start` turns token auth on, and `ray.init()` sends the token (~/.ray/auth_token) to a cluster it
    finds on this machine by itself, but never to an address it is given. `auto` is resolved here into an address,
    so a cluster found on this machine gets Ray's own rule back: RAY_AUTH_MODE=token when it is unset and a token
    is at hand."""
    if AUTH_MODE_ENV in os.environ:
        return
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _auth_hint() -> str:
    if os.environ.get(AUTH_MODE_ENV, "").lower() == "token":
        return ""
    return ("; if the cluster uses token auth (`ray start`'s default), set RAY_AUTH_MODE=token and its token "
            "(RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)")


def _alive_nodes() -> int:
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


def wait_for_nodes(count: int, timeout_s: float, named: str, *, alive: Callable[[], int] = _alive_nodes,
                   poll_s: float = 1.0) -> None:
    """Return once `count` nodes are alive in the joined cluster; ClusterUnreachable after timeout_s otherwise (a
    sweep started on half an allocation would fail its larger cells as unschedulable)."""
    deadline = time.monotonic() + timeout_s
    joined = alive()
    while joined < count:
        if time.monotonic() >= deadline:
            raise ClusterUnreachable(f"hydra.launcher.wait_for_nodes={count}: {joined} of {count} nodes joined the "
                                     f"cluster ({named}) within {timeout_s:g} s")
        time.sleep(poll_s)
        joined = alive()
