"""numpy Hex helpers for the data stages: replay, winner, mover's view, symmetries.

Boards here are int8 [N, N] in the board frame: +1 black (player 0, connects top and
bottom), -1 white (player 1, connects left and right), 0 empty. Moves are ints in
0..N*N, where N*N is the swap. The conventions match `zeroloop.games.hex`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import overload

import numpy as np

from zeroloop.games.geometry import neighbour_table, rotate180_permutation, transpose_permutation


class IllegalMoveError(ValueError):
    """A move list breaks the rules; `ply` is the 0-based index of the bad move.

    `str()` reads e.g. `move 3 (4): cell 4 (row 1, col 1) is already occupied`.
    """

    def __init__(self, ply: int, move: int, reason: str) -> None:
        super().__init__(f"move {ply + 1} ({move}): {reason}")
        self.ply = ply
        self.move = move
        self.reason = reason


@cache
def _neighbours(board_size: int) -> tuple[tuple[int, ...], ...]:
    """Per cell, its on-board neighbours (Python ints: these helpers loop in Python)."""
    table = neighbour_table(board_size)
    return tuple(tuple(int(nb) for nb in row if nb != cell) for cell, row in enumerate(table))


@cache
def _transpose(board_size: int) -> np.ndarray:
    perm = transpose_permutation(board_size)
    perm.setflags(write=False)
    return perm


@cache
def _rotate180(board_size: int) -> np.ndarray:
    perm = rotate180_permutation(board_size)
    perm.setflags(write=False)
    return perm


def winner(board: np.ndarray) -> int | None:
    """0 if black connects top-bottom, 1 if white connects left-right, else None.

    board: int8 [N, N] board frame.
    """
    n = board.shape[0]
    flat = board.reshape(-1).tolist()
    neighbours = _neighbours(n)
    for player, sign in ((0, 1), (1, -1)):
        edge = range(n) if player == 0 else range(0, n * n, n)
        stack = [c for c in edge if flat[c] == sign]
        seen = set(stack)
        while stack:
            cell = stack.pop()
            r, c = divmod(cell, n)
            if (player == 0 and r == n - 1) or (player == 1 and c == n - 1):
                return player
            for nb in neighbours[cell]:
                if nb not in seen and flat[nb] == sign:
                    seen.add(nb)
                    stack.append(nb)
    return None


class _Connections:
    """Incremental union-find over the stones plus four virtual edge nodes.

    Replaying a game with it costs O(T) instead of a board search at every ply, which
    matters because the arena and the data stages replay move lists all the time.
    """

    def __init__(self, board_size: int) -> None:
        n = board_size
        self.n = n
        self.top, self.bottom, self.left, self.right = range(n * n, n * n + 4)
        self.parent = list(range(n * n + 4))

    def _find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self.parent[ra] = rb

    def place(self, board: list[int], cell: int, sign: int) -> None:
        """Record a stone (+1 black, -1 white) already written to `board` (flat list)."""
        n = self.n
        for nb in _neighbours(n)[cell]:
            if board[nb] == sign:
                self._union(cell, nb)
        r, c = divmod(cell, n)
        if sign == 1:
            if r == 0:
                self._union(cell, self.top)
            if r == n - 1:
                self._union(cell, self.bottom)
        else:
            if c == 0:
                self._union(cell, self.left)
            if c == n - 1:
                self._union(cell, self.right)

    def winner(self) -> int | None:
        if self._find(self.top) == self._find(self.bottom):
            return 0
        if self._find(self.left) == self._find(self.right):
            return 1
        return None


def _describe(move: int, board_size: int) -> str:
    if move == board_size * board_size:
        return "swap"
    if 0 <= move < board_size * board_size:
        r, c = divmod(move, board_size)
        return f"cell {move} (row {r}, col {c})"
    return f"action {move}"


def replay(board_size: int, moves: Sequence[int], swap: bool = False, check_end: bool = True) -> np.ndarray:
    """Play `moves` from the empty board and return every position.

    board_size: N. moves: T actions in the board frame (N*N = swap). swap: whether the
    swap rule is on. check_end: refuse a move made after the game was won.

    Returns int8 [T+1, N, N]: boards[t] is the position before move t (boards[T] is the
    final position). Raises IllegalMoveError (with the move number, the cell and the
    reason) for an action off the board, an occupied cell, a swap where it is not
    allowed, or (when `check_end`) a move after a win.
    """
    n = board_size
    num_cells = n * n
    boards = np.zeros((len(moves) + 1, num_cells), dtype=np.int8)
    board = [0] * num_cells
    links = _Connections(n)
    for ply, raw in enumerate(moves):
        move = int(raw)
        to_play = mover_at(ply)
        if check_end and links.winner() is not None:
            raise IllegalMoveError(ply, move, "the game was already over (a player had connected)")
        if move == num_cells:
            if not swap:
                raise IllegalMoveError(ply, move, "swap is not allowed (the swap rule is off)")
            if ply != 1:
                raise IllegalMoveError(ply, move, "swap is only allowed as the second move")
            # "Swap pieces": black's first stone becomes white's, mirrored across the
            # long diagonal, and black moves again.
            r, c = divmod(board.index(1), n)
            board = [0] * num_cells
            board[c * n + r] = -1
            links = _Connections(n)
            links.place(board, c * n + r, -1)
        elif not 0 <= move < num_cells:
            bounds = f"cells are 0..{num_cells - 1}, swap is {num_cells}"
            raise IllegalMoveError(ply, move, f"action {move} is off the {n}x{n} board ({bounds})")
        elif board[move] != 0:
            raise IllegalMoveError(ply, move, f"{_describe(move, n)} is already occupied")
        else:
            sign = 1 if to_play == 0 else -1
            board[move] = sign
            links.place(board, move, sign)
        boards[ply + 1] = board
    return boards.reshape(len(moves) + 1, n, n)


@overload
def mover_at(ply: int) -> int: ...
@overload
def mover_at(ply: np.ndarray) -> np.ndarray: ...
def mover_at(ply: int | np.ndarray) -> int | np.ndarray:
    """The player (0 black, 1 white) who makes move `ply` (0-based): `ply % 2`.

    The one rule for "who moves at ply t", swap or not: with "swap pieces" the swap
    (ply 1) is white's move and black moves next, exactly as after any other white
    move. What the swap changes is the stones (black's first stone becomes a white one
    on the mirror cell), not the order of the players. An int array [...] gives the
    mover of each ply, same shape.
    """
    return ply % 2


def players_to_move(moves: Sequence[int] | np.ndarray, swap_action: int | None = None) -> np.ndarray:
    """int8 [T]: the player (0 black, 1 white) who makes each move, `mover_at(t)`.

    `swap_action` (N*N), when given, checks that a swap appears only as the second move
    (ValueError otherwise); the players are the same with or without it.
    """
    moves = np.asarray(moves)
    if swap_action is not None:
        swaps = np.flatnonzero(moves == swap_action)
        if swaps.size and (swaps.size > 1 or swaps[0] != 1):
            raise ValueError(f"swap ({swap_action}) is only legal as the second move, found at {swaps}")
    return mover_at(np.arange(moves.shape[0])).astype(np.int8)


def mover_view(board: np.ndarray, to_play: int) -> np.ndarray:
    """int8 [N, N]: +1 the mover's stones, -1 the opponent's, transposed for white.

    Matches `Hex.observation`: the mover always connects top to bottom.
    """
    return board if to_play == 0 else -board.T


def policy_to_mover_frame(policy: np.ndarray, to_play: int, board_size: int) -> np.ndarray:
    """[..., N*N+1] board-frame policy -> mover's frame (the transpose is an involution)."""
    return policy if to_play == 0 else policy[..., _transpose(board_size)]


