"""Arena: colour alternation, openings, replays, a tiny match, run_evaluation, gating, Ray workers."""

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from zeroloop.config import load_config
from zeroloop.config.evaluation import EvalConfig
from zeroloop.config.game import GameConfig
from zeroloop.config.mcts import MctsConfig
from zeroloop.evaluation.agents import (
    AgentSpec,
    AgentSpecError,
    RandomAgent,
    build_agent,
    is_deterministic,
    parse_agent_spec,
)
from zeroloop.evaluation.arena import game_rows, gating_decision, match_replays, run_evaluation, summarise
from zeroloop.evaluation.ladder import load_ladder
from zeroloop.evaluation.match import (
    ArenaGame,
    find_replays,
    make_openings,
    opening_plies_for,
    play_games,
    schedule_games,
)
from zeroloop.games.board import players_to_move, replay, winner

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
    rng = np.random.default_rng(0)
    openings = make_openings(30, 4, 3, rng)
    assert len(set(openings)) == 30
    for o in openings:
        assert winner(replay(4, o)[-1]) is None
    assert make_openings(3, 5, 0, rng) == [(), (), ()]  # no openings asked for: none


def test_openings_are_drawn_without_replacement_and_lengthened() -> None:
    """At 5x5, 64 games are 32 pairs but there are only 25 one-stone openings: two plies."""
    assert opening_plies_for(25, 5, 1) == 1
    assert opening_plies_for(26, 5, 1) == 2
    games = schedule_games(64, 5, opening_plies=1, seed=0)
    openings = [g.opening for g in games[::2]]
    assert len(openings) == 32 and len(set(openings)) == 32
    assert {len(o) for o in openings} == {2}
    # Exactly as many pairs as one-stone openings: each cell opens one pair.
    exact = schedule_games(50, 5, opening_plies=1, seed=1)
    assert sorted(g.opening for g in exact[::2]) == [(c,) for c in range(25)]
    # 2x2 has 4 one-stone openings; 12 pairs take all 12 two-stone ones, once each.
    small = make_openings(12, 2, 1, np.random.default_rng(0))
    assert len(set(small)) == 12 and {len(o) for o in small} == {2}
    # A board with fewer openings than pairs at any length uses them all, then repeats.
    tiny = make_openings(40, 2, 1, np.random.default_rng(0))
    distinct = set(tiny)
    assert len(distinct) < 40 and Counter(tiny).most_common(1)[0][1] >= 2
    assert all(winner(replay(2, o)[-1]) is None for o in distinct)


def test_agent_a_plays_its_colour() -> None:
    """Every position of every game went to the agent whose colour was to move, and only there.

    The log holds (agent, position) for every request; it must equal, as a multiset,
    the positions after each opening with A named where A's colour is to move.
    """
    n = 4
    log: list[tuple[str, tuple[int, ...]]] = []

    class Logged(FirstLegal):
        def choose_moves(self, games):
            log.extend((self.name, tuple(m)) for m in games)
            return super().choose_moves(games)

    a, b = Logged(n, "A"), Logged(n, "B")
    games = schedule_games(6, n, 1, seed=1)
    results = play_games(a, b, games, n)
    assert [r.a_color for r in results] == [0, 1, 0, 1, 0, 1]
    expected: Counter = Counter()
    for r in results:
        movers = players_to_move(r.moves, n * n)
        for t in range(r.opening_plies, len(r.moves)):
            expected[("A" if movers[t] == r.a_color else "B", r.moves[:t])] += 1
    assert Counter(log) == expected
    # A moved as black (even plies) in some games and as white (odd plies) in others.
    assert any(name == "A" and len(m) % 2 == 0 for name, m in log)
    assert any(name == "A" and len(m) % 2 == 1 for name, m in log)
    # Both agents are the same deterministic player: each pair splits by colour, so
    # A's score is exactly one half, whoever the first-move advantage favours.
    assert sum(r.a_won for r in results) == 3
    for r in results:
        assert winner(replay(n, r.moves)[-1]) == r.winner


def test_replays_between_deterministic_agents_count_once() -> None:
    n = 4
    a, b = FirstLegal(n, "A"), FirstLegal(n, "B")
    # No openings: every game with A black is the same game, and so is every game with A white.
    same = play_games(a, b, schedule_games(6, n, 0, seed=0), n)
    replays = find_replays(same, n)
    assert replays == {2: 0, 4: 0, 3: 1, 5: 1}
    s = summarise("A", "B", same, 0.95, replays)
    assert (s.games, s.wins, s.replays) == (2, 1, 4)
    assert (s.black_games, s.white_games) == (1, 1)
    assert summarise("A", "B", same, 0.95).games == 6  # without the replay map: all counted
    rows = game_rows(same, n, replays)
    assert [r["replay_of"] for r in rows] == [None, None, 0, 1, 0, 1]
    # A transposition is a replay too: openings (a1, a2) and (b1, a2) differ, but
    # FirstLegal answers b1 in the first and a1 in the second, and from that common
    # position on the games are the same.
    games = [ArenaGame(0, (0, 4), 0), ArenaGame(1, (1, 4), 0), ArenaGame(2, (0, 4), 1)]
    results = play_games(a, b, games, n)
    assert results[0].moves[:3] == (0, 4, 1) and results[1].moves[:3] == (1, 4, 0)
    assert results[0].moves[3:] == results[1].moves[3:]
    assert find_replays(results, n) == {1: 0}  # game 2 has A on the other colour


