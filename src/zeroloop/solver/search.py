"""Exact Hex solver: boolean negamax with a transposition table and must-play pruning.

`solve(board, to_play)` answers "does the side to move win with perfect play, and
with which move?". The search is exact: every pruning rule below is a theorem, not a
heuristic, and a result is only ever stored or returned once proven. When the node
or time budget runs out the answer is `winner=None` ("unknown"), never a guess.

At each node (mover M, opponent O):
1. M has a cell that connects at once: win.
2. O has two or more such cells: loss (M can block one). One: M must play it.
3. M already has a chain of disjoint-carrier bridges and edge templates
   (`bitboard.chain`): win, playing a carrier cell.
4. O has such a chain: loss (it survives any M move).
5. Must-play region: for each empty cell m, if O playing m gives O a chain with
   carrier C, M must play in C + {m} (otherwise O plays m and wins). M's candidate
   moves are the intersection over all such m; empty means loss.
6. Otherwise try the candidates in order (network policy when given, else
   centre first) and recurse; a proven result goes into the table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zeroloop.games import board as hexboard
from zeroloop.solver.bitboard import Geometry, geometry, iter_bits
from zeroloop.solver.bitboard import chain as _chain_search


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
        self._chains: dict[tuple[int, int, int], tuple[bool, int]] = {}
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

    def _chain(self, own: int, empty: int, player: int) -> tuple[bool, int, int, int]:
        """`bitboard.chain` grown from each edge: (connected, carrier, reach A, reach B).

        Memoised: sibling nodes ask about the same stones again.
        """
        key = (own, empty, player)
        hit = self._chains.get(key)
        if hit is None:
            if len(self._chains) > self.max_table:
                self._chains.clear()
            ok, carrier, reach_a = _chain_search(self.geo, own, empty, player)
            reach_b = 0
            if not ok:
                ok, carrier, reach_b = _chain_search(self.geo, own, empty, player, reverse=True)
            hit = self._chains[key] = (ok, carrier, reach_a, reach_b)
        return hit

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

    def _quick(self, black: int, white: int, to_play: int) -> int | None:
        """Rules 1-4 of the module docstring (cheap): a proven value, or None."""
        geo = self.geo
        empty = geo.full & ~(black | white)
        own, opp = (black, white) if to_play == 0 else (white, black)
        wins = geo.winning_cells(own, empty, to_play)
        if wins:
            return (wins & -wins).bit_length() - 1
        threats = geo.winning_cells(opp, empty, 1 - to_play)
        if threats & (threats - 1):  # two or more: only one can be blocked
            return -1
        if threats:
            return None
        ok, carrier, _, _ = self._chain(own, empty, to_play)
        if ok:
            # Filling a carrier cell keeps every link of the chain.
            return (carrier & -carrier).bit_length() - 1
        return -1 if self._chain(opp, empty, 1 - to_play)[0] else None

    def _search(self, black: int, white: int, to_play: int) -> int:
        """A winning move for `to_play` (>= 0), or -1 when `to_play` loses. Exact."""
        hit = self._lookup(black, white, to_play)
        if hit is not None:
            return hit
        key = (black, white, to_play)
        self._tick()
        quick = self._quick(black, white, to_play)
        if quick is not None:
            return self._store(key, quick)
        geo = self.geo
        empty = geo.full & ~(black | white)
        opp = white if to_play == 0 else black
        other = 1 - to_play
        threats = geo.winning_cells(opp, empty, other)
        # Must-play region (rule 5); `blocks` counts, per cell, the threats it is in:
        # cells that stop many of the opponent's threats are tried first.
        candidates = threats or empty
        blocks = [0] * self.cells
        if not threats:
            # Only a cell linked (within two steps) to what the opponent already
            # reaches from both edges can complete a chain. Skipping a cell only
            # weakens the pruning, never its exactness.
            _, _, reach_a, reach_b = self._chain(opp, empty, other)
            first, second = geo.edges[other]
            dilate = geo.dilate
            near = dilate(dilate(reach_a | first)) & dilate(dilate(reach_b | second))
            for m in iter_bits(empty & near):
                ok, carrier, _, _ = self._chain(opp | (1 << m), empty & ~(1 << m), other)
                if ok:
                    region = carrier | (1 << m)
                    candidates &= region
                    if not candidates:
                        return self._store(key, -1)
                    for c in iter_bits(region):
                        blocks[c] += 1

        children = []
        for m in iter_bits(candidates):
            bit = 1 << m
            child = (black | bit, white, 1) if to_play == 0 else (black, white | bit, 0)
            # Look one ply ahead cheaply before searching any child deeply: a child
            # already proven (or decided by rules 1-4) settles this node at once.
            value = self._lookup(*child)
            if value is None:
                value = self._quick(*child)
                if value is not None:
                    self.table[child] = value
            if value is not None:
                if value < 0:
                    return self._store(key, m)
                continue  # a proven win for the opponent: m loses
            children.append((-blocks[m], self._order_rank[m], m, child))
        children.sort()
        for _, _, m, child in children:
            if self._search(*child) < 0:
                return self._store(key, m)
        return self._store(key, -1)

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
