"""One way to get a Ray session for the stages, the arena and the flows."""

from __future__ import annotations

from zeroloop.config import ZeroloopConfig


def ensure_ray(config: ZeroloopConfig) -> None:
    """Join `orchestration.ray_address`, or start a local Ray, unless this process has one.

    The local Ray is the light kind (`num_cpus=orchestration.num_cpus`, no dashboard) and
    keeps workers' output out of the driver's log: stages report through their own
    progress and summaries.
    """
    import ray  # here, so that importing a flow or a stage module does not start Ray's imports

    if ray.is_initialized():
        return
    orch = config.orchestration
    if orch.ray_address:
        ray.init(address=orch.ray_address, log_to_driver=False)
    else:
        ray.init(num_cpus=orch.num_cpus, include_dashboard=False, log_to_driver=False)
