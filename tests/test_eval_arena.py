"""Arena: colour alternation, openings, a tiny match, run_evaluation, gating, Ray workers."""

import json
from collections import Counter
from pathlib import Path

import pytest

from zeroloop.config import load_config
from zeroloop.config.evaluation import EvalConfig
from zeroloop.config.game import GameConfig
from zeroloop.evaluation.agents import AgentSpec, AgentSpecError, RandomAgent, build_agent, parse_agent_spec
from zeroloop.evaluation.arena import gating_decision, run_evaluation, summarise
from zeroloop.evaluation.ladder import load_ladder
from zeroloop.evaluation.match import make_openings, play_games, schedule_games
from zeroloop.games.board import replay, winner

TINY_NET = ["model.blocks=1", "model.channels=8", "model.value_hidden=8"]


class FirstLegal:
    """Deterministic test agent: the lowest legal cell."""

    def __init__(self, n: int, name: str = "first") -> None:
        self.name, self.n = name, n

    def choose_moves(self, games):
        from zeroloop.evaluation.agents import legal_moves

        return [int(legal_moves(m, self.n, False)[0]) for m in games]


def test_colours_alternate_and_openings_pair_up() -> None:
    games = schedule_games(20, 5, opening_plies=2, seed=3)
    assert Counter(g.a_color for g in games) == {0: 10, 1: 10}
    for k in range(10):
        black, white = games[2 * k], games[2 * k + 1]
        assert black.opening == white.opening and len(black.opening) == 2
        assert (black.a_color, white.a_color) == (0, 1)
    assert len({g.opening for g in games}) == 10  # distinct while the board has enough
    odd = schedule_games(7, 5, 1, seed=0)
    assert [g.a_color for g in odd] == [0, 1, 0, 1, 0, 1, 0]


def test_openings_are_distinct_legal_and_undecided() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    openings = make_openings(30, 4, 3, rng)
    assert len(set(openings)) == 30
    for o in openings:
        assert winner(replay(4, o)[-1]) is None
    # More openings than the board has: every one used, then repeated.
    small = make_openings(12, 2, 1, rng)
    assert sorted(set(small)) == [(0,), (1,), (2,), (3,)]
    assert make_openings(3, 5, 0, rng) == [(), (), ()]


def test_agent_a_plays_its_colour() -> None:
    """In every game A makes exactly the moves of its colour (checked by name in a log)."""
    n = 4
    log: list[tuple[str, int]] = []

    class Logged(FirstLegal):
        def choose_moves(self, games):
            from zeroloop.games.board import players_to_move

            for m in games:
                to_play = int(players_to_move([*m, 0], n * n)[-1])
                log.append((self.name, to_play))
            return super().choose_moves(games)

    a, b = Logged(n, "A"), Logged(n, "B")
    games = schedule_games(6, n, 1, seed=1)
    results = play_games(a, b, games, n)
    assert [r.a_color for r in results] == [0, 1, 0, 1, 0, 1]
    # Both agents are the same deterministic player: each pair splits by colour, so
    # A's score is exactly one half, whoever the first-move advantage favours.
    assert sum(r.a_won for r in results) == 3
    assert {name for name, _ in log} == {"A", "B"}
    for r in results:
        assert winner(replay(n, r.moves)[-1]) == r.winner


def test_tiny_match_random_vs_mcts() -> None:
    n = 4
    games = schedule_games(8, n, 1, seed=0)
    a = build_agent("mcts:100", GameConfig(board_size=n), seed=0)
    b = RandomAgent(n, False, seed=1)
    progress: list[tuple[int, int]] = []
    results = play_games(a, b, games, n, progress=lambda d, t: progress.append((d, t)))
    assert len(results) == 8 and progress[-1] == (8, 8)
    s = summarise(a.name, b.name, results, 0.95)
    assert s.black_games == s.white_games == 4
    assert s.wins >= 6  # 100 rollouts beat uniform random nearly always on 4x4
    assert s.win_rate_low <= s.win_rate <= s.win_rate_high


def test_spec_parsing(tmp_path: Path) -> None:
    assert parse_agent_spec("random") == AgentSpec("random")
    assert parse_agent_spec("mcts:200") == AgentSpec("mcts", simulations=200)
    assert parse_agent_spec("mcts:50:1.4").uct_c == 1.4
    assert parse_agent_spec("model:random@8") == AgentSpec("model", simulations=8, path=None)
    f = tmp_path / "gen-0003.zlm"
    f.write_bytes(b"x")
    spec = parse_agent_spec(f"{f}@64")
    assert (spec.kind, spec.path, spec.simulations, spec.name) == ("model", str(f), 64, "gen-0003@64")
    for bad in ("mcts:", "mcts:x", "nonsense", "model:a@b"):
        with pytest.raises(AgentSpecError):
            parse_agent_spec(bad)


