"""The exact solver against exhaustive minimax over OpenSpiel's `hex` (nobody here wrote it).

OpenSpiel's cell and player conventions are ours (see tests/test_hex_oracles.py):
action = row * N + col, player 0 moves first and connects top to bottom. The oracle is
a plain memoised negamax over `pyspiel` states; it shares no code with the solver.
Every position reachable in a sample of random games is compared: the winner, and
that the solver's move wins according to the oracle.
"""

from __future__ import annotations

import functools

import numpy as np
import pyspiel
import pytest

from zeroloop.games import board as hexboard
from zeroloop.solver import Budget, Solver, position_after, solve


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
    board, to_play = position_after(5, [6])  # b2: not provable in a few nodes
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


def _local_vc(stone: tuple[int, int], carrier: set[tuple[int, int]]) -> bool:
    """Brute force: with only `carrier` empty and the opponent to move, does `stone`
    always reach row 0 (black, top edge)? Playing outside the carrier only gives
    the owner a free move, so this is the whole question."""

    def nbrs(r: int, c: int):
        return [(r - 1, c), (r - 1, c + 1), (r, c - 1), (r, c + 1), (r + 1, c - 1), (r + 1, c)]

    def joined(mine: frozenset) -> bool:
        seen, stack = {stone}, [stone]
        while stack:
            x = stack.pop()
            if x[0] == 0:
                return True
            for y in nbrs(*x):
                if y in mine and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    @functools.cache
    def owner_wins(mine: frozenset, theirs: frozenset, owner_to_move: bool) -> bool:
        if joined(mine):
            return True
        free = [x for x in carrier if x not in mine and x not in theirs]
        if not free:
            return False
        if owner_to_move:
            return any(owner_wins(mine | {x}, theirs, False) for x in free)
        return all(owner_wins(mine, theirs | {x}, True) for x in free)

    return owner_wins(frozenset(), frozenset(), False)


def test_edge_templates_are_minimal_second_player_connections() -> None:
    from zeroloop.solver.bitboard import EDGE_TEMPLATES

    for offsets in EDGE_TEMPLATES:
        depth = max(-dr for dr, _ in offsets)
        stone = (depth, 4)
        carrier = {(depth + dr, 4 + dc) for dr, dc in offsets}
        assert _local_vc(stone, carrier), offsets
        for cell in carrier:
            assert not _local_vc(stone, carrier - {cell}), (offsets, cell)


def test_5x5_centre_opening_is_a_black_win() -> None:
    board, to_play = position_after(5, [12])
    r = solve(board, to_play, Budget(nodes=10_000))
    assert r.winner == 0
