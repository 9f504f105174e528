"""Start or join Ray for a sweep: a local Ray by default (its dashboard bound to 127.0.0.1), or an existing
cluster (`address=auto` from a node of it or under `ray job submit`, `ray://host:port` through Ray Client).
An explicit address that does not answer fails within `connect_timeout_s` with a message naming it."""
from __future__ import annotations

import socket

from orchestrator.launcher_config import RayLauncherConf


class ClusterUnreachable(RuntimeError):
    pass


def _check_reachable(address: str, timeout_s: float) -> None:
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms are resolved by Ray itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ClusterUnreachable(f"hydra.launcher.address={address!r}: no Ray cluster answers there "
                                 f"within {timeout_s:g} s ({error})") from None


def connect(settings: RayLauncherConf) -> None:
    import ray

    if ray.is_initialized():
        return
    runtime_env = settings.runtime_env or None
    if settings.address is None:
        ray.init(num_cpus=settings.num_cpus, include_dashboard=settings.include_dashboard,
                 dashboard_host=settings.dashboard_host, runtime_env=runtime_env, configure_logging=False)
        return
    _check_reachable(settings.address, settings.connect_timeout_s)
    ray.init(address=settings.address, runtime_env=runtime_env, configure_logging=False)
