"""One way to get a Ray session for the stages, the arena and the flows.

Where the session comes from (the first that applies):

1. `orchestration.ray_address`: `local` = always a private local Ray (even with a
   cluster on the machine); `auto` = the cluster started on this machine by `ray start`;
   `host:port` (or `ray://host:port`) = that cluster's head.
2. The `RAY_ADDRESS` environment variable, in the same forms.
3. A cluster started on this machine by `ray start` (Ray's address file in its temp
   dir): joined, with a log line saying so and how to opt out.
4. A new local Ray with `num_cpus=orchestration.num_cpus`.

A wrong or unreachable address, a cluster that refuses the token, or a cluster without
the GPUs the config asks for raises `RayClusterError`, a one-line message that names
the key and what was tried; the CLI prints it and exits non-zero before anything is
written to the run directory.

Token authentication (Ray >= 2.52) is Ray's own: every node and every driver needs
`RAY_AUTH_MODE=token` and the same token (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH` or
`~/.ray/auth_token`) in its environment. zeroloop never sends a token to an address
on its own initiative; it only explains the failure (docs/orchestration.md).
"""

from __future__ import annotations

import logging
import os
import socket

from zeroloop.config import ZeroloopConfig

log = logging.getLogger(__name__)

_EXISTING_CLUSTER = "connecting to an existing cluster"


class RayClusterError(RuntimeError):
    """The Ray session the config asks for cannot be had (message: one line, names the key)."""


def resolve_ray_address(config: ZeroloopConfig) -> tuple[str | None, str]:
    """The address to join and the setting it came from: (address or None, key name).

    None means: no address was given (a cluster on this machine is joined if there is
    one, else a local Ray starts).
    """
    if config.orchestration.ray_address:
        return config.orchestration.ray_address.strip(), "orchestration.ray_address"
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env:
        return env, "RAY_ADDRESS"
    return None, "orchestration.ray_address"


def split_host_port(address: str, key: str) -> tuple[str, int]:
    """`host:port` or `ray://host:port` -> (host, port); RayClusterError names `key` otherwise."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayClusterError(
            f"{key}={address!r}: not a Ray address (expected host:port, ray://host:port, 'auto' or 'local')"
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, key: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at the address (Ray itself would retry for minutes)."""
    host, port = split_host_port(address, key)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise RayClusterError(f"{key}={address}: nothing answers at {host}:{port} ({why})") from None


def check_ray_address(config: ZeroloopConfig) -> None:
    """Without joining: refuse a malformed address, or one where nothing listens."""
    address, key = resolve_ray_address(config)
    if address not in (None, "auto", "local"):
        check_reachable(address, key)


def _auth_hint() -> str:
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return "RAY_AUTH_MODE=token is set here: check that this machine has the cluster's token"
    return (
        "if the cluster uses token authentication, set RAY_AUTH_MODE=token and its token "
        "(RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) here too"
    )


def _join(address: str | None, key: str) -> None:
    """ray.init(address=...); None = the cluster in Ray's address file on this machine."""
    import ray
    from ray.exceptions import AuthenticationError

    if address not in (None, "auto"):
        check_reachable(address, key)
    shown = address or "(the cluster started on this machine)"
    try:
        ray.init(address=address, log_to_driver=False)
    except AuthenticationError:
        raise RayClusterError(
            f"{key}={shown}: the Ray cluster refused this client's token; {_auth_hint()}"
        ) from None
    except (ConnectionError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = f" ({_auth_hint()})" if address != "auto" else ""
        raise RayClusterError(f"{key}={shown}: cannot join the Ray cluster: {first}{hint}") from None


def _init_local(config: ZeroloopConfig, address: str | None = None, tries: int = 3) -> None:
    """A new local Ray; tried again when its node times out starting (a loaded machine)."""
    import ray

    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, num_cpus=config.orchestration.num_cpus, include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
            return
        except Exception as exc:  # Ray raises a bare Exception for this one
            if "timed out during startup" not in str(exc) or attempt == tries:
                raise
            log.warning("local Ray timed out starting (attempt %d of %d); trying again", attempt, tries)
            ray.shutdown()


def _start_or_join_local(config: ZeroloopConfig) -> None:
    import ray

    try:
        _init_local(config)
    except ValueError as exc:
        if _EXISTING_CLUSTER not in str(exc):
            raise
        # Ray found a cluster that `ray start` left on this machine and refuses num_cpus
        # for it. Joining is what a user who started that cluster wants; say so.
        _join(None, "orchestration.ray_address")
        log.warning(
            "joined the Ray cluster running on this machine (%s); set orchestration.ray_address=local "
            "for a private local Ray instead",
            ray.get_runtime_context().gcs_address,
        )


def check_resources(config: ZeroloopConfig, where: str) -> None:
    """Refuse a config that asks for more GPUs per self-play worker than the cluster has."""
    import ray

    wanted = config.selfplay.gpus_per_worker
    if wanted <= 0:
        return
    have = float(ray.cluster_resources().get("GPU", 0.0))
    if wanted > have:
        raise RayClusterError(
            f"selfplay.gpus_per_worker={wanted:g}: the Ray cluster ({where}) has {have:g} GPU(s)"
        )


def ensure_ray(config: ZeroloopConfig) -> None:
    """Join or start the Ray session the config asks for, unless this process has one.

    The local Ray is the light kind (`num_cpus=orchestration.num_cpus`, no dashboard) and
    keeps workers' output out of the driver's log: stages report through their own
    progress and summaries. Raises RayClusterError (one line) when it cannot.
    """
    import ray  # here, so that importing a flow or a stage module does not start Ray's imports

    if ray.is_initialized():
        return
    address, key = resolve_ray_address(config)
    if address is None:
        _start_or_join_local(config)
        where = "local"
    elif address == "local":
        _init_local(config, address="local")
        where = "local"
    else:
        _join(address, key)
        where = f"{key}={address}"
    try:
        check_resources(config, where)
    except RayClusterError:
        ray.shutdown()
        raise
