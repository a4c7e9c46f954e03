"""Self-play actors kept alive from one stage call to the next in the same driver process.

The flow plays every generation's self-play from one process, so the actors of one
generation (their JAX runtime and compiled search) can play the next one: they get the
new model through `set_weights`, which recompiles only when the network's structure
changed. That saves each generation the actors' start-up (importing JAX, loading the
compiled program), which on a small board is a large share of the stage.

An actor is handed out again only to a stage call with the same key (everything the
actor was built from: the config, the batch size, the Ray options, the Ray session)
and only after it answers a ping; otherwise it is killed and a new one is made.
Pooled actors keep their CPUs reserved in Ray while idle: a stage that needs them (an
arena with Ray workers) calls `release_selfplay_actors()` when the cluster lacks room.
Actors are not detached, so they end with the driver (a killed flow leaves none).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PING_SECONDS = 30.0


def pool_key(config_json: dict[str, Any], batch_size: int, actor_options: dict[str, Any]) -> str:
    """What a pooled actor must have been built from to be handed out again (a hash).

    config_json: the run config as JSON (`ZeroloopConfig.model_dump(mode="json")`).
    The Ray session is part of the key: handles of an earlier session are dead.
    """
    import ray

    session = ray.get_runtime_context().get_job_id() if ray.is_initialized() else ""
    text = json.dumps(
        {"config": config_json, "batch": batch_size, "options": actor_options, "session": session},
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass
class SelfplayActorPool:
    """Idle self-play actors by worker index, all made for one key."""

    key: str | None = None
    actors: dict[int, Any] = field(default_factory=dict)

    def take(self, key: str, worker: int) -> Any | None:
        """The idle actor of `worker` if it was made for `key` and answers a ping, else None."""
        if key != self.key:
            self.close()
            self.key = key
            return None
        actor = self.actors.pop(worker, None)
        if actor is None:
            return None
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        try:
            ray.get(actor.ping.remote(), timeout=PING_SECONDS)
        except (RayActorError, GetTimeoutError) as exc:
            log.warning("self-play: pooled worker %d is gone (%s); starting anew", worker, type(exc).__name__)
            _kill(actor)
            return None
        return actor

    def put(self, key: str, worker: int, actor: Any) -> None:
        """Keep `actor` idle for the next stage call with the same key."""
        if key != self.key:
            self.close()
            self.key = key
        old = self.actors.pop(worker, None)
        if old is not None and old is not actor:
            _kill(old)
        self.actors[worker] = actor

    def close(self) -> int:
        """Kill every idle actor; returns how many there were."""
        count = len(self.actors)
        for actor in self.actors.values():
            _kill(actor)
        self.actors.clear()
        self.key = None
        return count


def _kill(actor: Any) -> None:
    import ray

    with contextlib.suppress(Exception):  # already gone, or from an earlier Ray session
        ray.kill(actor)


_POOL = SelfplayActorPool()


def selfplay_actor_pool() -> SelfplayActorPool:
    """This process's pool (one per driver process)."""
    return _POOL


def release_selfplay_actors() -> int:
    """Kill this process's idle self-play actors, freeing their CPUs/GPUs in Ray; returns how many."""
    released = _POOL.close()
    if released:
        log.info("self-play: released %d idle workers", released)
    return released
