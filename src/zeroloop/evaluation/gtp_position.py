"""Positions for the GTP engine: the board picture, and a HexGUI position as our game.

HexGUI and benzene keep stones where they are after a swap and let either colour
place stones (set-up); our agents replay move lists of alternating games in which a
swap mirrors the first stone. `game_moves` turns the one into the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zeroloop.games.board import transpose_move


def board_text(board: np.ndarray, last: str | None = None) -> str:
    """Plain-text picture of an int8 [N, N] board (+1 black X, -1 white O).

    Each row is shifted half a cell right, as on a Hex board. Letters (columns) mark
    black's edges, top and bottom; numbers (rows) white's, left and right.
    """
    n = board.shape[0]
    w = len(str(n))
    letters = " ".join(chr(97 + c) for c in range(n))
    marks = {1: "X", -1: "O", 0: "."}
    lines = [" " * (w + 1) + letters]
    for r in range(n):
        row = " ".join(marks[int(v)] for v in board[r])
        lines.append(" " * r + f"{r + 1:>{w}} {row} {r + 1}")
    lines.append(" " * (n + w) + letters)
    if last:
        lines.append(f"last move: {last}")
    return "\n".join(lines)


def _interleave(black: Sequence[int], white: Sequence[int], to_move: int) -> list[int] | None:
    """Black and white stones as one alternating game (black first) with `to_move` to move.

    None when the counts do not allow it: black must have as many stones as white
    (black to move) or one more (white to move).
    """
    if len(black) - len(white) != to_move:
        return None
    out: list[int] = []
    for i, b in enumerate(black):
        out.append(b)
        if i < len(white):
            out.append(white[i])
    return out


def game_moves(
    black: Sequence[int],
    white: Sequence[int],
    colour: int,
    board_size: int,
    swapped_first: int | None = None,
) -> tuple[list[int], bool] | None:
    """HexGUI's position (stones of each colour, `colour` to move) as a move list of our game.

    black, white: cells (board frame) in the order they were played, as HexGUI shows
        them; with `swapped_first` (the cell of black's first stone, which white then
        swapped) that stone is still black's on HexGUI's board.
    Returns (moves, transposed), or None when no game reaches these stone counts.

    Without a swap the stones are handed over as they are when black has as many
    stones as white (black to move) or one more (white to move); otherwise transposed
    with the colours exchanged (the same game for the other side). After HexGUI's swap
    the position always is the transposed game, opened by [first stone, swap], since
    our swap turns black's first stone into white's transposed one. With `transposed`
    the agent's answer must be transposed back.
    """
    swap_action = board_size * board_size

    def t(cells: Sequence[int]) -> list[int]:
        return [transpose_move(c, board_size) for c in cells]

    if swapped_first is not None:
        rest = _interleave(t(white), t([c for c in black if c != swapped_first]), 1 - colour)
        return None if rest is None else ([swapped_first, swap_action, *rest], True)
    direct = _interleave(black, white, colour)
    if direct is not None:
        return direct, False
    mirrored = _interleave(t(white), t(black), 1 - colour)
    return None if mirrored is None else (mirrored, True)