def test_gating_decision() -> None:
    off = EvalConfig(gating=False)
    on = EvalConfig(gating=True, gating_threshold=0.55)
    assert gating_decision(0.1, 10, off)[0] is True
    assert gating_decision(0.55, 20, on)[0] is True
    assert gating_decision(0.54, 20, on) == (False, "win rate 0.540 < threshold 0.55")
    assert gating_decision(0.0, 0, on)[0] is True  # nothing to compare against


def test_run_evaluation_writes_json_and_ladder(tmp_path: Path) -> None:
    cfg = load_config(None, ["game.board_size=3", "eval.gating=true", "eval.gating_threshold=0.6"])
    out = tmp_path / "eval" / "gen-0001.json"
    seen: list[int] = []
    s = run_evaluation(
        cfg,
        "mcts:40",
        "random",
        out,
        num_games=6,
        run_dir=tmp_path,
        generation=1,
        references=["mcts:2"],
        progress=lambda d, t: seen.append(t),
    )
    cfg_games = cfg.eval.reference_games
    assert set(seen) == {6 + cfg_games}
    assert s.games == 6 and s.black_games == s.white_games == 3
    assert s.promoted == (s.win_rate >= 0.6)
    data = json.loads(out.read_text())
    assert data["win_rate"] == s.win_rate and data["candidate"] == "mcts:40"
    assert len(data["games_played"]) == 6
    first = data["games_played"][0]
    assert first["candidate_color"] == "black" and first["record"].startswith("#3,")
    assert [r["b"] for r in data["references"]] == ["mcts:2"]
    ladder = load_ladder(tmp_path)
    assert {(r.a, r.b) for r in ladder.results} == {("mcts:40", "random"), ("mcts:40", "mcts:2")}
    assert ladder.ratings["random"].elo == 0.0


def test_first_generation_has_no_opponent(tmp_path: Path) -> None:
    cfg = load_config(None, ["game.board_size=3"])
    s = run_evaluation(cfg, "random", None, tmp_path / "e.json")
    assert s.games == 0 and s.promoted


def test_model_agent_plays_a_short_match(tmp_path: Path) -> None:
    """A random-weights net with a tiny search: legal moves, lock-step batches padded."""
    cfg = load_config(None, ["game.board_size=3", "eval.batch_size=4", *TINY_NET])
    agent = build_agent("model:random@4", cfg.game, cfg.mcts, cfg.eval, cfg.model, batch_size=4)
    assert agent.name == "random-net@4"
    results = play_games(agent, RandomAgent(3, False, 0), schedule_games(6, 3, 1, 0), 3)
    for r in results:
        assert winner(replay(3, r.moves)[-1]) == r.winner
    # A second agent of the same structure reuses the compiled search.
    from zeroloop.evaluation import model_agent

    other = build_agent("model:random@4", cfg.game, cfg.mcts, cfg.eval, cfg.model, batch_size=4, seed=5)
    assert other._select is agent._select
    assert len(model_agent._SELECT_CACHE) >= 1


def test_arena_worker_without_ray() -> None:
    from zeroloop.workers.arena_actor import ArenaWorker

    cfg = load_config(None, ["game.board_size=3"])
    worker = ArenaWorker(cfg.model_dump(mode="json"), AgentSpec("random"), AgentSpec("mcts", 10), seed=0)
    rows = worker.play(schedule_games(4, 3, 1, 0))
    assert [r["index"] for r in rows] == [0, 1, 2, 3]


def test_match_on_ray_workers(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    cfg = load_config(
        None, ["game.board_size=3", "eval.num_workers=2", "eval.batch_size=2", "orchestration.num_cpus=2"]
    )
    try:
        s = run_evaluation(cfg, "mcts:20", "random", tmp_path / "e.json", num_games=8)
    finally:
        ray.shutdown()
    assert s.games == 8 and s.black_games == 4


def test_cli_evaluate_records_on_the_ladder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from zeroloop.cli import app

    args = ["evaluate", "--candidate", "mcts:30", "--opponent", "random", "-g", "4"]
    args += ["--set", "game.board_size=3", "--set", "eval.reference_games=2", "--run-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mcts:30 vs random" in result.stdout and "Elo ladder" in result.stdout
    (out,) = (tmp_path / "eval").glob("match-*.json")
    assert json.loads(out.read_text())["games"] == 4
    # 'random' is both the opponent and the default reference: played once.
    assert len(load_ladder(tmp_path).results) == 1
    bad = CliRunner().invoke(app, ["evaluate", "--candidate", "nonsense", "--set", "game.board_size=3"])
    assert bad.exit_code == 2 and "not an opponent spec" in bad.output
