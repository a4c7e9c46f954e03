"""Hex boards as Python-int bitboards: neighbour dilation, flood fill, bridges.

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

# Edge templates for black and the top edge, as (row, col) offsets of the carrier
# from the stone (white's are the transposes, the bottom edge's the 180-degree
# turns). Template II: a stone on the second row and its two edge neighbours.
# Template IIIa (the ziggurat) and its mirror image: a stone on the third row and
# eight empty cells. tests/test_solver.py checks each is a second-player connection
# and that no carrier cell can be dropped.
EDGE_TEMPLATES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((-1, 0), (-1, 1)),
    ((0, 1), (-1, 0), (-1, 1), (-1, 2), (-2, 0), (-2, 1), (-2, 2), (-2, 3)),
    ((0, -1), (-1, -1), (-1, 0), (-1, 1), (-2, -1), (-2, 0), (-2, 1), (-2, 2)),
)

# Edge nodes of the virtual-connection graph, numbered after the cells.
EDGE_A = -1  # black: top, white: left
EDGE_B = -2  # black: bottom, white: right


def iter_bits(mask: int):
    """Yield the cell indices of the set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def popcount(mask: int) -> int:
    """Number of set bits."""
    return mask.bit_count()


@dataclass(frozen=True)
class Geometry:
    """Precomputed masks of one board size (get one with `geometry(n)`).

    full:       every cell.
    edges:      per player, (first edge, second edge) masks.
    neighbours: per cell, the mask of its on-board neighbours.
    bridges:    per cell, (partner cell, carrier mask of the two common neighbours).
    edge_links: per player and cell, (edge node, carrier mask) of each edge template
                (`EDGE_TEMPLATES`) that fits: a stone with that carrier empty is
                virtually connected to that edge.
    """

    n: int
    full: int
    edges: tuple[tuple[int, int], tuple[int, int]]
    neighbours: tuple[int, ...]
    bridges: tuple[tuple[tuple[int, int], ...], ...]
    edge_links: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]
    bridge_partners: tuple[int, ...] = field(repr=False)
    edge_reach: tuple[tuple[int, int], tuple[int, int]] = field(repr=False)
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

    bridges: list[tuple[tuple[int, int], ...]] = []
    for i in range(cells):
        out = []
        for j in range(cells):
            if j == i or neighbours[i] >> j & 1:
                continue
            common = neighbours[i] & neighbours[j]
            if popcount(common) == 2:
                out.append((j, common))
        bridges.append(tuple(out))

    edge_links = []
    for player in (0, 1):
        per_cell = []
        for i in range(cells):
            r, c = divmod(i, n)
            links = []
            for node, sign in ((EDGE_A, 1), (EDGE_B, -1)):
                for offsets in EDGE_TEMPLATES:
                    carrier = 0
                    for dr, dc in offsets:
                        dr, dc = sign * dr, sign * dc  # 180-degree turn for the far edge
                        if player == 1:
                            dr, dc = dc, dr  # white: the transpose of black's template
                        rr, cc = r + dr, c + dc
                        if not (0 <= rr < n and 0 <= cc < n):
                            break
                        carrier |= 1 << (rr * n + cc)
                    else:
                        # Only a template whose far row is the edge row counts.
                        depth = max(-odr for odr, _ in offsets)
                        line = r if player == 0 else c
                        at_edge = line == depth if node == EDGE_A else line == n - 1 - depth
                        if at_edge:
                            links.append((node, carrier))
            per_cell.append(tuple(links))
        edge_links.append(tuple(per_cell))

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
        bridges=tuple(bridges),
        edge_links=tuple(edge_links),
        bridge_partners=tuple(sum(1 << j for j, _ in row) for row in bridges),
        edge_reach=tuple(
            (
                sum(1 << i for i, links in enumerate(per_cell) if any(node == EDGE_A for node, _ in links)),
                sum(1 << i for i, links in enumerate(per_cell) if any(node == EDGE_B for node, _ in links)),
            )
            for per_cell in edge_links
        ),
        not_col0=full & ~col0,
        not_collast=full & ~collast,
        centre_order=order,
    )


def chain(geo: Geometry, own: int, empty: int, player: int, reverse: bool = False) -> tuple[bool, int, int]:
    """Greedy search for a second-player virtual connection of `player`'s edges.

    own: the player's stones; empty: the empty cells. Starting from the stones on the
    first edge (the second when `reverse`), groups of adjacent stones are added when a
    bridge or an edge template whose carrier is empty, and disjoint from the carriers
    used so far, joins them. Such a chain is a win for `player` even with the opponent
    to move: an intrusion into one carrier is answered in the same carrier, and the
    carriers do not overlap. Greedy, so it can miss a chain; it never claims a false one.

    Returns (connected, union of the carriers used, stones reached from the start edge);
    carrier 0 with connected means the edges are already joined by stones.
    """
    first, second = geo.edges[player]
    start_node, goal_node = EDGE_A, EDGE_B
    to_first, to_second = geo.edge_reach[player]
    if reverse:
        first, second, start_node, goal_node = second, first, goal_node, start_node
        to_first, to_second = to_second, to_first
    flood = geo.flood
    links = geo.edge_links[player]
    bridges = geo.bridges
    partners = geo.bridge_partners
    reach = flood(first, own)
    used = 0
    # Stones a template away from the start edge join it too.
    for cell in iter_bits(own & to_first & ~reach):
        if reach >> cell & 1:
            continue
        for node, carrier in links[cell]:
            if node == start_node and carrier & empty == carrier and not carrier & used:
                used |= carrier
                reach |= flood(1 << cell, own)
                break
    while True:
        if reach & second:
            return True, used, reach
        for cell in iter_bits(reach & to_second):
            for node, carrier in links[cell]:
                if node == goal_node and carrier & empty == carrier and not carrier & used:
                    return True, used | carrier, reach
        grown = False
        for cell in iter_bits(own & ~reach):
            if not partners[cell] & reach or reach >> cell & 1:
                continue
            for partner, carrier in bridges[cell]:
                if reach >> partner & 1 and carrier & empty == carrier and not carrier & used:
                    used |= carrier
                    reach |= flood(1 << cell, own)
                    grown = True
                    break
        if not grown:
            return False, used, reach
