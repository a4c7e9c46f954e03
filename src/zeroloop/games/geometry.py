"""Board geometry in plain numpy: neighbours and the transpose, shared by the JAX
environment (`zeroloop.games.hex`) and the numpy helpers (`zeroloop.games.board`).

Kept free of JAX on purpose: the data stages' worker processes import it, and
importing JAX costs seconds per process for work that is numpy only.
"""

from __future__ import annotations

import numpy as np

BLACK = 0
WHITE = 1
NO_WINNER = -1
NUM_OBS_PLANES = 3  # mover's stones, opponent's stones, swap-is-legal


def neighbour_table(board_size: int) -> np.ndarray:
    """int32 [N*N, 6]: the neighbours of each cell; off-board slots point at the cell itself.

    Pointing at the cell itself is harmless: the cell is empty when a stone is placed
    on it, so it never counts as a same-coloured neighbour.
    """
    n = board_size
    table = np.empty((n * n, 6), dtype=np.int32)
    offsets = ((-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0))
    for r in range(n):
        for c in range(n):
            for k, (dr, dc) in enumerate(offsets):
                rr, cc = r + dr, c + dc
                inside = 0 <= rr < n and 0 <= cc < n
                table[r * n + c, k] = rr * n + cc if inside else r * n + c
    return table


def transpose_permutation(board_size: int) -> np.ndarray:
    """int32 [N*N+1]: action a=(r,c) -> (c,r); swap maps to itself. An involution."""
    n = board_size
    idx = np.arange(n * n).reshape(n, n).T.reshape(-1)
    return np.concatenate([idx, [n * n]]).astype(np.int32)


def rotate180_permutation(board_size: int) -> np.ndarray:
    """int32 [N*N+1]: action a=(r,c) -> (N-1-r, N-1-c), i.e. cell -> N*N-1-cell; swap
    maps to itself. An involution: the half turn, Hex's other symmetry."""
    cells = board_size * board_size
    return np.concatenate([np.arange(cells - 1, -1, -1), [cells]]).astype(np.int32)
