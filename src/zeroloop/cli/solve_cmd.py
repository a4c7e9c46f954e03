"""`zeroloop solve RECORD`: the exact winner of a position and a winning move."""

from __future__ import annotations

from typing import Annotated

import typer

from zeroloop.games.board import IllegalMoveError
from zeroloop.games.trmph import TrmphError, cell_name, parse_position
from zeroloop.solver import Budget, Solver, position_after

# Exit status when the budget ran out before a proof (distinct from errors, 2).
EXIT_UNKNOWN = 3
_PLAYERS = ("black", "white")


def solve(
    record: Annotated[
        str,
        typer.Argument(
            help="A TRMPH record, URL or bare, e.g. '#5,c3' (quote it: '#' starts a shell comment)."
        ),
    ],
    nodes: Annotated[
        int | None,
        typer.Option("--budget", "--nodes", help="Node budget: positions searched before giving up."),
    ] = 2_000_000,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Time budget in seconds (default: none).")
    ] = None,
) -> None:
    """Solve a Hex position exactly: side to move, winner, a winning move.

    Prints `to play: black|white`, `winner: black|white` (black is the first
    player, top to bottom) and, when the side to move wins, `move: CELL`.
    Meant for small boards (every 5x5 position, 7x7 with about 16 empty
    cells); see docs/solver.md. The swap move is not searched.

    Exit status: 0 solved, 2 bad record, 3 unknown (the budget ran out first).

    Example: zeroloop solve '#5,a1' --budget 100000
    """
    try:
        size, moves, swap = parse_position(record)
        board, to_play = position_after(size, moves, swap=swap)
    except (TrmphError, IllegalMoveError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    result = Solver(size).solve(board, to_play, Budget(nodes=nodes, seconds=seconds))
    typer.echo(f"to play: {_PLAYERS[to_play]}")
    if result.winner is None:
        typer.echo(f"winner: unknown (budget ran out after {result.nodes} nodes, {result.seconds:.1f} s)")
        raise typer.Exit(EXIT_UNKNOWN)
    typer.echo(f"winner: {_PLAYERS[result.winner]}")
    if result.move is not None:
        typer.echo(f"move: {cell_name(result.move, size)}")
    typer.echo(f"nodes: {result.nodes}  seconds: {result.seconds:.2f}")
