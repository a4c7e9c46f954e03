"""Matches: two agents play lock-stepped games with alternated colours and varied openings.

Fairness comes from two habits:

* colours alternate: games come in pairs that share an opening, agent A playing
  black in the first and white in the second, so neither agent profits from the
  first-move advantage (large in Hex) or from a lucky opening;
* openings vary: each pair starts from `opening_plies` random stones (distinct
  openings while there are enough of them), so two deterministic agents do not play
  the same game over and over.

All games of a batch advance together: each round, the positions where A is to move
go to A in one `choose_moves` call and the others to B. A model agent answers a
whole batch with one jitted search, so a match costs about as many searches as the
longest game has moves, not as many as all games together.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from zeroloop.evaluation.agents import Agent, legal_moves
from zeroloop.games.board import winner as board_winner

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ArenaGame:
    """One scheduled game: `a_color` 0 means agent A plays black (moves first)."""

    index: int
    opening: tuple[int, ...]
    a_color: int


@dataclass(frozen=True)
class GameResult:
    """A finished game. moves: board frame, opening included; winner: 0 black, 1 white."""

    index: int
    a_color: int
    opening_plies: int
    moves: tuple[int, ...]
    winner: int

    @property
    def a_won(self) -> bool:
        return self.winner == self.a_color

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["moves"] = list(self.moves)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> GameResult:
        return cls(
            index=int(d["index"]),  # type: ignore[arg-type]
            a_color=int(d["a_color"]),  # type: ignore[arg-type]
            opening_plies=int(d["opening_plies"]),  # type: ignore[arg-type]
            moves=tuple(int(m) for m in d["moves"]),  # type: ignore[union-attr]
            winner=int(d["winner"]),  # type: ignore[arg-type]
        )


def make_openings(count: int, board_size: int, plies: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """`count` openings of `plies` random cells (board frame), distinct while possible.

    When the board has fewer distinct openings than asked for, all of them are used
    (in random order) and then repeated. No opening ends the game (only possible on
    tiny boards), and openings never contain the swap.
    """
    if plies == 0:
        return [()] * count
    cells = board_size * board_size
    total = math.perm(cells, plies)
    if total <= 50_000:
        pool = [o for o in itertools.permutations(range(cells), plies) if not _decided(o, board_size)]
        order = rng.permutation(len(pool))
        return [pool[order[i % len(pool)]] for i in range(count)]
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, ...]] = []
    while len(out) < count:
        opening = tuple(int(c) for c in rng.choice(cells, size=plies, replace=False))
        if opening in seen or _decided(opening, board_size):
            continue
        seen.add(opening)
        out.append(opening)
    return out


def _decided(moves: Sequence[int], board_size: int) -> bool:
    board = np.zeros(board_size * board_size, np.int8)
    for ply, m in enumerate(moves):
        board[m] = 1 if ply % 2 == 0 else -1
    return board_winner(board.reshape(board_size, board_size)) is not None


def schedule_games(num_games: int, board_size: int, opening_plies: int, seed: int) -> list[ArenaGame]:
    """Games 2k and 2k+1 share opening k; A is black in 2k and white in 2k+1.

    An odd last game gives A black. Colour counts differ by at most one.
    """
    rng = np.random.default_rng(seed)
    openings = make_openings((num_games + 1) // 2, board_size, opening_plies, rng)
    return [ArenaGame(index=i, opening=openings[i // 2], a_color=i % 2) for i in range(num_games)]


def _to_play(moves: Sequence[int], swap_action: int) -> int:
    # Players alternate, except that black moves again after a swap.
    to_play = 0
    for m in moves:
        to_play = 0 if m == swap_action else 1 - to_play
    return to_play


def play_games(
    agent_a: Agent,
    agent_b: Agent,
    games: Sequence[ArenaGame],
    board_size: int,
    swap: bool = False,
    progress: Progress | None = None,
) -> list[GameResult]:
    """Play `games` between A and B in lock-step; results in the order of `games`.

    Every move an agent returns is checked against the rules: an illegal move is a
    bug in that agent, so it raises instead of being quietly replaced.
    """
    from zeroloop.games.board import replay

    swap_action = board_size * board_size
    moves: list[list[int]] = [list(g.opening) for g in games]
    boards = [replay(board_size, m, swap=swap)[-1] for m in moves]
    winners: list[int | None] = [board_winner(b) for b in boards]
    done = sum(w is not None for w in winners)
    if progress:
        progress(done, len(games))
    while done < len(games):
        for agent, is_a in ((agent_a, True), (agent_b, False)):
            live = [
                i
                for i, g in enumerate(games)
                if winners[i] is None and (_to_play(moves[i], swap_action) == g.a_color) == is_a
            ]
            if not live:
                continue
            chosen = agent.choose_moves([moves[i] for i in live])
            for i, move in zip(live, chosen, strict=True):
                move = int(move)
                if move not in legal_moves(moves[i], board_size, swap):
                    raise RuntimeError(f"agent {agent.name} chose illegal move {move} after {moves[i]}")
                moves[i].append(move)
                boards[i] = replay(board_size, moves[i], swap=swap, check_end=False)[-1]
                winners[i] = board_winner(boards[i])
                if winners[i] is not None:
                    done += 1
                    if progress:
                        progress(done, len(games))
    return [
        GameResult(
            index=g.index,
            a_color=g.a_color,
            opening_plies=len(g.opening),
            moves=tuple(moves[i]),
            winner=int(winners[i]),  # type: ignore[arg-type]
        )
        for i, g in enumerate(games)
    ]
