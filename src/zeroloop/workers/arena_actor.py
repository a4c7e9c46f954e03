"""Ray arena workers: play an evaluation match's games in parallel batches.

Each `ArenaActor` builds the two agents once (a model agent compiles its search once)
and then plays the batches of scheduled games it is sent, each batch in lock-step
(`zeroloop.evaluation.match.play_games`). The driver hands out one batch per free
actor and collects results as they finish, so a slow batch does not hold up the
others. Ray restarts a dead actor and retries its batch; games are pure functions of
their schedule and seeds, so a retried batch is simply played again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ray

from zeroloop.config import ZeroloopConfig
from zeroloop.evaluation.agents import AgentSpec, build_agent
from zeroloop.evaluation.match import ArenaGame, GameResult, play_games
from zeroloop.workers.actor_pool import release_selfplay_actors
from zeroloop.workers.ray_session import ensure_ray
from zeroloop.workers.selfplay_actor import compilation_cache_path, enable_compilation_cache


class ArenaWorker:
    """Plain-Python body of the actor (usable, and tested, without Ray)."""

    def __init__(self, config_json: dict[str, Any], a: AgentSpec, b: AgentSpec, seed: int) -> None:
        self.config = ZeroloopConfig.model_validate(config_json)
        cfg = self.config
        # A fresh (or restarted) actor loads the compiled search instead of compiling it.
        enable_compilation_cache(compilation_cache_path(cfg.selfplay.compilation_cache_dir))
        self.a = build_agent(a, cfg.game, cfg.mcts, cfg.eval, cfg.model, seed=seed)
        self.b = build_agent(b, cfg.game, cfg.mcts, cfg.eval, cfg.model, seed=seed + 1)

    def play(self, games: Sequence[ArenaGame]) -> list[dict[str, Any]]:
        results = play_games(self.a, self.b, games, self.config.game.board_size, self.config.game.swap)
        return [r.to_dict() for r in results]


ArenaActor = ray.remote(max_restarts=2, max_task_retries=2)(ArenaWorker)


def play_on_ray(
    config: ZeroloopConfig,
    a: AgentSpec,
    b: AgentSpec,
    games: Sequence[ArenaGame],
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[GameResult]:
    """Play `games` on `eval.num_workers` arena actors; results in the order of `games`."""
    ensure_ray(config)
    cfg = config.eval
    batches = [list(games[i : i + cfg.batch_size]) for i in range(0, len(games), cfg.batch_size)]
    config_json = config.model_dump(mode="json")
    count = min(cfg.num_workers, len(batches))
    if ray.available_resources().get("CPU", 0.0) < count * cfg.cpus_per_worker:
        # Idle self-play actors kept for the next generation hold CPUs: free them rather
        # than wait forever for room (they are made again by the next self-play stage).
        release_selfplay_actors()
    actors = [
        ArenaActor.options(num_cpus=cfg.cpus_per_worker).remote(config_json, a, b, seed + 1000 * w)
        for w in range(count)
    ]
    pending: dict[Any, Any] = {}
    todo = list(batches)
    for actor in actors:
        if todo:
            pending[actor.play.remote(todo.pop(0))] = actor
    results: list[GameResult] = []
    if progress:
        progress(0, len(games))
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(ready[0])
            results += [GameResult.from_dict(d) for d in ray.get(ready[0])]
            if progress:
                progress(len(results), len(games))
            if todo:
                pending[actor.play.remote(todo.pop(0))] = actor
    finally:
        for actor in actors:
            ray.kill(actor)
    order = {g.index: k for k, g in enumerate(games)}
    return sorted(results, key=lambda r: order[r.index])
