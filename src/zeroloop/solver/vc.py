"""Virtual connections by H-search (Anshelevich's AND / OR rules) on Python-int bitboards.

For one player P (stones `own`, empty cells `empty`) the nodes of the connection
graph are the empty cells, P's stone groups, and P's two edges (each merged with the
stones touching it). Between two nodes x, y:

- a *full* connection with carrier C (a mask of empty cells, x and y not in it) means
  x and y get joined whoever moves first, as long as P answers every opponent move
  in C inside C;
- a *semi* connection with carrier C and key k (k in C) means P joins them by playing
  k first.

Rules (each a theorem, so every connection found is real; H-search is incomplete, so
some are missed, never invented):

- base: adjacent nodes, carrier empty;
- AND: x-z full (A), z-y full (B), A and B disjoint and not containing x or y:
  through an empty cell z a semi x-y with carrier A | B | {z} and key z; through a
  stone group z a full x-y with carrier A | B (a semi when x-z is a semi);
- OR: semis x-y whose carriers have an empty intersection give a full x-y with the
  union of the carriers (an opponent move misses one of them; P plays its key).

`hsearch` returns what the solver needs: whether P's edges have a full connection
(P wins even with the opponent to move) and the semi connections between the edges
(P to move wins by playing a key; the opponent must play in every semi's carrier).
Work is bounded per node pair (`max_full`, `max_semi` carriers, smallest first), so
the cost stays small and the result stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from zeroloop.solver.bitboard import Geometry, iter_bits


@dataclass(frozen=True)
class EdgeConnections:
    """H-search's answer about one player's two edges.

    full: carrier of a full edge-to-edge connection (P wins with either side to
          move), or None when none was found.
    semis: (carrier, key) of each semi edge-to-edge connection found (P to move wins
           by playing the key); empty when `full` is set (the search stops there).
    """

    full: int | None
    semis: tuple[tuple[int, int], ...]

    def must_play(self, empty: int) -> int:
        """Cells where the opponent must move to survive: the intersection of the semis'
        carriers (every empty cell when there is no semi)."""
        region = empty
        for carrier, _ in self.semis:
            region &= carrier
        return region


def hsearch(
    geo: Geometry,
    own: int,
    empty: int,
    player: int,
    max_full: int = 6,
    max_semi: int = 8,
    stop_at_semi: bool = False,
) -> EdgeConnections:
    """H-search for `player` (0 black, top-bottom; 1 white, left-right).

    own: the player's stones; empty: the empty cells (bitboards, bit i = cell i).
    stop_at_semi: return as soon as one edge-to-edge semi is found (enough to know the
        player wins when it is to move).
    Assumes the player's edges are not joined by stones yet.
    """
    cells = geo.n * geo.n
    first, second = geo.edges[player]
    flood, dilate = geo.flood, geo.dilate
    edge_a, edge_b = cells, cells + 1  # node ids: cells, then edges, then groups

    # Groups and, per group node, the empty cells next to it.
    group_a = flood(first, own)
    group_b = flood(second, own)
    touching: list[int] = [(dilate(group_a) | first) & empty, (dilate(group_b) | second) & empty]
    rest = own & ~group_a & ~group_b
    while rest:
        group = flood(rest & -rest, own)
        rest &= ~group
        touching.append(dilate(group) & empty)
    n_nodes = cells + len(touching)

    # Per node pair (key lo * 1024 + hi): carriers of full and (carrier, key) of semi
    # connections found; per node, (other end, carrier[, key]) of each one already
    # processed (so each two connections are combined once, by the later one).
    full: dict[int, list[int]] = {}
    semi: dict[int, list[tuple[int, int]]] = {}
    fulls_at: list[list[tuple[int, int]]] = [[] for _ in range(n_nodes)]
    semis_at: list[list[tuple[int, int, int]]] = [[] for _ in range(n_nodes)]
    # Pairs joined with an empty carrier (adjacent, or through a group): no semi or
    # other full of theirs can add anything.
    joined: set[int] = set()
    queue: list[tuple[int, int, int, int]] = []  # (x, y, carrier, key or -1 for full)
    edge_pair = edge_a * 1024 + edge_b
    found_full: list[int] = []

    def add_full(x: int, y: int, carrier: int) -> None:
        pair = x * 1024 + y if x < y else y * 1024 + x
        if pair in joined:
            return
        have = full.get(pair)
        if have is None:
            have = full[pair] = []
        elif len(have) >= max_full:
            return
        for c in have:
            if c & ~carrier == 0:  # a smaller (or equal) carrier already known
                return
        if not carrier:
            joined.add(pair)
        have.append(carrier)
        if pair == edge_pair:
            found_full.append(carrier)
        queue.append((x, y, carrier, -1))

    def add_semi(x: int, y: int, carrier: int, key: int) -> None:
        pair = x * 1024 + y if x < y else y * 1024 + x
        if pair in joined:
            return
        have = semi.get(pair)
        if have is None:
            have = semi[pair] = []
        elif len(have) >= max_semi:
            return
        for c in full.get(pair, ()):
            if c & ~carrier == 0:
                return
        for c, _ in have:
            if c & ~carrier == 0:
                return
        have.append((carrier, key))
        queue.append((x, y, carrier, key))

    # Base: adjacent empty cells, and empty cells next to a group or edge.
    neighbours = geo.neighbours
    for i in iter_bits(empty):
        for j in iter_bits(neighbours[i] & empty & ~((2 << i) - 1)):
            add_full(i, j, 0)
    for g, cells_next in enumerate(touching):
        for i in iter_bits(cells_next):
            add_full(i, cells + g, 0)

    head = 0
    while head < len(queue):
        if found_full:
            return EdgeConnections(found_full[0], ())
        x, y, carrier, key = queue[head]
        head += 1
        if key < 0:
            # AND with every full (and, through a group, every semi) at either end.
            for z, w in ((x, y), (y, x)):
                w_bit = 1 << w if w < cells else 0
                if z < cells:
                    z_bit = 1 << z
                    for u, other in fulls_at[z]:
                        if u == w or other & carrier or other & w_bit:
                            continue
                        if u < cells and carrier >> u & 1:
                            continue
                        add_semi(w, u, carrier | other | z_bit, z)
                else:
                    for u, other in fulls_at[z]:
                        if u == w or other & carrier or other & w_bit:
                            continue
                        if u < cells and carrier >> u & 1:
                            continue
                        add_full(w, u, carrier | other)
                    for u, other, k in semis_at[z]:
                        if u == w or other & carrier or other & w_bit:
                            continue
                        if u < cells and carrier >> u & 1:
                            continue
                        add_semi(w, u, carrier | other, k)
            fulls_at[x].append((y, carrier))
            fulls_at[y].append((x, carrier))
        else:
            pair = x * 1024 + y if x < y else y * 1024 + x
            if stop_at_semi and pair == edge_pair:
                return EdgeConnections(None, ((carrier, key),))
            # OR: greedily intersect with the other semis of the pair (in the order
            # found, which is roughly smallest first).
            meet, union = carrier, carrier
            for other, _ in semi[pair]:
                if other & meet != meet:
                    meet &= other
                    union |= other
                    if not meet:
                        add_full(x, y, union)
                        break
            # AND through a group endpoint: semi x-z plus full z-u.
            for z, w in ((x, y), (y, x)):
                if z < cells:
                    continue
                w_bit = 1 << w if w < cells else 0
                for u, other in fulls_at[z]:
                    if u == w or other & carrier or other & w_bit:
                        continue
                    if u < cells and carrier >> u & 1:
                        continue
                    add_semi(w, u, carrier | other, key)
            semis_at[x].append((y, carrier, key))
            semis_at[y].append((x, carrier, key))
    if found_full:
        return EdgeConnections(found_full[0], ())
    return EdgeConnections(None, tuple(semi.get(edge_pair, ())))
