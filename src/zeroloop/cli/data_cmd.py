"""`zeroloop preprocess` and `zeroloop shuffle`: the data stages from the command line.

Option names follow seed 002's pipeline (`--chunk-size`, `--position-selector`,
`--max-workers`, `--num-buckets-shuffle`, `--no-cleanup`); each one is a shortcut for a
`--set data.…` / `--set shuffle.…` override, so the config stays the one source of truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zeroloop.cli.common import ConfigOption, SetOption, console, load_config_or_exit
from zeroloop.data.sources import NoUsableInput

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output directory (created if missing).")]
CleanupOption = Annotated[
    bool | None,
    typer.Option(
        "--cleanup/--no-cleanup", help="Remove intermediate files after success (default: data.cleanup)."
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be read and needed; write nothing.")
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--max-workers", "--max-workers-trmph", help="Parallel worker processes.", min=1),
]


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar, as a `progress(done, total)` callback."""
    bar = Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    with bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def print_summary(title: str, summary: Any, listed: int = 20) -> None:
    """The summary's scalar fields as a table, then bad records and quarantined files."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for name, value in summary.table_rows():
        table.add_row(name, value)
    console.print(table)
    bad = getattr(summary, "bad_records", [])
    if bad:
        console.print(f"[yellow]{len(bad)} bad record(s) skipped[/yellow] (all listed in summary.json):")
        for line in bad[:listed]:
            console.print(f"  {line}", markup=False, highlight=False)
        if len(bad) > listed:
            console.print(f"  … and {len(bad) - listed} more")
    for q in getattr(summary, "quarantined", []):
        where = f" (moved to {q['moved_to']})" if q.get("moved_to") else " (left in place)"
        console.print(f"[red]quarantined[/red] {q['source']}{where}: {q['reason']}", highlight=False)
    for s in getattr(summary, "skipped", [])[:listed]:
        console.print(f"[yellow]skipped[/yellow] {s['source']}: {s['reason']}", highlight=False)
    unverified = getattr(summary, "unverified_files", 0) or getattr(summary, "unverified_inputs", 0)
    if unverified:
        note = "written before checksums existed: structure checked only"
        console.print(f"[yellow]{unverified} input(s) {note}[/yellow]")


def _dict_table(title: str, data: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    for key, value in data.items():
        if isinstance(value, int) and key.endswith("bytes"):
            value = f"{value / 2**20:,.1f} MiB"
        elif isinstance(value, int):
            value = f"{value:,}"
        table.add_row(key, str(value))
    console.print(table)


def preprocess(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Game chunk (.arrow) and .trmph files or directories (searched recursively); "
            "default: data.trmph_dirs of the config."
        ),
    ] = None,
    out: OutOption = Path("positions"),
    config: ConfigOption = None,
    set_: SetOption = None,
    chunk_size: Annotated[int | None, typer.Option(help="Games per chunk (data.chunk_size).", min=1)] = None,
    position_selector: Annotated[
        str | None, typer.Option(help="all | final | penultimate (data.position_selector).")
    ] = None,
    augmentation: Annotated[str | None, typer.Option(help="none | random | all (data.augmentation).")] = None,
    max_workers: WorkersOption = None,
    dedupe_symmetric: Annotated[
        bool | None,
        typer.Option("--dedupe-symmetric/--no-dedupe-symmetric", help="Also drop rotated duplicates."),
    ] = None,
    cleanup: CleanupOption = None,
    dry_run: DryRunOption = False,
    watch: Annotated[
        float,
        typer.Option(help="Keep watching the inputs for new files until none came for this many seconds."),
    ] = 0.0,
) -> None:
    """Combine games, drop duplicates, turn them into training positions (OUT/train, OUT/test).

    Damaged input files (unreadable, checksum mismatch) are set aside with a reason file in
    OUT/quarantine (moved there only when the pipeline wrote them; your own files are never
    moved); a damaged chunk's games are read from its .trmph twin. Files that are not game
    chunks or TRMPH (e.g. Parquet) are skipped and listed; bad records are listed and
    skipped. Exits with status 1 when no usable game was found. Running again with the
    same inputs resumes (or returns at once when finished). Writes OUT/summary.json and
    prints it.
    """
    sets = list(set_ or [])
    for key, value in (
        ("chunk_size", chunk_size),
        ("position_selector", position_selector),
        ("augmentation", augmentation),
        ("max_workers", max_workers),
        ("dedupe_symmetric", dedupe_symmetric),
    ):
        if value is not None:
            sets.append(f"data.{key}={str(value).lower() if isinstance(value, bool) else value}")
    cfg = load_config_or_exit(config, sets)
    sources = [str(p) for p in inputs] if inputs else list(cfg.data.trmph_dirs)
    if not sources:
        typer.echo("error: no inputs given and data.trmph_dirs is empty", err=True)
        raise typer.Exit(2)
    from zeroloop.data.preprocess import preprocess_dry_run, run_preprocess

    try:
        if dry_run:
            _dict_table("preprocess (dry run)", preprocess_dry_run(cfg, sources))
            return
        with _progress_bar("preprocess") as bar:
            summary = run_preprocess(cfg, sources, out, cleanup=cleanup, progress=bar, watch_seconds=watch)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except NoUsableInput as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    print_summary(f"preprocess -> {out}", summary)


def shuffle(
    inputs: Annotated[list[Path], typer.Argument(help="Position shards (.feather) or directories of them.")],
    out: OutOption = Path("shuffled"),
    config: ConfigOption = None,
    set_: SetOption = None,
    num_buckets_shuffle: Annotated[
        int | None,
        typer.Option(
            "--num-buckets-shuffle", "--num-buckets", help="Buckets K (shuffle.num_buckets).", min=1
        ),
    ] = None,
    shard_size: Annotated[int | None, typer.Option(help="Positions per output shard.", min=1)] = None,
    max_workers: WorkersOption = None,
    window: Annotated[
        bool, typer.Option("--window/--no-window", help="Keep only the newest shards, per data.window.")
    ] = False,
    cleanup: CleanupOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Shuffle position shards uniformly with a two-pass bucket shuffle (memory ~ one bucket).

    Killed runs resume where they stopped when run again with the same arguments.
    Damaged shards (unreadable, checksum mismatch) are set aside in OUT/quarantine (moved
    only when the pipeline wrote them); shards of another board size and other files are
    skipped and listed; exits with status 1 when no usable shard was found.
    --dry-run prints the positions, buckets, disk and memory the shuffle will need.
    """
    sets = list(set_ or [])
    for key, value in (
        ("num_buckets", num_buckets_shuffle),
        ("shard_size", shard_size),
        ("max_workers", max_workers),
    ):
        if value is not None:
            sets.append(f"shuffle.{key}={value}")
    cfg = load_config_or_exit(config, sets)
    from zeroloop.data.shuffle import run_shuffle, shuffle_dry_run
    from zeroloop.data.window import chunk_infos, select_window

    sources: list[str] = [str(p) for p in inputs]
    try:
        if window:
            chosen = select_window(chunk_infos(sources), cfg.data.window)
            rows = sum(c.rows for c in chosen)
            console.print(f"window ({cfg.data.window.mode}): {len(chosen)} shard(s), {rows:,} positions")
            sources = [str(c.path) for c in chosen]
        if dry_run:
            _dict_table("shuffle (dry run)", shuffle_dry_run(cfg, sources))
            return
        with _progress_bar("shuffle") as bar:
            summary = run_shuffle(cfg, sources, out, cleanup=cleanup, progress=bar)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except NoUsableInput as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    print_summary(f"shuffle -> {out}", summary)
