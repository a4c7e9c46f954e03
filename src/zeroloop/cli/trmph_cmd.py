"""`zeroloop trmph check|show`: validate TRMPH game files and look at a game."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.text import Text

from zeroloop.cli.common import TYPER_SETTINGS, console
from zeroloop.games import board as hexboard
from zeroloop.games.trmph import TrmphError, TrmphGame, TrmphIssue, format_record
from zeroloop.games.trmph_file import read_trmph_file

app = typer.Typer(
    help=(
        "Check and show TRMPH game files (one record a line, e.g. "
        "'http://www.trmph.com/hex/board#11,a1b2c3 1'). See docs/trmph.md."
    ),
    no_args_is_help=True,
    **TYPER_SETTINGS,
)

# X (first player) connects the lettered edges, top and bottom; O (second player)
# connects the numbered edges, left and right. Colours only help on a terminal;
# the letters X/O and the edge marks carry the meaning without them.
X_STYLE = "bold red"
O_STYLE = "bold blue"
_STONES = {1: ("X", X_STYLE), -1: ("O", O_STYLE), 0: (".", "dim")}
_NAMES = ("X (first player)", "O (second player)")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for the *.trmph files under it, sorted."""
    out: list[Path] = []
    for p in paths:
        # An empty directory stays in the list so that it is reported, not ignored.
        out.extend((sorted(p.rglob("*.trmph")) or [p]) if p.is_dir() else [p])
    return out


def _read_or_reason(path: Path) -> tuple[list[TrmphGame], list[TrmphIssue]] | str:
    """The file's games and issues, or why it cannot be read at all."""
    if path.is_dir():
        # check expands directories, so it only gets here for one without game files.
        return "is a directory" + ("" if any(path.rglob("*.trmph")) else " with no *.trmph files")
    try:
        return read_trmph_file(path)
    except TrmphError as exc:
        return exc.reason
    except OSError as exc:
        return exc.strerror or str(exc)


@app.command("check")
def check(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE", help="TRMPH files to check; a directory means every *.trmph file under it."
        ),
    ],
) -> None:
    """Check TRMPH game files; list each bad record as PATH:LINE: reason.

    A record is bad when it cannot be read (bad coordinate, unsupported board
    size, unreadable result), breaks the rules (cell off the board, occupied
    cell, swap other than at move 2, a move after the game ended), or has no
    trustworthy winner (a result that contradicts the final position, or an
    unfinished game without a result). Blank lines and '#' comments are
    skipped. The last line is a summary.

    Exit status: 0 all records good, 1 some bad, 2 a file could not be read.

    Example: zeroloop trmph check games/*.trmph
    """
    total_good = total_bad = unreadable = 0
    paths = _expand(files)
    for path in paths:
        result = _read_or_reason(path)
        if isinstance(result, str):
            typer.echo(f"{path}: {result}")
            unreadable += 1
            continue
        games, issues = result
        for issue in issues:
            typer.echo(str(issue))
        total_good += len(games)
        total_bad += len(issues)
    summary = (
        f"{_plural(total_good + total_bad, 'record')}, {total_good} good, {total_bad} bad "
        f"in {_plural(len(paths), 'file')}"
    )
    if unreadable:
        summary += f" ({unreadable} unreadable)"
    typer.echo(summary)
    if unreadable:
        raise typer.Exit(2)
    if total_bad:
        raise typer.Exit(1)


def _split_location(spec: str) -> tuple[Path, int | None]:
    """FILE or FILE:LINE; a path that exists as given wins over the LINE reading."""
    path = Path(spec)
    if not path.exists() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        if tail.isdigit():
            return Path(head), int(tail)
    return path, None


