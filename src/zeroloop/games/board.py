"""numpy Hex helpers for the data stages: replay, winner, mover's view, symmetries.

Boards here are int8 [N, N] in the board frame: +1 black (player 0, connects top and
bottom), -1 white (player 1, connects left and right), 0 empty. Moves are ints in
0..N*N, where N*N is the swap. The conventions match `zeroloop.games.hex`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zeroloop.games.hex import neighbour_table, transpose_permutation


class IllegalMoveError(ValueError):
    """A move list breaks the rules; `ply` is the 0-based index of the bad move."""

    def __init__(self, ply: int, move: int, reason: str) -> None:
        super().__init__(f"move {ply + 1} ({move}): {reason}")
        self.ply = ply
        self.move = move
        self.reason = reason


def winner(board: np.ndarray) -> int | None:
    """0 if black connects top-bottom, 1 if white connects left-right, else None.

    board: int8 [N, N] board frame.
    """
    n = board.shape[0]
    flat = board.reshape(-1)
    neighbours = neighbour_table(n)
    for player, sign in ((0, 1), (1, -1)):
        starts = (
            [c for c in range(n) if flat[c] == sign]
            if player == 0
            else [r * n for r in range(n) if flat[r * n] == sign]
        )
        seen = np.zeros(n * n, dtype=bool)
        stack = list(starts)
        seen[starts] = True
        while stack:
            cell = stack.pop()
            r, c = divmod(cell, n)
            if (player == 0 and r == n - 1) or (player == 1 and c == n - 1):
                return player
            for nb in neighbours[cell]:
                if not seen[nb] and flat[nb] == sign:
                    seen[nb] = True
                    stack.append(nb)
    return None


def replay(board_size: int, moves: Sequence[int], swap: bool = False, check_end: bool = True) -> np.ndarray:
    """Play `moves` from the empty board and return every position.

    Returns int8 [T+1, N, N]: boards[t] is the position before move t (boards[T] is the
    final position). Raises IllegalMoveError for a cell off the board, an occupied
    cell, a swap where it is not allowed, or (when `check_end`) a move after a win.
    """
    n = board_size
    num_cells = n * n
    boards = np.zeros((len(moves) + 1, n, n), dtype=np.int8)
    board = np.zeros(num_cells, dtype=np.int8)
    to_play = 0
    for ply, move in enumerate(moves):
        move = int(move)
        if check_end and ply > 0 and winner(board.reshape(n, n)) is not None:
            raise IllegalMoveError(ply, move, "the game was already over")
        if move == num_cells:
            if not swap:
                raise IllegalMoveError(ply, move, "swap is not allowed (swap rule is off)")
            if ply != 1:
                raise IllegalMoveError(ply, move, "swap is only allowed as the second move")
            first = int(np.flatnonzero(board)[0])
            r, c = divmod(first, n)
            board[:] = 0
            board[c * n + r] = -1
            to_play = 0
        elif not 0 <= move < num_cells:
            raise IllegalMoveError(ply, move, f"cell is off the {n}x{n} board")
        elif board[move] != 0:
            raise IllegalMoveError(ply, move, "cell is already occupied")
        else:
            board[move] = 1 if to_play == 0 else -1
            to_play = 1 - to_play
        boards[ply + 1] = board.reshape(n, n)
    return boards


def players_to_move(moves: Sequence[int], swap_action: int) -> np.ndarray:
    """int8 [T]: the player (0 black, 1 white) who makes each move.

    Players alternate, except that after a swap black moves again.
    """
    players = np.empty(len(moves), dtype=np.int8)
    to_play = 0
    for ply, move in enumerate(moves):
        players[ply] = to_play
        to_play = 0 if move == swap_action else 1 - to_play
    return players


def mover_view(board: np.ndarray, to_play: int) -> np.ndarray:
    """int8 [N, N]: +1 the mover's stones, -1 the opponent's, transposed for white.

    Matches `Hex.observation`: the mover always connects top to bottom.
    """
    return board if to_play == 0 else -board.T


def policy_to_mover_frame(policy: np.ndarray, to_play: int, board_size: int) -> np.ndarray:
    """[..., N*N+1] board-frame policy -> mover's frame (the transpose is an involution)."""
    return policy if to_play == 0 else policy[..., transpose_permutation(board_size)]


# ---- symmetries ---------------------------------------------------------------------
# Two symmetries preserve Hex: the 180-degree rotation (each player keeps their edges)
# and the transpose with colours swapped (black's edges become white's). In the
# mover's frame only the rotation keeps "mover connects top-bottom", so the data
# stages augment with the rotation.


def rotate180_board(board: np.ndarray) -> np.ndarray:
    """[..., N, N] -> the board turned half a turn."""
    return board[..., ::-1, ::-1]


def rotate180_policy(policy: np.ndarray, board_size: int) -> np.ndarray:
    """[..., N*N+1] -> the policy turned with the board; the swap entry stays."""
    cells = policy[..., : board_size * board_size][..., ::-1]
    return np.concatenate([cells, policy[..., board_size * board_size :]], axis=-1)


def transpose_swap_board(board: np.ndarray) -> np.ndarray:
    """[..., N, N] -> transposed with colours swapped (black's role becomes white's)."""
    return -np.swapaxes(board, -1, -2)


def transpose_policy(policy: np.ndarray, board_size: int) -> np.ndarray:
    """[..., N*N+1] -> the policy of the transposed board; the swap entry stays."""
    return policy[..., transpose_permutation(board_size)]


def rotate180_move(move: int, board_size: int) -> int:
    cells = board_size * board_size
    return move if move == cells else cells - 1 - move


def transpose_move(move: int, board_size: int) -> int:
    return int(transpose_permutation(board_size)[move])