def test_only_deterministic_pairs_are_deduplicated() -> None:
    puct, gumbel = MctsConfig(mode="puct"), MctsConfig(mode="gumbel")
    model = AgentSpec("model", simulations=4)
    assert is_deterministic(model, puct)
    assert not is_deterministic(model, gumbel)
    assert is_deterministic(model, MctsConfig(mode="gumbel", gumbel_scale=0.0))
    assert not is_deterministic(AgentSpec("random"), puct)
    assert not is_deterministic(AgentSpec("mcts", simulations=10), puct)
    cfg = load_config(None, ["game.board_size=4"])
    n = 4
    same = play_games(FirstLegal(n), FirstLegal(n), schedule_games(4, n, 0, seed=0), n)
    # Two random agents that happen to repeat a game made two independent draws.
    assert match_replays(cfg, AgentSpec("random"), AgentSpec("random"), same) == {}
    assert match_replays(cfg, model, model, same) == {2: 0, 3: 1}


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
    four = parse_agent_spec("mcts:50:1.4:4")
    assert (four.uct_c, four.rollouts, four.name) == (1.4, 4, "mcts:50:c1.4:r4")
    assert parse_agent_spec(four.name) == four  # a ladder name reads back as its spec
    assert parse_agent_spec("model:random@8") == AgentSpec("model", simulations=8, path=None)
    f = tmp_path / "gen-0003.zlm"
    f.write_bytes(b"x")
    digest = hashlib.sha256(b"x").hexdigest()[:8]
    spec = parse_agent_spec(f"{f}@64")
    assert (spec.kind, spec.path, spec.simulations) == ("model", str(f), 64)
    assert spec.name == f"gen-0003.{digest}@64"
    for bad in ("mcts:", "mcts:x", "mcts:5:2:0", "mcts:5:2:1:1", "nonsense", "model:a@b"):
        with pytest.raises(AgentSpecError):
            parse_agent_spec(bad)


def test_ladder_names_tell_players_apart(tmp_path: Path) -> None:
    """Names merge no two different players: other rollouts, constant, budget or file contents."""
    cfg = EvalConfig(mcts_rollouts=1)
    from zeroloop.evaluation.arena import resolve_spec

    names = {
        resolve_spec("mcts:200", cfg).name,
        resolve_spec("mcts:200", EvalConfig(mcts_rollouts=4)).name,
        resolve_spec("mcts:200:1.4", cfg).name,
        resolve_spec("mcts:100", cfg).name,
    }
    assert len(names) == 4 and "mcts:200:c2:r1" in names and "mcts:200:c2:r4" in names
    one, two = tmp_path / "a" / "gen-0001.zlm", tmp_path / "b" / "gen-0001.zlm"
    for path, content in ((one, b"weights one"), (two, b"weights two")):
        path.parent.mkdir()
        path.write_bytes(content)
    a, b = resolve_spec(str(one), cfg), resolve_spec(str(two), cfg)
    assert a.name != b.name and a.name.startswith("gen-0001.") and a.name.endswith("@32")
    assert resolve_spec(f"{one}@64", cfg).name != a.name
    # The same file gives the same name, as candidate now and as opponent later.
    assert resolve_spec(str(one), cfg).name == a.name


def test_gating_decision() -> None:
    off = EvalConfig(gating=False)
    point = EvalConfig(gating=True, gating_threshold=0.55, gating_confidence=0.5)
    assert gating_decision(1, 10, off)[0] is True
    assert gating_decision(11, 20, point)[0] is True  # 0.55 reaches 0.55
    assert gating_decision(10, 20, point) == (False, "win rate 0.500 (10/20) < threshold 0.55")
    assert gating_decision(0, 0, point)[0] is True  # nothing to compare against
    bound = EvalConfig(gating=True)  # defaults: 95% lower bound >= 0.5
    assert (bound.gating_confidence, bound.gating_threshold) == (0.95, 0.5)
    # 40 of 64 (0.625) has a one-sided 95% lower bound of 0.522: promoted; 38 of 64
    # (0.594, bound 0.491) is not, though its point estimate clears 0.55.
    promoted, reason = gating_decision(40, 64, bound)
    assert promoted and reason == "win rate 0.625 (40/64), 95% lower bound 0.522 >= threshold 0.5"
    assert gating_decision(38, 64, bound)[0] is False
    assert gating_decision(38, 64, EvalConfig(gating=True, gating_threshold=0.55, gating_confidence=0.5))[0]


