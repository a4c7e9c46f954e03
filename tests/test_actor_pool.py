"""Self-play actors live across stage calls (generations) of one process: selfplay.keep_workers."""

from __future__ import annotations

import time
from pathlib import Path

from tests.test_selfplay import tiny_config
from zeroloop.data.chunks import read_game_chunk
from zeroloop.model.file import save_model_file
from zeroloop.model.network import create_model
from zeroloop.workers.actor_pool import release_selfplay_actors, selfplay_actor_pool
from zeroloop.workers.selfplay_chunks import scan_chunks
from zeroloop.workers.selfplay_stage import run_selfplay


def _model(config, tmp_path: Path, seed: int, name: str) -> str:
    model = create_model(config.model, seed=seed)
    return str(save_model_file(tmp_path / f"{name}.zlm", model, config.game, {"model_id": name}))


def _play(config, out: Path, model: str | None, games: int):
    return run_selfplay(config, out, model, games, show_progress=False)


def _model_ids(out: Path) -> set[str]:
    return {g.model_id for p in scan_chunks(out).values() for g in read_game_chunk(p)}


def test_actors_are_kept_and_play_the_next_model(ray_local, tmp_path: Path) -> None:
    ray = ray_local
    config = tiny_config("game.board_size=3", "selfplay.batch_size=4", "selfplay.num_workers=1")
    first = run_selfplay(
        config, tmp_path / "gen-1", _model(config, tmp_path, 1, "gen-1"), 8, show_progress=False
    )
    assert first.workers_started == 1 and first.games == 8
    pooled = selfplay_actor_pool().actors
    assert set(pooled) == {0}
    kept = pooled[0]

    # The next generation: the same actor (no new one), the new model's games, no compiling.
    second = run_selfplay(
        config, tmp_path / "gen-2", _model(config, tmp_path, 2, "gen-2"), 8, show_progress=False
    )
    assert second.workers_started == 0 and second.games == 8
    assert selfplay_actor_pool().actors[0] is kept
    assert second.compile_seconds < first.compile_seconds
    assert _model_ids(tmp_path / "gen-1") == {"gen-1"} and _model_ids(tmp_path / "gen-2") == {"gen-2"}

    # A pooled actor that died is replaced, not handed out.
    ray.kill(kept)
    third = run_selfplay(
        config, tmp_path / "gen-3", _model(config, tmp_path, 3, "gen-3"), 4, show_progress=False
    )
    assert third.workers_started == 1 and third.games == 4 and _model_ids(tmp_path / "gen-3") == {"gen-3"}

    # Another config (here a search setting) gets new actors; the old ones are killed.
    other = tiny_config(
        "game.board_size=3", "selfplay.batch_size=4", "selfplay.num_workers=1", "mcts.num_simulations=4"
    )
    fourth = run_selfplay(other, tmp_path / "gen-4", None, 4, show_progress=False)
    assert fourth.workers_started == 1


def test_keep_workers_off_kills_them(ray_local, tmp_path: Path) -> None:
    release_selfplay_actors()
    config = tiny_config(
        "game.board_size=3", "selfplay.batch_size=4", "selfplay.num_workers=1", "selfplay.keep_workers=false"
    )
    run_selfplay(config, tmp_path / "a", None, 4, show_progress=False)
    assert not selfplay_actor_pool().actors
    again = run_selfplay(config, tmp_path / "b", None, 4, show_progress=False)
    assert again.workers_started == 1


def test_the_pool_frees_cpus_for_the_arena(ray_local, tmp_path: Path) -> None:
    ray = ray_local
    config = tiny_config("game.board_size=3", "selfplay.batch_size=4", "selfplay.num_workers=2")
    run_selfplay(config, tmp_path / "a", None, 8, show_progress=False)
    assert len(selfplay_actor_pool().actors) == 2
    # Two idle actors hold the two CPUs until they are released.
    assert ray.available_resources().get("CPU", 0.0) < 1
    assert release_selfplay_actors() == 2
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0.0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0.0) == 2
