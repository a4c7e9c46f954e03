"""A Hex game as an SVG picture: the usual rhombus of hexagons, stones numbered by move.

Conventions as in docs/hex.md: cell index r * N + c, row 0 at the top, each row drawn
half a cell further right; black (moves first) connects top and bottom, so those
edges are drawn black; white connects left and right, drawn as white bands with a
dark outline. A swap (action N*N, move 2) removes black's stone at (r, c) and puts a
white one at (c, r); that stone carries the number 2.

Hand-written SVG (no plotting library): the picture is small, exact and loads as a
data URI in the Prefect dashboard's markdown artifacts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

from zeroloop.games.board import mover_at

# Colours chosen to read on the dashboard's light and dark themes alike (own background).
BACKGROUND = "#f4ecd8"
EMPTY = "#e2c892"
GRID = "#7a6a4f"
BLACK = "#1b1b1b"
WHITE = "#fbfbfb"
EDGE_OUTLINE = "#555555"
LAST_MOVE = "#d62728"

Centre = Callable[[int, int], tuple[float, float]]


def game_stones(board_size: int, moves: Sequence[int]) -> dict[int, tuple[int, int]]:
    """cell -> (player 0 black | 1 white, move number 1-based) after `moves`.

    moves: ints in 0..N*N (N*N = swap, legal only as move 2). Raises ValueError on an
    occupied cell, a cell off the board or a misplaced swap.
    """
    n = board_size
    stones: dict[int, tuple[int, int]] = {}
    for ply, move in enumerate(int(m) for m in moves):
        if move == n * n:
            if ply != 1 or len(stones) != 1:
                raise ValueError(f"move {ply + 1}: the swap is only legal as move 2")
            ((cell, _),) = stones.items()
            r, c = divmod(cell, n)
            stones = {c * n + r: (1, ply + 1)}
            continue
        if not 0 <= move < n * n:
            raise ValueError(f"move {ply + 1}: cell {move} is not on a {n}x{n} board")
        if move in stones:
            raise ValueError(f"move {ply + 1}: cell {move} is already occupied")
        stones[move] = (mover_at(ply), ply + 1)
    return stones


def _hexagon(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    """Corners of a pointy-top hexagon, clockwise from the top."""
    return [
        (cx + radius * math.cos(math.radians(a)), cy + radius * math.sin(math.radians(a)))
        for a in (-90, -30, 30, 90, 150, 210)
    ]


def _points(corners: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in corners)


def board_svg(
    board_size: int,
    moves: Sequence[int],
    *,
    caption: str | None = None,
    cell: float | None = None,
) -> str:
    """An SVG document (str) of the position after `moves`, every stone numbered.

    board_size: N; moves: ints in 0..N*N in play order; caption: text under the board
    (e.g. the winner); cell: hexagon radius in pixels (default: about 500 pixels wide
    whatever N). One <polygon class="cell"> per cell (N*N) and one <text class="move">
    per stone on the board.
    """
    n = board_size
    cell = cell or min(30.0, max(12.0, 220.0 / n))
    stones = game_stones(n, moves)
    last = next((c for c, (_, k) in stones.items() if k == len(moves)), None)
    w = math.sqrt(3) * cell  # a hexagon's width
    margin = cell * 2.2
    x0, y0 = margin, margin

    def centre(r: int, c: int) -> tuple[float, float]:
        return x0 + c * w + r * w / 2, y0 + r * 1.5 * cell

    width = x0 + (n - 1) * w * 1.5 + w / 2 + margin
    if caption:  # room for the caption under a small board
        width = max(width, len(caption) * cell * 0.48 + 2 * cell)
    height = y0 + (n - 1) * 1.5 * cell + cell + margin + (cell * 1.4 if caption else 0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="DejaVu Sans, Arial, sans-serif">',
        f"<title>{escape(caption or f'Hex {n}x{n}, {len(moves)} moves')}</title>",
        f'<rect width="100%" height="100%" fill="{BACKGROUND}"/>',
    ]
    out += _edges(n, cell, centre)
    for r in range(n):
        for c in range(n):
            x, y = centre(r, c)
            out.append(
                f'<polygon class="cell" points="{_points(_hexagon(x, y, cell))}" '
                f'fill="{EMPTY}" stroke="{GRID}" stroke-width="1"/>'
            )
    size = cell * (0.78 if len(moves) < 100 else 0.6)
    for index, (player, number) in sorted(stones.items()):
        x, y = centre(*divmod(index, n))
        fill, ink = (BLACK, WHITE) if player == 0 else (WHITE, BLACK)
        ring = LAST_MOVE if index == last else EDGE_OUTLINE
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{cell * 0.72:.1f}" fill="{fill}" '
            f'stroke="{ring}" stroke-width="{2.2 if index == last else 1}"/>'
        )
        out.append(
            f'<text class="move" x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" fill="{ink}" '
            f'text-anchor="middle" dominant-baseline="central">{number}</text>'
        )
    out += _coordinates(n, cell, centre)
    if caption:
        out.append(
            f'<text x="{width / 2:.1f}" y="{height - cell * 0.8:.1f}" font-size="{cell * 0.8:.1f}" '
            f'text-anchor="middle" fill="{BLACK}">{escape(caption)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _edges(n: int, cell: float, centre: Centre) -> list[str]:
    """Thick bands along the four sides: black top and bottom, white left and right."""
    out = []
    band = cell * 0.35

    def line(p: tuple[float, float], q: tuple[float, float], colour: str, width: float) -> str:
        return (
            f'<line x1="{p[0]:.1f}" y1="{p[1]:.1f}" x2="{q[0]:.1f}" y2="{q[1]:.1f}" '
            f'stroke="{colour}" stroke-width="{width:.1f}" stroke-linecap="round"/>'
        )

    def corners(r: int, c: int) -> list[tuple[float, float]]:
        x, y = centre(r, c)
        return _hexagon(x, y, cell + band / 2)

    black, white = [], []
    for i in range(n):
        top, bottom = corners(0, i), corners(n - 1, i)
        black += [(top[5], top[0]), (top[0], top[1])]  # upper-left and upper-right sides
        black += [(bottom[2], bottom[3]), (bottom[3], bottom[4])]
        left, right = corners(i, 0), corners(i, n - 1)
        white += [(left[3], left[4]), (left[4], left[5])]
        white += [(right[0], right[1]), (right[1], right[2])]
    out += [line(p, q, EDGE_OUTLINE, band + 2.5) for p, q in white]
    out += [line(p, q, WHITE, band) for p, q in white]
    out += [line(p, q, BLACK, band) for p, q in black]
    return out


def _coordinates(n: int, cell: float, centre: Centre) -> list[str]:
    """Column letters above the board, row numbers left of it (TRMPH names: a1 = top left)."""
    out = []
    size = cell * 0.62
    for i in range(n):
        x, y = centre(0, i)
        out.append(
            f'<text x="{x:.1f}" y="{y - cell * 1.75:.1f}" font-size="{size:.1f}" '
            f'text-anchor="middle" fill="{GRID}">{chr(ord("a") + i)}</text>'
        )
        x, y = centre(i, 0)
        out.append(
            f'<text x="{x - cell * 1.75:.1f}" y="{y:.1f}" font-size="{size:.1f}" text-anchor="middle" '
            f'dominant-baseline="central" fill="{GRID}">{i + 1}</text>'
        )
    return out
