"""Remove duplicate games: same board size and moves, optionally up to a symmetry.

The only symmetry that maps a Hex game record to another game record with the same
first player is the 180-degree rotation (each player keeps their own edges). The other
one, transposing with colours swapped, turns black's moves into white's, so a game
would start with the second player: not a record. `symmetric=True` therefore treats a
game and its rotation as one.
"""

from __future__ import annotations

import numpy as np

from zeroloop.data.gamebatch import GameBatch
from zeroloop.games.board import rotate180_move


class Deduper:
    """Remembers the games it has seen; `keep(batch)` says which games are new.

    Keys are the exact move bytes (plus the size), not the 64-bit game id, so two
    different games can never be merged by a hash collision. Memory: about 2 bytes per
    move plus ~100 bytes per game, i.e. ~300 MB for a million 11x11 games.
    """

    def __init__(self, symmetric: bool = False) -> None:
        self.symmetric = symmetric
        self._seen: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def keep(self, batch: GameBatch) -> np.ndarray:
        """int64 [K] indices of the games in `batch` not seen before (first copy wins)."""
        n = batch.board_size
        prefix = bytes([n])
        moves = batch.moves.astype("<i2")
        rotated = rotate180_move(moves, n) if self.symmetric else None
        keep: list[int] = []
        offsets = batch.offsets.tolist()
        for g in range(batch.num_games):
            a, b = offsets[g], offsets[g + 1]
            key = prefix + moves[a:b].tobytes()
            if rotated is not None:
                key = min(key, prefix + rotated[a:b].tobytes())
            if key not in self._seen:
                self._seen.add(key)
                keep.append(g)
        return np.asarray(keep, dtype=np.int64)
