"""Random legal Hex games, for tests and the data benchmark (no network, no search).

A game is a random order of the cells played alternately until someone connects
(found with an incremental union-find, one pass per game). With `swap_prob` the
second player swaps at move 2 in that share of games.
"""

from __future__ import annotations

import numpy as np

from zeroloop.data.chunks import GameRecord
from zeroloop.games.board import replay


def _neighbours(n: int) -> list[list[int]]:
    out = []
    for r in range(n):
        for c in range(n):
            nbs = []
            for dr, dc in ((-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < n and 0 <= cc < n:
                    nbs.append(rr * n + cc)
            out.append(nbs)
    return out


def random_game(n: int, rng: np.random.Generator, swap: bool = False) -> tuple[list[int], int]:
    """(moves in the board frame, winner) of one random game; `swap` plays the swap at move 2."""
    cells = n * n
    nbs = _neighbours(n)
    # Nodes cells..cells+3: top, bottom (black's edges), left, right (white's edges).
    parent = list(range(cells + 4))
    colour = [0] * cells

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def place(cell: int, player: int) -> bool:
        colour[cell] = player + 1
        r, c = divmod(cell, n)
        links = [nb for nb in nbs[cell] if colour[nb] == player + 1]
        if player == 0:
            links += [cells] if r == 0 else []
            links += [cells + 1] if r == n - 1 else []
        else:
            links += [cells + 2] if c == 0 else []
            links += [cells + 3] if c == n - 1 else []
        root = find(cell)
        for x in links:
            other = find(x)
            if other != root:
                parent[other] = root
        a, b = (cells, cells + 1) if player == 0 else (cells + 2, cells + 3)
        return find(a) == find(b)

    order = [int(x) for x in rng.permutation(cells)]
    moves: list[int] = []
    to_play = 0
    if swap and n >= 2:
        first = order[0]
        r, c = divmod(first, n)
        mirrored = c * n + r
        place(mirrored, 1)
        moves += [first, cells]
        order = [x for x in order if x != mirrored]
        to_play = 0
    for cell in order:
        moves.append(cell)
        if place(cell, to_play):
            return moves, to_play
        to_play ^= 1
    raise AssertionError("a full Hex board always has a winner")


def random_records(
    n: int, count: int, seed: int = 0, swap_prob: float = 0.0, with_search: bool = False
) -> list[GameRecord]:
    """`count` random games as GameRecords; `with_search` adds random visit distributions
    (board frame, on legal actions only), root values and policy_valid flags."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        swap = bool(rng.random() < swap_prob)
        moves, winner = random_game(n, rng, swap=swap)
        rec = GameRecord(board_size=n, moves=np.asarray(moves, np.int16), winner=winner, swap=swap_prob > 0)
        if with_search:
            t = len(moves)
            boards = replay(n, moves, swap=swap, check_end=False)[:-1].reshape(t, n * n)
            legal = np.concatenate([boards == 0, np.zeros((t, 1), bool)], axis=1)
            legal[1, -1] = swap_prob > 0 and t > 1
            policy = (rng.random((t, n * n + 1)).astype(np.float32) ** 4) * legal
            policy[np.arange(t), moves] += 1.0  # the move played is likely under the search
            policy /= policy.sum(axis=1, keepdims=True)
            rec.policy = policy
            rec.policy_valid = rng.random(t) < 0.8
            rec.root_value = rng.uniform(-1, 1, t).astype(np.float32)
        out.append(rec)
    return out
