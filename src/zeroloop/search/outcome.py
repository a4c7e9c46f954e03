"""Value targets: the final outcome seen from the player to move at each position."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def movers(moves: Sequence[int] | np.ndarray, swap_action: int | None = None) -> np.ndarray:
    """int8 [T]: the player to move before each move (0 black, 1 white).

    With the "swap pieces" rule the swap is white's move and black moves next, exactly as
    after any other white move, so the mover alternates from black whether or not the game
    has a swap. `swap_action` (N*N) is accepted to check that a swap only appears at ply 1.
    """
    moves = np.asarray(moves)
    if swap_action is not None:
        swaps = np.flatnonzero(moves == swap_action)
        if swaps.size and (swaps.size > 1 or swaps[0] != 1):
            raise ValueError(f"swap ({swap_action}) is only legal as the second move, found at {swaps}")
    return (np.arange(moves.shape[0]) % 2).astype(np.int8)


def outcome_for_movers(
    moves: Sequence[int] | np.ndarray, winner: int, swap_action: int | None = None
) -> np.ndarray:
    """float32 [T]: +1 where the player to move went on to win, -1 where they lost.

    Every position gets the final outcome (Hex has no draws), not only the last one: a
    port the seed describes left 0.0 on intermediate positions, which starves the value
    head of signal. moves: int [T] board frame; winner: 0 black, 1 white.
    """
    if winner not in (0, 1):
        raise ValueError(f"winner must be 0 or 1, got {winner}")
    mover = movers(moves, swap_action)
    return np.where(mover == winner, 1.0, -1.0).astype(np.float32)
