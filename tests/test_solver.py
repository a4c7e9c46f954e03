"""The exact solver against exhaustive minimax over OpenSpiel's `hex` (nobody here wrote it).

OpenSpiel's cell and player conventions are ours (see tests/test_hex_oracles.py):
action = row * N + col, player 0 moves first and connects top to bottom. The oracle is
a plain memoised negamax over `pyspiel` states; it shares no code with the solver.
Every position reachable in a sample of random games is compared: the winner, and
that the solver's move wins according to the oracle.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pyspiel
import pytest

from zeroloop.games import board as hexboard
from zeroloop.solver import Budget, Solver, position_after, solve
from zeroloop.solver.bitboard import geometry, iter_bits
from zeroloop.solver.vc import hsearch


@functools.cache
def _game(n: int):
    return pyspiel.load_game("hex", {"board_size": n})


class Oracle:
    """Memoised negamax over OpenSpiel states: does the player to move win?"""

    def __init__(self, n: int) -> None:
        self.game = _game(n)
        self.memo: dict[str, bool] = {}

    def state(self, moves: list[int]):
        s = self.game.new_initial_state()
        for m in moves:
            s.apply_action(m)
        return s

    def mover_wins(self, state) -> bool:
        key = str(state)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        result = False
        for a in state.legal_actions():
            child = state.child(a)
            if child.is_terminal() or not self.mover_wins(child):
                result = True
                break
        self.memo[key] = result
        return result


def random_positions(n: int, games: int, seed: int) -> list[tuple[int, ...]]:
    """Every non-terminal move prefix of `games` uniformly random games (deduplicated)."""
    rng = np.random.default_rng(seed)
    game = _game(n)
    seen: set[tuple[int, ...]] = set()
    for _ in range(games):
        s = game.new_initial_state()
        moves: list[int] = []
        while not s.is_terminal():
            seen.add(tuple(moves))
            a = int(rng.choice(s.legal_actions()))
            s.apply_action(a)
            moves.append(a)
    return sorted(seen, key=lambda m: (len(m), m))


def check_against_oracle(n: int, positions: list[tuple[int, ...]]) -> int:
    oracle = Oracle(n)
    solver = Solver(n)
    for moves in positions:
        board, to_play = position_after(n, list(moves))
        got = solver.solve(board, to_play, Budget(nodes=None))
        state = oracle.state(list(moves))
        assert state.current_player() == to_play
        mover_wins = oracle.mover_wins(state)
        expected = to_play if mover_wins else 1 - to_play
        assert got.winner == expected, f"{moves}: solver says {got.winner}, minimax {expected}"
        if mover_wins:
            assert got.move is not None and got.move in state.legal_actions(), moves
            child = state.child(got.move)
            assert child.is_terminal() or not oracle.mover_wins(child), f"{moves}: {got.move} does not win"
        else:
            assert got.move is None
    return len(positions)


def test_3x3_every_position_of_1000_random_games() -> None:
    positions = random_positions(3, 1000, seed=0)
    assert check_against_oracle(3, positions) > 500


def test_4x4_positions_of_random_games_subset() -> None:
    # From move 6 on: the oracle's plain minimax of earlier positions takes minutes
    # (the slow test below covers them).
    positions = [m for m in random_positions(4, 60, seed=1) if len(m) >= 6]
    assert check_against_oracle(4, positions) > 200


@pytest.mark.slow
def test_4x4_every_position_of_1000_random_games() -> None:
    positions = random_positions(4, 1000, seed=2)
    assert check_against_oracle(4, positions) > 5000


def test_4x4_winning_openings_are_the_short_diagonal() -> None:
    """Known: on 4x4 the first player wins exactly with the four short-diagonal cells."""
    winners = []
    for cell in range(16):
        board, to_play = position_after(4, [cell])
        winners.append(solve(board, to_play).winner)
    assert [c for c in range(16) if winners[c] == 0] == [3, 6, 9, 12]


def test_unknown_when_budget_runs_out_never_wrong() -> None:
    board, to_play = position_after(5, [9])  # e2: not provable in a few nodes (306)
    tight = Solver(5).solve(board, to_play, Budget(nodes=5))
    assert tight.winner is None and tight.move is None and not tight.known
    # After an interrupted search the table still holds only proven results:
    # the same solver then gives the exact answer.
    oracle_positions = random_positions(4, 20, seed=3)
    solver = Solver(4)
    oracle = Oracle(4)
    for moves in oracle_positions:
        board, to_play = position_after(4, list(moves))
        for limit in (1, 3, 10):
            r = solver.solve(board, to_play, Budget(nodes=limit))
            if r.known:
                mover_wins = oracle.mover_wins(oracle.state(list(moves)))
                assert r.winner == (to_play if mover_wins else 1 - to_play)
    timed = Solver(7).solve(np.zeros((7, 7), np.int8), 0, Budget(nodes=None, seconds=0.2))
    assert timed.winner is None


def test_finished_position_and_bad_input() -> None:
    board = hexboard.replay(3, [0, 1, 3, 4, 6])[-1]  # black a1 a2 a3: connected
    r = solve(board, 1)
    assert r.winner == 0 and r.move is None
    with pytest.raises(ValueError, match="to_play"):
        solve(np.zeros((3, 3), np.int8), 2)


def test_policy_changes_order_not_answer() -> None:
    board, to_play = position_after(4, [5])
    plain = solve(board, to_play)
    rng = np.random.default_rng(0)
    for _ in range(3):
        r = solve(board, to_play, policy=rng.random(17))
        assert r.winner == plain.winner


def _connects_within(n: int, player: int, own: set[int], carrier: set[int], player_first: bool) -> bool:
    """Brute force: with only `carrier` empty (every other free cell the opponent's),
    does `player` (stones `own`) join its edges? Shares no code with the solver."""

    def joined(mine: frozenset) -> bool:
        line = (lambda i: i // n) if player == 0 else (lambda i: i % n)
        stack = [i for i in mine if line(i) == 0]
        seen = set(stack)
        while stack:
            i = stack.pop()
            if line(i) == n - 1:
                return True
            r, c = divmod(i, n)
            for rr, cc in ((r - 1, c), (r - 1, c + 1), (r, c - 1), (r, c + 1), (r + 1, c - 1), (r + 1, c)):
                j = rr * n + cc
                if 0 <= rr < n and 0 <= cc < n and j in mine and j not in seen:
                    seen.add(j)
                    stack.append(j)
        return False

    @functools.cache
    def wins(mine: frozenset, theirs: frozenset, to_move: bool) -> bool:
        if joined(mine):
            return True
        free = carrier - mine - theirs
        if not free:
            return False
        if to_move:
            return any(wins(mine | {x}, theirs, False) for x in free)
        return all(wins(mine, theirs | {x}, True) for x in free)

    return wins(frozenset(own), frozenset(), player_first)


def test_hsearch_edge_connections_hold_by_brute_force() -> None:
    """Every full edge-to-edge connection H-search reports wins with the opponent to
    move, and every semi wins by its key, using only the carrier's cells."""
    n = 5
    geo = geometry(n)
    rng = np.random.default_rng(4)
    fulls = semis = 0
    for _ in range(400):
        empties = int(rng.integers(8, 15))
        stones = rng.permutation(n * n)[: n * n - empties]
        black = sum(1 << int(c) for c in stones[0::2])
        white = sum(1 << int(c) for c in stones[1::2])
        if geo.connected(black, 0) or geo.connected(white, 1):
            continue
        empty = geo.full & ~(black | white)
        for player, own in ((0, black), (1, white)):
            found = hsearch(geo, own, empty, player)
            stones_of = set(iter_bits(own))
            if found.full is not None and found.full.bit_count() <= 10:
                assert _connects_within(n, player, stones_of, set(iter_bits(found.full)), False)
                fulls += 1
            for carrier, key in found.semis:
                assert carrier >> key & 1 and carrier & ~empty == 0
                if carrier.bit_count() <= 10:
                    rest = set(iter_bits(carrier)) - {key}
                    assert _connects_within(n, player, stones_of | {key}, rest, False)
                    semis += 1
    assert fulls > 20 and semis > 50


def test_5x5_centre_opening_is_a_black_win() -> None:
    board, to_play = position_after(5, [12])
    r = solve(board, to_play, Budget(nodes=10_000))
    assert r.winner == 0


# 5x5 one-move openings: c3 the centre (a first-player win, as HexWiki "Small boards"
# and Queenbee's opening table state), a1 and e1 the corners, a3 an edge cell, b2 a
# winning and e4 a losing non-centre opening. Winner (0 black = the opener, 1 white)
# as proven by the solver and consistent under the 180-degree rotation (docs/solver.md).
@pytest.mark.parametrize(("cell", "winner"), [(12, 0), (0, 1), (4, 0), (10, 1), (6, 0), (19, 1)])
def test_5x5_one_move_openings_are_solved_within_a_node_budget(cell: int, winner: int) -> None:
    board, to_play = position_after(5, [cell])
    r = Solver(5).solve(board, to_play, Budget(nodes=5_000))
    assert r.winner == winner, cell
    if winner == 1:
        # White's reply wins: after it, black to move loses (an independent solve).
        assert r.move is not None and board.reshape(-1)[r.move] == 0
        after, _ = position_after(5, [cell, r.move])
        assert Solver(5).solve(after, 0, Budget(nodes=5_000)).winner == 1
    else:
        assert r.move is None


def _solve_openings_script():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "solve_openings.py"
    spec = importlib.util.spec_from_file_location("solve_openings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_solve_openings_benchmark_prints_every_opening(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _solve_openings_script()
    assert bench.main(["--size", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:-1]]
    assert [r[0] for r in rows] == [f"{c}{r}" for r in range(1, 5) for c in "abcd"]
    assert [r[0] for r in rows if r[1] == "black"] == ["d1", "c2", "b3", "a4"]
    assert lines[-1].startswith("solved 16 of 16")
    # Random positions: the requested count, none decided by a one-node solve.
    assert bench.main(["--size", "5", "--random", "12", "--count", "3", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(int(line.split()[3]) > 1 for line in lines[1:-1])