def test_equal_strength_candidate_is_rarely_promoted() -> None:
    """Simulated matches of 64 games between equals: the lower-bound rule promotes about 5%.

    The point-estimate rule (0.55, confidence 0.5) promotes the same equals about 19%
    of the time, which this test would catch: it fails for that configuration.
    """
    rng = np.random.default_rng(0)
    trials, games = 20_000, 64
    wins = rng.binomial(games, 0.5, size=trials)

    def rate(config: EvalConfig, outcomes: np.ndarray) -> float:
        return float(np.mean([gating_decision(int(w), games, config)[0] for w in outcomes]))

    lcb = EvalConfig(gating=True)
    point = EvalConfig(gating=True, gating_threshold=0.55, gating_confidence=0.5)
    assert rate(lcb, wins) < 0.065  # exact value 0.052 (docs/evaluation.md)
    assert rate(point, wins) > 0.15  # exact value 0.191
    # And it still promotes a clearly stronger candidate (70% wins) nearly always.
    assert rate(lcb, rng.binomial(games, 0.7, size=2_000)) > 0.9  # exact value 0.954


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
    assert s.games == 6 and s.black_games == s.white_games == 3 and s.replays == 0
    assert s.promoted == (s.gating_bound >= 0.6)
    data = json.loads(out.read_text())
    assert data["win_rate"] == s.win_rate and data["candidate"] == "mcts:40:c2:r1"
    assert len(data["games_played"]) == 6
    first = data["games_played"][0]
    assert first["candidate_color"] == "black" and first["record"].startswith("#3,")
    assert [r["b"] for r in data["references"]] == ["mcts:2:c2:r1"]
    ladder = load_ladder(tmp_path)
    assert {(r.a, r.b) for r in ladder.results} == {
        ("mcts:40:c2:r1", "random"),
        ("mcts:40:c2:r1", "mcts:2:c2:r1"),
    }
    assert {(r.generation, r.stage) for r in ladder.results} == {(1, "evaluate")}
    assert ladder.ratings["random"].elo == 0.0


def test_evaluating_a_generation_twice_leaves_the_ladder_unchanged(tmp_path: Path) -> None:
    """A rerun (--force evaluate, a changed eval key, a kill after the ladder write) counts once."""
    cfg = load_config(None, ["game.board_size=3", "eval.reference_games=4"])

    def evaluate(generation: int, **kwargs) -> dict:
        run_evaluation(cfg, "mcts:8", "mcts:2", tmp_path / f"g{generation}.json", num_games=4,
                       run_dir=tmp_path, generation=generation, **kwargs)  # fmt: skip
        ladder = load_ladder(tmp_path)
        return {n: (r.games, r.elo, r.stderr) for n, r in ladder.ratings.items()}

    first = evaluate(1)
    assert first["mcts:8:c2:r1"][0] == 8  # 4 against mcts:2 and 4 against random
    assert evaluate(1) == first
    assert len(load_ladder(tmp_path).results) == 2
    # Another generation adds its games; an ad hoc match (no generation) is kept apart.
    second = evaluate(2)
    assert second["mcts:8:c2:r1"][0] == 16
    evaluate(0, stage="match:x", references=[])
    assert evaluate(2, references=[]) != second  # gen 2 now has only its main match
    assert load_ladder(tmp_path).ratings["mcts:8:c2:r1"].games == 4 + 8 + 4


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
    # The net searching with PUCT is deterministic: without openings the three games
    # with the candidate as black are one game, and so are the three as white, and the
    # evaluation counts each once (same search, so nothing is compiled again).
    no_openings = load_config(
        None, ["game.board_size=3", "eval.batch_size=4", "eval.opening_plies=0", *TINY_NET]
    )
    s = run_evaluation(no_openings, "model:random@4", "model:random@4", tmp_path / "e.json", num_games=6)
    assert (s.games, s.replays, s.black_games, s.white_games) == (2, 4, 1, 1)
    rows = json.loads((tmp_path / "e.json").read_text())["games_played"]
    assert [r["replay_of"] for r in rows] == [None, None, 0, 1, 0, 1]


def test_arena_worker_without_ray() -> None:
    from zeroloop.workers.arena_actor import ArenaWorker

    cfg = load_config(None, ["game.board_size=3"])
    worker = ArenaWorker(cfg.model_dump(mode="json"), AgentSpec("random"), AgentSpec("mcts", 10), seed=0)
    rows = worker.play(schedule_games(4, 3, 1, 0))
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    assert [r["a_color"] for r in rows] == [0, 1, 0, 1]
    for row in rows:
        assert winner(replay(3, row["moves"])[-1]) == row["winner"]


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
    assert "mcts:30:c2:r1 vs random" in result.stdout and "Elo ladder" in result.stdout
    (out,) = (tmp_path / "eval").glob("match-*.json")
    assert json.loads(out.read_text())["games"] == 4
    # 'random' is both the opponent and the default reference: played once.
    assert len(load_ladder(tmp_path).results) == 1
    bad = CliRunner().invoke(app, ["evaluate", "--candidate", "nonsense", "--set", "game.board_size=3"])
    assert bad.exit_code == 2 and "not an opponent spec" in bad.output
