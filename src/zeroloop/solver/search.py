"""Exact Hex solver: depth-first proof-number search over H-search's must-play moves.

`solve(board, to_play)` answers "does the side to move win with perfect play, and
with which move?". The search is exact: every pruning rule below is a theorem, not a
heuristic, and a result is only ever stored or returned once proven. When the node
or time budget runs out the answer is `winner=None` ("unknown"), never a guess.

Evaluating a position (mover M, opponent O; one "node" of the budget):
1. M has a cell that connects at once: win.
2. O has two or more such cells: loss (M can block one).
3. H-search (`vc.hsearch`) finds M a semi or full connection between its edges:
   win (play the semi's key; with a full one any move wins).
4. H-search finds O a full connection: loss (it survives any M move).
5. Must-play: M's candidate moves are the intersection of the carriers of O's semi
   connections (O wins by its key unless M plays inside the carrier), and O's
   one-move win when it has one; empty means loss.
Otherwise the position is open, with those candidates as its moves.

The search over open positions is df-pn (Nagai's depth-first proof-number search,
negamax form, with the 1 + epsilon trick): a position's proof number is the smallest
disproof number of its children, its disproof number the sum of their proof numbers;
a new position starts at (1, its number of candidates). Proven positions go into a
transposition table (also looked up under the 180-degree rotation); the proof and
disproof numbers of open ones are only a search order and are never read as results.
A policy (a network's, or centre first) breaks ties between equally promising moves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zeroloop.games import board as hexboard
from zeroloop.solver.bitboard import Geometry, geometry, iter_bits
from zeroloop.solver.vc import hsearch


@dataclass(frozen=True)
class Budget:
    """Limits of one solve: `nodes` searched positions, `seconds` wall time (None = no limit)."""

    nodes: int | None = 1_000_000
    seconds: float | None = None


@dataclass(frozen=True)
class SolveResult:
    """What the solver proved about one position.

    winner:  0 black (the first player), 1 white, None unknown (budget ran out).
    to_play: the side to move, 0 or 1.
    move:    a winning cell (row * N + col) when the side to move wins, else None.
    nodes:   positions searched. seconds: wall time.
    """

    winner: int | None
    to_play: int
    move: int | None
    nodes: int
    seconds: float

    @property
    def known(self) -> bool:
        """True when the result is proven."""
        return self.winner is not None


class _OutOfBudget(Exception):
    pass


_INF = 1 << 40  # a proof or disproof number that can never be reached


class Solver:
    """Solves positions of one board size; keeps its transposition table between calls.

    The table holds only proven results, so reusing it across positions (for example
    along one game) is exact and saves work.
    """

    def __init__(self, board_size: int, max_table: int = 2_000_000) -> None:
        self.geo: Geometry = geometry(board_size)
        self.n = board_size
        self.max_table = max_table
        # (black mask, white mask, to_play) -> winning move (>= 0) or -1 for a loss.
        self.table: dict[tuple[int, int, int], int] = {}
        self._nodes = 0
        self._node_limit: int | None = None
        self._deadline: float | None = None
        self._order_rank: list[float] = []
        self.cells = board_size * board_size
        # Unproven positions: must-play candidate mask, and (proof, disproof) numbers.
        self._moves: dict[tuple[int, int, int], int] = {}
        self._numbers: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._bits_format = f"0{self.cells}b"

    def _rotate(self, mask: int) -> int:
        """The mask rotated by 180 degrees: cell i -> N*N-1-i (a bit reversal)."""
        return int(format(mask, self._bits_format)[::-1], 2)

    # ---- public --------------------------------------------------------------------

    def solve(
        self,
        board: np.ndarray,
        to_play: int,
        budget: Budget | None = None,
        policy: np.ndarray | None = None,
    ) -> SolveResult:
        """Winner and a winning move of `board` with `to_play` to move.

        board: int8 [N, N] board frame, +1 black, -1 white, 0 empty.
        policy: optional float [N*N] (or [N*N+1], swap ignored) board-frame move
            preferences of the side to move; it changes the search order, not the answer.
        A position where somebody has already connected is answered without search
        (move None).
        """
        board = np.asarray(board)
        if board.shape != (self.n, self.n):
            raise ValueError(f"board must be [{self.n}, {self.n}], got {list(board.shape)}")
        if to_play not in (0, 1):
            raise ValueError(f"to_play must be 0 or 1, got {to_play}")
        flat = board.reshape(-1)
        black = sum(1 << int(i) for i in np.flatnonzero(flat == 1))
        white = sum(1 << int(i) for i in np.flatnonzero(flat == -1))
        return self.solve_masks(black, white, to_play, budget, policy)

    def solve_masks(
        self,
        black: int,
        white: int,
        to_play: int,
        budget: Budget | None = None,
        policy: np.ndarray | None = None,
    ) -> SolveResult:
        """`solve` on bitboards (bit i = cell i)."""
        budget = budget or Budget()
        start = time.perf_counter()
        self._nodes = 0
        self._node_limit = budget.nodes
        self._deadline = None if budget.seconds is None else start + budget.seconds
        self._set_order(policy)
        geo = self.geo
        for player, own in ((0, black), (1, white)):
            if geo.connected(own, player):
                return SolveResult(player, to_play, None, 0, time.perf_counter() - start)
        if len(self.table) > self.max_table:
            self.table.clear()
        try:
            move = self._search(black, white, to_play)
        except _OutOfBudget:
            return SolveResult(None, to_play, None, self._nodes, time.perf_counter() - start)
        winner = to_play if move >= 0 else 1 - to_play
        return SolveResult(
            winner, to_play, move if move >= 0 else None, self._nodes, time.perf_counter() - start
        )

    # ---- search --------------------------------------------------------------------

    def _set_order(self, policy: np.ndarray | None) -> None:
        cells = self.n * self.n
        if policy is None:
            rank = [0.0] * cells
            for pos, cell in enumerate(self.geo.centre_order):
                rank[cell] = float(pos)
        else:
            p = np.asarray(policy, dtype=np.float64).reshape(-1)[:cells]
            rank = (-p).tolist()
        self._order_rank = rank

    def _tick(self) -> None:
        self._nodes += 1
        if self._node_limit is not None and self._nodes > self._node_limit:
            raise _OutOfBudget
        if self._deadline is not None and time.perf_counter() > self._deadline:
            raise _OutOfBudget

    def _lookup(self, black: int, white: int, to_play: int) -> int | None:
        """The table's proven value of a position or of its 180-degree rotation."""
        hit = self.table.get((black, white, to_play))
        if hit is not None:
            return hit
        # The rotation maps each player's edges onto themselves, so the rotated
        # position has the same value (and the rotated winning move).
        hit = self.table.get((self._rotate(black), self._rotate(white), to_play))
        if hit is not None:
            return hit if hit < 0 else self.cells - 1 - hit
        return None

    def _evaluate(self, black: int, white: int, to_play: int) -> int | None:
        """Rules 1-5 at one position: the proven value (stored), or None with the
        must-play candidates left in `self._moves`. Counts as one node."""
        key = (black, white, to_play)
        hit = self._lookup(black, white, to_play)
        if hit is not None:
            return hit
        if key in self._moves:
            return None
        self._tick()
        geo = self.geo
        empty = geo.full & ~(black | white)
        own, opp = (black, white) if to_play == 0 else (white, black)
        other = 1 - to_play
        wins = geo.winning_cells(own, empty, to_play)
        if wins:
            return self._store(key, (wins & -wins).bit_length() - 1)
        threats = geo.winning_cells(opp, empty, other)
        if threats & (threats - 1):  # two or more: only one can be blocked
            return self._store(key, -1)
        mine = hsearch(geo, own, empty, to_play, stop_at_semi=True)
        if mine.full is not None:
            # Any move keeps a full connection (an extra stone never hurts).
            cells = mine.full or empty
            return self._store(key, (cells & -cells).bit_length() - 1)
        if mine.semis:
            return self._store(key, mine.semis[0][1])
        theirs = hsearch(geo, opp, empty, other)
        if theirs.full is not None:
            return self._store(key, -1)
        candidates = theirs.must_play(empty)
        if threats:
            candidates &= threats
        if not candidates:
            return self._store(key, -1)
        if len(self._moves) > self.max_table:
            self._moves.clear()
            self._numbers.clear()
        self._moves[key] = candidates
        return None

    def _children(self, black: int, white: int, to_play: int) -> list[tuple[int, tuple[int, int, int]]]:
        """(move, child key) of each must-play candidate, in policy / centre order."""
        rank = self._order_rank
        out = []
        for m in sorted(iter_bits(self._moves[(black, white, to_play)]), key=rank.__getitem__):
            bit = 1 << m
            out.append((m, (black | bit, white, 1) if to_play == 0 else (black, white | bit, 0)))
        return out

    def _numbers_of(self, key: tuple[int, int, int]) -> tuple[int, int]:
        """(proof, disproof) number of a position for its mover; evaluates a new one."""
        value = self._evaluate(*key)
        if value is not None:
            return (0, _INF) if value >= 0 else (_INF, 0)
        hit = self._numbers.get(key)
        if hit is not None:
            return hit
        # Unexpanded: one proof step, and as many disproof steps as the mover has moves.
        return 1, self._moves[key].bit_count()

    def _search(self, black: int, white: int, to_play: int) -> int:
        """A winning move for `to_play` (>= 0), or -1 when `to_play` loses. Exact."""
        self._mid((black, white, to_play), _INF, _INF)
        value = self._lookup(black, white, to_play)
        assert value is not None  # _mid with infinite thresholds returns only on a proof
        return value

    def _mid(self, key: tuple[int, int, int], proof_limit: int, disproof_limit: int) -> None:
        """Depth-first proof-number search (negamax form) below `key` until its proof
        number reaches `proof_limit`, its disproof number `disproof_limit`, or it is proven.

        proof = min over children of their disproof numbers; disproof = sum of their
        proof numbers. A proven position goes into `self.table`, an unproven one's
        numbers into `self._numbers` (heuristic, never read as a result).
        """
        if self._evaluate(*key) is not None:
            return
        children = self._children(*key)
        while True:
            best = key
            best_proof = 0
            d1 = d2 = _INF
            total = 0
            for m, child in children:
                p, d = self._numbers_of(child)
                if d == 0:  # the child's mover loses: m wins
                    self._store(key, m)
                    self._numbers.pop(key, None)
                    return
                total += p
                if d < d1:
                    d2, d1, best, best_proof = d1, d, child, p
                elif d < d2:
                    d2 = d
            if total == 0:  # every child is a win for the opponent
                self._store(key, -1)
                self._numbers.pop(key, None)
                return
            if d1 >= proof_limit or total >= disproof_limit:
                self._numbers[key] = (d1, total)
                return
            # The 1 + epsilon trick (Pawlewicz and Lew): a slightly wider threshold on
            # the best child cuts the switching between two close siblings.
            self._mid(
                best,
                min(_INF, disproof_limit - total + best_proof),
                min(proof_limit, d2 + d2 // 4 + 1),
            )

    def _store(self, key: tuple[int, int, int], value: int) -> int:
        self.table[key] = value
        return value


def solve(
    board: np.ndarray,
    to_play: int,
    budget: Budget | None = None,
    policy: np.ndarray | None = None,
) -> SolveResult:
    """One-shot `Solver(N).solve(...)`; see `Solver.solve`."""
    return Solver(np.asarray(board).shape[0]).solve(board, to_play, budget, policy)


def position_after(board_size: int, moves: Sequence[int], swap: bool = False) -> tuple[np.ndarray, int]:
    """(board int8 [N, N], side to move) after `moves` (board-frame actions, N*N = swap).

    Raises `zeroloop.games.board.IllegalMoveError` for an illegal move list.
    """
    boards = hexboard.replay(board_size, moves, swap=swap)
    return boards[-1], hexboard.mover_at(len(moves))