def render_board(cells: np.ndarray, last: int | None = None) -> Text:
    """Draw an int8 [N, N] board (+1 X, -1 O) as a rhombus, one row per line.

    Each row is shifted half a cell further right, so a cell's six neighbours sit
    around it as on a real Hex board. Letters name columns and mark X's edges (top and
    bottom); numbers name rows and mark O's edges (left and right). `last`, a cell
    index, is underlined.
    """
    n = cells.shape[0]
    width = len(str(n))
    margin = 4  # room for the "O" edge mark left of the middle row
    letters = " ".join(chr(97 + c) for c in range(n))
    out = Text()

    def edge_mark(indent: int, mark: str, style: str) -> None:
        out.append(" " * (indent + n - 1) + mark + "\n", style=style)

    top_indent = margin + width + 1
    bottom_indent = margin + (n - 1) + width + 1
    edge_mark(top_indent, "X", X_STYLE)
    out.append(" " * top_indent + letters + "\n", style=X_STYLE)
    for r in range(n):
        side = "O" if r == n // 2 else " "
        out.append(side, style=O_STYLE)
        out.append(" " * (margin - 1 + r))
        out.append(f"{r + 1:>{width}} ", style=O_STYLE)
        for c in range(n):
            symbol, style = _STONES[int(cells[r, c])]
            if last == r * n + c:
                style += " underline reverse"
            out.append(symbol, style=style)
            if c < n - 1:
                out.append(" ")
        out.append(f" {r + 1}", style=O_STYLE)
        if r == n // 2:
            out.append("  O", style=O_STYLE)
        out.append("\n")
    out.append(" " * bottom_indent + letters + "\n", style=X_STYLE)
    edge_mark(bottom_indent, "X", X_STYLE)
    return out


@app.command("show")
def show(
    location: Annotated[
        str,
        typer.Argument(
            metavar="FILE[:LINE]",
            help="TRMPH file, optionally with the line of the game; default: the first good game.",
        ),
    ],
    ply: Annotated[
        int | None,
        typer.Option(
            "--ply", "-p", min=0, help="Show the position after this many moves (default: the end)."
        ),
    ] = None,
) -> None:
    """Draw a game's final board in the terminal, with moves and winner.

    X, the first player, connects top and bottom (the lettered edges); O, the
    second player, connects left and right (the numbered edges). The last move
    is underlined. Letter = column (a = left), number = row (1 = top).

    Exit status: 0 shown, 1 no good game at that line, 2 unreadable file.

    Example: zeroloop trmph show games/old.trmph:17 --ply 20
    """
    path, line = _split_location(location)
    result = _read_or_reason(path)
    if isinstance(result, str):
        typer.echo(f"{path}: {result}")
        raise typer.Exit(2)
    games, issues = result
    if line is None:
        if not games:
            typer.echo(f"{path}: no good game in the file ({_plural(len(issues), 'bad record')})")
            raise typer.Exit(1)
        game = games[0]
    else:
        found = [g for g in games if g.line == line]
        if not found:
            bad = [i for i in issues if i.line == line]
            typer.echo(str(bad[0]) if bad else f"{path}:{line}: no game on this line")
            raise typer.Exit(1)
        game = found[0]

    n = game.board_size
    shown = len(game.moves) if ply is None else min(ply, len(game.moves))
    boards = hexboard.replay(n, game.moves, swap=game.swap, check_end=False)
    cells = boards[shown]
    last: int | None = None
    if shown:
        move = game.moves[shown - 1]
        # After a swap the stone that moved is the mirrored one.
        last = int(np.flatnonzero(cells.reshape(-1))[0]) if move == n * n else move
    on_board = hexboard.winner(boards[-1])

    console.print(f"{path}:{game.line}  {n}x{n}", markup=False, highlight=False)
    console.print(render_board(cells, last), end="")
    moves_text = str(len(game.moves))
    if game.swap:
        moves_text += ", swap at move 2"
    if shown != len(game.moves):
        moves_text += f", showing the position after move {shown}"
    console.print(f"moves: {moves_text}", markup=False, highlight=False)
    if on_board is not None:
        how = "connected top to bottom" if on_board == 0 else "connected left to right"
    else:
        how = "by the result column (the game was not played out)"
    console.print(f"winner: {_NAMES[game.winner]}, {how}", markup=False, highlight=False)
    console.print(
        f"record: {format_record(n, game.moves, game.winner, url=True)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
