"""`zeroloop games export`: self-play game chunks as TRMPH and SGF for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from zeroloop.cli.common import TYPER_SETTINGS, console

app = typer.Typer(
    help="Game chunks out to other tools (TRMPH, SGF for HexGUI). See docs/trmph.md.",
    no_args_is_help=True,
    **TYPER_SETTINGS,
)


@app.command("export")
def export(
    inputs: Annotated[
        list[Path],
        typer.Argument(metavar="CHUNKS", help="Game chunk files (.arrow) or folders (searched below)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")] = Path(
        "exported-games"
    ),
    formats: Annotated[
        str, typer.Option("--format", "-f", metavar="trmph,sgf", help="What to write: trmph, sgf or both.")
    ] = "trmph,sgf",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Export at most N games.")] = None,
) -> None:
    """Write OUT/games.trmph (one line per game) and OUT/sgf/*.sgf (one game per file).

    The SGF files are Hex SGF as HexGUI writes them (FF[4] GM[11] SZ[N], B[a1] W[..],
    the swap as W[swap-pieces], RE[B+] or RE[W+]); open one with HexGUI's File > Open.

    \b
    Example:
      zeroloop games export runs/quick/selfplay/gen-0003 --out games-gen3
      zeroloop games export runs/quick/selfplay --format sgf --limit 20
    """
    from zeroloop.data.chunks import ChunkError
    from zeroloop.data.game_export import FORMATS, export_games

    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        typer.echo(f"error: --format {formats!r}: choose trmph, sgf or trmph,sgf", err=True)
        raise typer.Exit(2)
    try:
        summary = export_games(inputs, out, chosen, limit)
    except (FileNotFoundError, ChunkError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=f"games export -> {out}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in summary.table_rows():
        table.add_row(name, value)
    console.print(table)
