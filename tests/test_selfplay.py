"""Self-play: the jitted game loop, the worker's chunk files, and the Ray stage."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from zeroloop.config import ZeroloopConfig, load_config
from zeroloop.data.chunks import read_chunk_provenance, read_game_chunk, write_game_chunk
from zeroloop.games import board
from zeroloop.games.trmph_file import read_trmph_file
from zeroloop.model.file import save_model_file
from zeroloop.model.network import create_model
from zeroloop.search import piecewise, schedule_value
from zeroloop.workers.selfplay_actor import SelfplayWorker, batch_to_records, seed_key
from zeroloop.workers.selfplay_chunks import clean_leftovers, scan_chunks
from zeroloop.workers.selfplay_stage import batch_seed, run_selfplay

TINY = [
    "model.blocks=1",
    "model.channels=8",
    "model.value_hidden=8",
    "mcts.num_simulations=8",
    "mcts.cheap_simulations=2",
]


def tiny_config(*extra: str, cache: str | None = None) -> ZeroloopConfig:
    sets = [*TINY, f"selfplay.compilation_cache_dir={cache or 'null'}", *extra]
    return load_config(None, sets)


@pytest.fixture(scope="module")
def worker() -> SelfplayWorker:
    """3x3 with the swap rule and playout-cap randomisation, 8 games a batch."""
    # Lock-step, so a batch is a pure function of (weights, seed); continuous play has its
    # own tests (tests/test_selfplay_continuous.py) and the stage tests run it.
    config = tiny_config(
        "game.board_size=3", "game.swap=true", "mcts.playout_cap_fraction=0.3", "selfplay.continuous=false"
    )
    return SelfplayWorker(config, worker=0, batch_size=8)


@pytest.fixture(scope="module")
def batch(worker: SelfplayWorker):
    return worker.play(seed=11)


def test_games_are_legal_and_winners_are_right(worker: SelfplayWorker, batch) -> None:
    n = worker.env.board_size
    for i in range(len(batch.length)):
        t = int(batch.length[i])
        moves = batch.actions[i, :t]
        assert np.all(batch.actions[i, t:] == -1)
        boards = board.replay(n, moves, swap=True)  # raises on any illegal move
        assert board.winner(boards[-1]) == int(batch.winner[i])
        assert board.winner(boards[-2]) is None  # the game ended on its last move


def test_policies_are_distributions_over_legal_moves(worker: SelfplayWorker, batch) -> None:
    n = worker.env.board_size
    for i in range(len(batch.length)):
        t = int(batch.length[i])
        boards = board.replay(n, batch.actions[i, :t], swap=True)
        for ply in range(t):
            legal = np.append(boards[ply].reshape(-1) == 0, ply == 1)
            policy = batch.policy[i, ply]
            assert policy.sum() == pytest.approx(1.0, abs=1e-5)
            assert np.all(policy[~legal] == 0.0), (i, ply, policy)
            # PUCT draws the move from the visits: it must have some.
            assert policy[batch.actions[i, ply]] > 0


def test_temperature_and_noise_follow_the_schedules(worker: SelfplayWorker, batch) -> None:
    mcts = worker.config.mcts
    length = worker.env.num_cells / 2  # expected_game_length unset -> half the cells
    plies = np.arange(batch.temperature.shape[1])
    want_t = np.asarray(schedule_value(piecewise(mcts.temperature), plies / length))
    want_w = np.asarray(schedule_value(piecewise(mcts.noise_weight), plies / length))
    cheap_seen = full_seen = False
    for i in range(len(batch.length)):
        t = int(batch.length[i])
        np.testing.assert_allclose(batch.temperature[i, :t], want_t[:t])
        valid = batch.policy_valid[i, :t]
        # Cheap searches have no noise and are no policy target; full ones follow the schedule.
        np.testing.assert_allclose(batch.noise_weight[i, :t][valid], want_w[:t][valid])
        assert np.all(batch.noise_weight[i, :t][~valid] == 0.0)
        cheap_seen |= bool((~valid).any())
        full_seen |= bool(valid.any())
    assert cheap_seen and full_seen  # playout cap 0.3: both kinds occur (fixed seed)
    # Each ply is split at random: exactly k = round(8 x 0.7) = 6 of the 8 games get the full search.
    live = np.arange(batch.policy_valid.shape[1])[None, :] < batch.length[:, None]
    for ply in range(live.shape[1]):
        full = int(batch.policy_valid[live[:, ply], ply].sum())
        assert full <= 6 and (full == 6 or not live[:, ply].all())


def test_the_last_mover_is_the_winner(batch) -> None:
    for i in range(len(batch.length)):
        t = int(batch.length[i])
        movers = board.players_to_move(batch.actions[i, :t], swap_action=9)
        assert movers.shape == (t,)
        assert movers[-1] == batch.winner[i]  # the last mover made the winning move


def test_chunk_round_trip_is_identical(worker: SelfplayWorker, batch, tmp_path: Path) -> None:
    games = batch_to_records(batch, 3, True, model_id="m", seed=11, search='{"x": 1}')
    path = write_game_chunk(tmp_path / "c.arrow", games)
    back = read_game_chunk(path)
    assert len(back) == len(games)
    for a, b in zip(games, back, strict=True):
        assert a.game_id == b.game_id and a.winner == b.winner and a.swap == b.swap
        np.testing.assert_array_equal(a.moves, b.moves)
        np.testing.assert_array_equal(a.policy, b.policy)
        np.testing.assert_array_equal(a.policy_valid, b.policy_valid)
        np.testing.assert_array_equal(a.root_value, b.root_value)
        assert (a.model_id, a.seed, a.search) == (b.model_id, b.seed, b.search)


def test_play_batch_writes_chunk_and_trmph(worker: SelfplayWorker, batch, tmp_path: Path) -> None:
    result = worker.play_batch(str(tmp_path), seq=3, seed=11, num_games=5)
    assert result["games"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk-000-000003.arrow", "chunk-000-000003.trmph"]
    games = read_game_chunk(result["path"])
    # Same seed, same weights: the same games as the fixture's batch (first 5 of 8).
    for g, i in zip(games, range(5), strict=True):
        np.testing.assert_array_equal(g.moves, batch.actions[i, : batch.length[i]])
        np.testing.assert_array_equal(g.policy, batch.policy[i, : batch.length[i]])
        assert g.seed == 11 and g.model_id == worker.model_id and '"mcts"' in g.search
    parsed, issues = read_trmph_file(tmp_path / "chunk-000-000003.trmph")
    assert not issues
    where = read_chunk_provenance(result["path"])  # who played it: host, pid, worker (+ Ray ids)
    assert where["worker"] == "0" and where["host"] == socket.gethostname() and where["pid"]
    assert result["node"] in (where["host"], where.get("ray_node_id"))
    assert [(list(p.moves), p.winner) for p in parsed] == [(g.moves.tolist(), g.winner) for g in games]


def test_set_weights_does_not_recompile(worker: SelfplayWorker, tmp_path: Path) -> None:
    compiled = worker._compiled
    assert compiled is not None
    path = save_model_file(
        tmp_path / "m.zlm",
        create_model(worker.config.model, seed=5),
        worker.config.game,
        {"model_id": "gen-7"},
    )
    assert worker.set_weights(str(path)) == "gen-7"
    worker.play(seed=1)
    assert worker._compiled is compiled
    worker.set_weights(None)  # back to the fixture's weights for the other tests


def test_gumbel_selfplay_policies(tmp_path: Path) -> None:
    config = tiny_config("game.board_size=3", "mcts.mode=gumbel", "mcts.max_num_considered_actions=4")
    batch = SelfplayWorker(config, batch_size=4).play(seed=2)
    for i in range(4):
        t = int(batch.length[i])
        boards = board.replay(3, batch.actions[i, :t])
        for ply in range(t):
            legal = np.append(boards[ply].reshape(-1) == 0, False)
            assert batch.policy[i, ply].sum() == pytest.approx(1.0, abs=1e-5)
            assert np.all(batch.policy[i, ply][~legal] == 0.0)


def test_forced_playouts_selfplay_policies() -> None:
    """Forced playouts in the game loop, next to cheap searches: the pruned policies are
    distributions over legal moves and the move played is one they keep."""
    config = tiny_config(
        "game.board_size=3",
        "game.swap=true",
        "mcts.forced_playouts=2",
        "mcts.num_simulations=24",
        "mcts.playout_cap_fraction=0.5",
        "selfplay.continuous=false",
    )
    batch = SelfplayWorker(config, batch_size=4).play(seed=3)
    for i in range(4):
        t = int(batch.length[i])
        boards = board.replay(3, batch.actions[i, :t], swap=True)
        assert board.winner(boards[-1]) == int(batch.winner[i])
        for ply in range(t):
            legal = np.append(boards[ply].reshape(-1) == 0, ply == 1)
            policy = batch.policy[i, ply]
            assert policy.sum() == pytest.approx(1.0, abs=1e-5)
            assert np.all(policy[~legal] == 0.0)
            assert policy[batch.actions[i, ply]] > 0


def test_clean_leftovers(tmp_path: Path) -> None:
    (tmp_path / "chunk-000-000000.arrow").write_bytes(b"x")
    (tmp_path / "chunk-000-000000.trmph").write_text("#3,a1 1\n")
    (tmp_path / "chunk-000-000001.trmph").write_text("#3,a1 1\n")  # its .arrow never landed
    (tmp_path / ".chunk-000-000001.arrow.1234abcd.tmp").write_bytes(b"half")
    assert clean_leftovers(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk-000-000000.arrow", "chunk-000-000000.trmph"]


def test_batch_seeds_are_distinct_and_use_64_bits(tmp_path: Path) -> None:
    import jax

    seeds = {
        batch_seed(0, tmp_path / f"gen-{g:04d}", w, q) for g in range(3) for w in range(4) for q in range(50)
    }
    assert len(seeds) == 3 * 4 * 50 and max(seeds) < 2**63
    assert batch_seed(0, tmp_path / "gen-0001", 1, 2) == batch_seed(0, tmp_path / "x" / "gen-0001", 1, 2)
    low, high = seed_key(5), seed_key(5 + 2**40)  # jax.random.key would drop the high bits
    assert not np.array_equal(jax.random.key_data(low), jax.random.key_data(high))


def test_missing_model_fails_before_ray(tmp_path: Path) -> None:
    from zeroloop.model.file import ModelFileError

    with pytest.raises(ModelFileError):
        run_selfplay(tiny_config(), tmp_path / "out", model_path=tmp_path / "nope.zlm", show_progress=False)


# ---- the Ray stage ------------------------------------------------------------------


def test_finished_target_is_a_no_op_without_ray(worker: SelfplayWorker, tmp_path: Path) -> None:
    worker.play_batch(str(tmp_path), seq=0, seed=1, num_games=8)
    worker.play_batch(str(tmp_path), seq=1, seed=2, num_games=3)
    (tmp_path / "chunk-000-000002.trmph").write_text("#3,a1 1\n")  # orphan of a killed batch
    calls: list[tuple[int, int]] = []
    summary = run_selfplay(worker.config, tmp_path, num_games=10, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(10, 10)]
    assert (summary.games, summary.new_games, summary.chunks, summary.num_workers) == (11, 0, 2, 0)
    games = [g for p in scan_chunks(tmp_path).values() for g in read_game_chunk(p)]
    assert summary.positions == sum(len(g.moves) for g in games)
    assert summary.mean_game_length == pytest.approx(summary.positions / 11)
    assert summary.first_player_win_rate == pytest.approx(sum(g.winner == 0 for g in games) / 11)
    assert not (tmp_path / "chunk-000-000002.trmph").exists()
    assert set(summary.to_dict()) >= {"games", "positions", "positions_per_second", "chunks", "wall_seconds"}


@pytest.mark.slow
def test_stage_survives_a_killed_actor_and_resumes(ray_local, tmp_path: Path) -> None:
    ray = ray_local
    cache = tmp_path / "xla-cache"
    config = tiny_config(
        "game.board_size=3", "selfplay.batch_size=4", "selfplay.num_workers=2", cache=str(cache)
    )
    out = tmp_path / "gen-0001"
    killed: list[str] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        # After the first chunk every actor has a batch in flight: kill one mid-batch.
        with lock:
            if done > 0 and not killed:
                names = sorted(n for n in ray.util.list_named_actors() if n.startswith("selfplay-"))
                ray.kill(ray.get_actor(names[0]))
                killed.append(names[0])

    summary = run_selfplay(config, out, num_games=20, progress=progress, show_progress=False)
    assert killed and summary.worker_restarts >= 1
    assert summary.games == 20 and summary.new_games == 20
    assert summary.games_per_node == {ray.get_runtime_context().get_node_id(): 20}  # from the chunks
    chunks = scan_chunks(out)
    total = 0
    for path in chunks.values():
        games = read_game_chunk(path)  # every visible chunk is whole
        lines = path.with_suffix(".trmph").read_text().splitlines()
        assert len(lines) == len(games)
        total += len(games)
    assert total == 20
    assert not list(out.glob(".*.tmp"))
    seeds = [g.seed for p in chunks.values() for g in read_game_chunk(p)]
    assert len(set(seeds)) == len(chunks)  # one distinct seed per chunk

    # Resume: games on disk count; only the missing ones are played, with fresh seeds.
    more = run_selfplay(config, out, num_games=26, show_progress=False)
    assert more.games == 26 and more.new_games == 6
    new_seeds = {g.seed for p in scan_chunks(out).values() for g in read_game_chunk(p)} - set(seeds)
    assert new_seeds and not (new_seeds & set(seeds))
    assert 0.0 <= more.first_player_win_rate <= 1.0 and more.mean_game_length >= 3


# ---- the CLI ----------------------------------------------------------------------------


def test_cli_maps_options_to_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import zeroloop.workers.selfplay_stage as stage
    from zeroloop.cli import app
    from zeroloop.workers.selfplay_stage import SelfplaySummary

    seen = {}

    def fake_run(config, out_dir, model_path=None):
        seen.update(config=config, out=out_dir, model=model_path)
        return SelfplaySummary(out_dir=str(out_dir), games=3)

    monkeypatch.setattr(stage, "run_selfplay", fake_run)
    args = ["selfplay", "--out", str(tmp_path), "--num-games", "3", "--num-workers", "1"]
    args += ["--batch-size", "2", "--temperature", "0.25", "--set", "game.board_size=5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.mcts.temperature == [(0.0, 0.25)]
    assert (config.selfplay.num_games, config.selfplay.num_workers, config.selfplay.batch_size) == (3, 1, 2)
    assert config.game.board_size == 5 and seen["model"] is None
    missing = CliRunner().invoke(app, ["selfplay", "--out", str(tmp_path), "--model", str(tmp_path / "nope")])
    assert missing.exit_code == 2
