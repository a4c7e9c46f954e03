"""Hex boards as Python-int bitboards: neighbour dilation, flood fill, edge masks.

Bit i of a mask is cell i = row * N + col (the board frame of `zeroloop.games.hex`).
Black (player 0) connects the top row to the bottom row, white (player 1) the left
column to the right column. Python ints are arbitrary precision, so one int holds a
whole 19x19 board and the set operations (and, or, shifts) run in C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from zeroloop.games.geometry import neighbour_table


def iter_bits(mask: int):
    """Yield the cell indices of the set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@dataclass(frozen=True)
class Geometry:
    """Precomputed masks of one board size (get one with `geometry(n)`).

    full:       every cell.
    edges:      per player, (first edge, second edge) masks.
    neighbours: per cell, the mask of its on-board neighbours.
    """

    n: int
    full: int
    edges: tuple[tuple[int, int], tuple[int, int]]
    neighbours: tuple[int, ...]
    not_col0: int = field(repr=False)
    not_collast: int = field(repr=False)
    centre_order: tuple[int, ...] = field(repr=False)

    def dilate(self, x: int) -> int:
        """x plus its hex neighbours (six shifts of the whole board at once)."""
        n = self.n
        left_ok = x & self.not_col0  # cells that have a left neighbour
        right_ok = x & self.not_collast
        return (
            x
            | (x >> n)  # (r-1, c)
            | (x << n)  # (r+1, c)
            | (left_ok >> 1)  # (r, c-1)
            | (right_ok << 1)  # (r, c+1)
            | (right_ok >> (n - 1))  # (r-1, c+1)
            | (left_ok << (n - 1))  # (r+1, c-1)
        ) & self.full

    def flood(self, seed: int, within: int) -> int:
        """The cells of `within` connected to `seed & within` (seed cells outside are dropped)."""
        grown = seed & within
        while True:
            nxt = self.dilate(grown) & within
            if nxt == grown:
                return grown
            grown = nxt

    def winning_cells(self, own: int, empty: int, player: int) -> int:
        """Empty cells where `player` (stones `own`) connects its two edges at once."""
        first, second = self.edges[player]
        top = self.flood(first, own)
        bottom = self.flood(second, own)
        reach_top = (self.dilate(top) | first) & empty
        reach_bottom = (self.dilate(bottom) | second) & empty
        return reach_top & reach_bottom

    def connected(self, own: int, player: int) -> bool:
        """Do `player`'s stones `own` join its two edges?"""
        first, second = self.edges[player]
        return bool(self.flood(first, own) & second)


@cache
def geometry(n: int) -> Geometry:
    """The masks of the n x n board (cached)."""
    if not 2 <= n <= 19:
        raise ValueError(f"board size must be in 2..19, got {n}")
    cells = n * n
    table = neighbour_table(n)
    neighbours = tuple(
        sum(1 << int(nb) for nb in set(row.tolist()) if nb != i) for i, row in enumerate(table)
    )
    full = (1 << cells) - 1
    col0 = sum(1 << (r * n) for r in range(n))
    collast = sum(1 << (r * n + n - 1) for r in range(n))
    top = (1 << n) - 1
    bottom = top << (n * (n - 1))
    edges = ((top, bottom), (col0, collast))

    # Centre first: a static move order for searches without a policy.
    rows, cols = np.divmod(np.arange(cells), n)
    centre = (n - 1) / 2
    # Hex distance from the centre on the rhombus (dr, dc; the (1,-1) axis is short).
    dr, dc = rows - centre, cols - centre
    dist = np.maximum(np.abs(dr), np.maximum(np.abs(dc), np.abs(dr + dc)))
    order = tuple(int(c) for c in np.lexsort((np.arange(cells), dist)))
    return Geometry(
        n=n,
        full=full,
        edges=edges,
        neighbours=neighbours,
        not_col0=full & ~col0,
        not_collast=full & ~collast,
        centre_order=order,
    )
