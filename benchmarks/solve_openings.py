"""How strong the exact solver is: every one-move opening, or random-play positions.

    python benchmarks/solve_openings.py --size 5 --budget 200000
    python benchmarks/solve_openings.py --size 7 --random 16 --count 10 --seconds 60

Openings (the default): for each first move of black, a fresh `Solver` (no table
shared between openings, so each figure is that opening's own cost) solves the
position with white to move, within --budget nodes and --seconds. One line per
opening: the cell, the winner (black = the first player; "unknown" when the budget
ran out), white's winning reply when white wins, nodes, seconds; then the totals.

--random EMPTY: instead, --count positions of uniformly random play from the empty
board with EMPTY empty cells, nobody connected, and not decided at the root (a
one-node budget does not prove them), seeded by --seed. See docs/solver.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from zeroloop.games.trmph import cell_name
from zeroloop.solver import Budget, Solver, SolveResult
from zeroloop.solver.bitboard import geometry

_PLAYERS = ("black", "white")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=5, help="Board size (default 5).")
    p.add_argument("--budget", type=int, default=200_000, help="Node budget per position.")
    p.add_argument("--seconds", type=float, default=None, help="Time budget per position (default none).")
    p.add_argument("--random", type=int, default=None, metavar="EMPTY", help="Random positions, EMPTY empty.")
    p.add_argument("--count", type=int, default=10, help="How many random positions (with --random).")
    p.add_argument("--seed", type=int, default=0, help="Seed of the random positions.")
    return p.parse_args(argv)


def random_position(n: int, empty: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """(black mask, white mask, side to move) after random play leaving `empty` cells,
    with neither side connected and the root not decided by a one-node solve."""
    geo = geometry(n)
    while True:
        cells = rng.permutation(n * n)[: n * n - empty]
        black = sum(1 << int(c) for c in cells[0::2])
        white = sum(1 << int(c) for c in cells[1::2])
        if geo.connected(black, 0) or geo.connected(white, 1):
            continue
        to_play = len(cells) % 2
        if not Solver(n).solve_masks(black, white, to_play, Budget(nodes=1)).known:
            return black, white, to_play


def _line(label: str, r: SolveResult, n: int) -> str:
    winner = "unknown" if r.winner is None else _PLAYERS[r.winner]
    move = "-" if r.move is None else cell_name(r.move, n)
    return f"{label:>8} {winner:>8} {move:>6} {r.nodes:>9} {r.seconds:>8.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.size
    budget = Budget(nodes=args.budget, seconds=args.seconds)
    if args.random is None:
        jobs = [(cell_name(c, n), 1 << c, 0, 1) for c in range(n * n)]
    else:
        rng = np.random.default_rng(args.seed)
        jobs = [(f"#{i}", *random_position(n, args.random, rng)) for i in range(args.count)]
    print(f"{'position':>8} {'winner':>8} {'move':>6} {'nodes':>9} {'seconds':>8}")
    start = time.perf_counter()
    results = []
    for label, black, white, to_play in jobs:
        r = Solver(n).solve_masks(black, white, to_play, budget)
        results.append(r)
        print(_line(label, r, n), flush=True)
    solved = [r for r in results if r.known]
    slowest = max((r.seconds for r in solved), default=0.0)
    print(
        f"solved {len(solved)} of {len(results)}; slowest solved {slowest:.2f} s; "
        f"nodes {sum(r.nodes for r in results)}; total {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
