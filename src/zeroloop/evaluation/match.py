"""Matches: two agents play lock-stepped games with alternated colours and varied openings.

Fairness comes from two habits:

* colours alternate: games come in pairs that share an opening, agent A playing
  black in the first and white in the second, so neither agent profits from the
  first-move advantage (large in Hex) or from a lucky opening;
* openings vary: each pair starts from its own random opening, drawn without
  replacement, so two deterministic agents do not play the same game over and over.
  When the board has fewer openings of `opening_plies` stones than the match has
  pairs (25 one-stone openings at 5x5 for the 32 pairs of 64 games), the openings
  are extended by a ply, and again, until there are enough (600 two-stone openings
  at 5x5).

Games that still replay an earlier one (two deterministic agents that reach the same
position with the same agent to move play the same continuation) are found by
`find_replays`, so the statistics can count them once.

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
from zeroloop.games.board import mover_at
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


_ENUMERATE_LIMIT = 50_000  # openings pools up to this size are listed; larger ones sampled


def _opening_pool(board_size: int, plies: int) -> list[tuple[int, ...]] | None:
    """Every undecided opening of `plies` stones, or None when there are too many to list."""
    cells = board_size * board_size
    if math.perm(cells, plies) > _ENUMERATE_LIMIT:
        return None
    pool = list(itertools.permutations(range(cells), plies))
    # A win needs N stones of one colour, so shorter openings need no check.
    return pool if plies < board_size else [o for o in pool if not _decided(o, board_size)]


def opening_plies_for(count: int, board_size: int, plies: int) -> int:
    """The fewest plies >= `plies` that give at least `count` distinct undecided openings.

    `plies = 0` stays 0 (no openings asked for). On boards too small to have `count`
    openings at any length, the longest length tried (all cells but one) is returned.
    """
    if plies == 0:
        return 0
    cells = board_size * board_size
    p = plies
    while p < cells - 1:
        pool = _opening_pool(board_size, p)
        if pool is None or len(pool) >= count:
            return p
        p += 1
    return p


def make_openings(count: int, board_size: int, plies: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """`count` distinct openings (board frame) of `opening_plies_for(count, ...)` random cells.

    Drawn without replacement: no two are equal while the board has `count` openings of
    some length; only a board too small for that (e.g. 2x2) uses all it has and then
    repeats them. No opening ends the game, and openings never contain the swap.
    """
    plies = opening_plies_for(count, board_size, plies)
    if plies == 0:
        return [()] * count
    cells = board_size * board_size
    pool = _opening_pool(board_size, plies)
    if pool is not None:
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
        board[m] = 1 if mover_at(ply) == 0 else -1
    return board_winner(board.reshape(board_size, board_size)) is not None


def schedule_games(num_games: int, board_size: int, opening_plies: int, seed: int) -> list[ArenaGame]:
    """Games 2k and 2k+1 share opening k; A is black in 2k and white in 2k+1.

    An odd last game gives A black. Colour counts differ by at most one.
    """
    rng = np.random.default_rng(seed)
    openings = make_openings((num_games + 1) // 2, board_size, opening_plies, rng)
    return [ArenaGame(index=i, opening=openings[i // 2], a_color=i % 2) for i in range(num_games)]


def find_replays(results: Sequence[GameResult], board_size: int, swap: bool = False) -> dict[int, int]:
    """Games that replay an earlier one: {index of the replay: index of the first game}.

    Game g replays game f (earlier in `results`) when, after both openings, g reaches a
    position f went through, with the same agent to move (same `a_color`, same ply),
    and every move from there on is the same in both. Between deterministic agents
    that is what always happens once two games meet, and the two outcomes are one
    observation, not two. Final positions do not count (nothing is left to play), and
    a position is only compared with games that are not replays themselves, so a chain
    of replays points at its first game.
    """
    from zeroloop.games.board import replay

    first_seen: dict[tuple[int, int, bytes], tuple[int, int]] = {}  # -> (position in results, ply)
    replays: dict[int, int] = {}
    for k, r in enumerate(results):
        boards = replay(board_size, r.moves, swap=swap, check_end=False)
        keys = [(r.a_color, t, boards[t].tobytes()) for t in range(r.opening_plies, len(r.moves))]
        for t, key in zip(range(r.opening_plies, len(r.moves)), keys, strict=True):
            hit = first_seen.get(key)
            if hit is not None and results[hit[0]].moves[hit[1] :] == r.moves[t:]:
                replays[r.index] = results[hit[0]].index
                break
        else:
            for t, key in zip(range(r.opening_plies, len(r.moves)), keys, strict=True):
                first_seen.setdefault(key, (k, t))
    return replays


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
                if winners[i] is None and (mover_at(len(moves[i])) == g.a_color) == is_a
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