# ---- symmetries ---------------------------------------------------------------------
# Two symmetries preserve Hex: the 180-degree rotation (each player keeps their edges)
# and the transpose with colours swapped (black's edges become white's). In the
# mover's frame only the rotation keeps "mover connects top-bottom", so the data
# stages augment with the rotation.


def rotate180_cells(cells: np.ndarray, board_size: int) -> np.ndarray:
    """[..., N*N] flat board (or per-cell values) -> turned half a turn (a copy).

    The half turn is `rotate180_permutation`, cell i -> N*N-1-i, i.e. the flat cell axis
    reversed: a slice, which copies faster than a gather (tests check it is the same map).
    """
    if cells.shape[-1] != board_size * board_size:
        raise ValueError(f"expected {board_size * board_size} cells, got shape {cells.shape}")
    return cells[..., ::-1].copy()


def rotate180_board(board: np.ndarray) -> np.ndarray:
    """[..., N, N] -> the board turned half a turn (a copy)."""
    n = board.shape[-1]
    return rotate180_cells(board.reshape(*board.shape[:-2], n * n), n).reshape(board.shape)


def rotate180_policy(policy: np.ndarray, board_size: int) -> np.ndarray:
    """[..., N*N+1] -> the policy turned with the board; the swap entry stays (a copy)."""
    cells = board_size * board_size
    out = policy.copy()
    out[..., :cells] = policy[..., cells - 1 :: -1]  # rotate180_cells without its copy
    return out


def transpose_swap_board(board: np.ndarray) -> np.ndarray:
    """[..., N, N] -> transposed with colours swapped (black's role becomes white's)."""
    return -np.swapaxes(board, -1, -2)


def transpose_policy(policy: np.ndarray, board_size: int) -> np.ndarray:
    """[..., N*N+1] -> the policy of the transposed board; the swap entry stays."""
    return policy[..., _transpose(board_size)]


def rotate180_move(move: int | np.ndarray, board_size: int) -> int | np.ndarray:
    """The action `move` (board frame, N*N = swap) after a half turn; the swap stays.

    An int gives an int; an int array [...] gives an array of the same dtype.
    """
    if isinstance(move, np.ndarray):
        return _rotate180(board_size)[move].astype(move.dtype)
    return int(_rotate180(board_size)[move])


def transpose_move(move: int, board_size: int) -> int:
    """The action `move` after the transpose: (r, c) -> (c, r); the swap stays."""
    return int(_transpose(board_size)[move])
