"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """A light local Ray (2 CPUs, no dashboard) for the module, unless one is up already.

    Idle self-play actors the module's stages kept (selfplay.keep_workers) are released
    at the end, so no module finds another's actors among Ray's named actors.
    """
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    from zeroloop.workers.actor_pool import release_selfplay_actors

    release_selfplay_actors()
    if started:
        ray.shutdown()
