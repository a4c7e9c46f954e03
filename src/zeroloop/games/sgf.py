"""Hex games as SGF, the way HexGUI writes and reads them.

HexGUI (and MoHex, which shares its format) stores Hex in SGF FF[4] with GM[11]:

    (;FF[4]GM[11]SZ[11]AP[zeroloop]RE[B+];B[f6];W[swap-pieces];B[e7])

- SZ[N] is the board size; a move is B[..] or W[..], Black moving first.
- A cell is named as in TRMPH: letter = column (a = left), number = row (1 = top),
  so `a1` is the top-left cell. Black (the first player) connects top and bottom.
- The swap (pie rule) is the second player's move W[swap-pieces]: Black's stone is
  mirrored across the long diagonal and becomes White's, and Black moves next, which
  is the "swap pieces" rule zeroloop plays (docs/hex.md).
- RE[B+] / RE[W+] is the winner, as in SGF's Go games.

Only writing is needed here; other tools read the files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zeroloop.games.board import mover_at
from zeroloop.games.trmph import cell_name
from zeroloop.games.trmph_file import write_text_atomic

SWAP_MOVE = "swap-pieces"
_COLOURS = ("B", "W")


def _text(value: str) -> str:
    """An SGF text value: `]` and `\\` escaped."""
    return value.replace("\\", "\\\\").replace("]", "\\]")


def format_sgf(
    board_size: int,
    moves: Sequence[int] | np.ndarray,
    winner: int | None = None,
    properties: dict[str, str] | None = None,
) -> str:
    """One game as an SGF game tree (a single line, ending in a newline).

    moves: board-frame actions (cell = row * N + col, N*N = the swap, only as move 2).
    winner: 0 the first player (Black) won, 1 the second (White), None unknown.
    properties: extra root properties, e.g. {"PB": "gen-3", "GC": "..."} (escaped here).
    """
    n = int(board_size)
    root = [f"FF[4]GM[11]SZ[{n}]AP[zeroloop]"]
    if winner is not None:
        if winner not in (0, 1):
            raise ValueError(f"winner must be 0 (Black), 1 (White) or None, got {winner!r}")
        root.append(f"RE[{_COLOURS[int(winner)]}+]")
    for key, value in (properties or {}).items():
        if not (key.isalpha() and key.isupper()):
            raise ValueError(f"SGF property names are upper-case letters, got {key!r}")
        root.append(f"{key}[{_text(str(value))}]")
    nodes = [";" + "".join(root)]
    for ply, move in enumerate(moves):
        move = int(move)
        if move == n * n:
            if ply != 1:
                raise ValueError(f"move {ply + 1}: a swap is allowed only as move 2")
            name = SWAP_MOVE
        elif 0 <= move < n * n:
            name = cell_name(move, n)
        else:
            raise ValueError(f"move {ply + 1}: {move} is not a cell of the {n}x{n} board")
        nodes.append(f";{_COLOURS[mover_at(ply)]}[{name}]")
    return "(" + "".join(nodes) + ")\n"


def write_sgf_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write one SGF file atomically (tmp + rename)."""
    return write_text_atomic(path, text)
