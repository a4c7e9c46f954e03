"""Game chunks out to other tools: one TRMPH file and one SGF file per game (HexGUI).

    OUT/games.trmph          one `<record> <1|2>` line per game (docs/trmph.md)
    OUT/sgf/NNNNNN-ID.sgf    one SGF game per file, FF[4] GM[11] (zeroloop.games.sgf)

Games keep the order of the chunks (sorted by path) and of the rows in each chunk;
the SGF files are numbered in that order and named by game id, so running the export
again writes the same files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zeroloop.data.chunks import GameRecord, read_game_chunk
from zeroloop.data.sources import GAME_CHUNK_SUFFIX, scan_files
from zeroloop.games.sgf import format_sgf, write_sgf_file
from zeroloop.games.trmph_file import write_trmph_file

FORMATS = ("trmph", "sgf")


@dataclass
class ExportSummary:
    """What an export wrote."""

    chunks: int = 0
    games: int = 0
    trmph: str | None = None
    sgf_dir: str | None = None
    sgf_files: int = 0
    board_sizes: list[int] = field(default_factory=list)

    def table_rows(self) -> list[tuple[str, str]]:
        rows = [("chunks read", f"{self.chunks:,}"), ("games", f"{self.games:,}")]
        rows.append(("board sizes", ", ".join(str(n) for n in self.board_sizes) or "-"))
        if self.trmph:
            rows.append(("trmph", self.trmph))
        if self.sgf_dir:
            rows.append(("sgf", f"{self.sgf_files:,} file(s) in {self.sgf_dir}"))
        return rows


def iter_chunk_games(
    inputs: Sequence[str | os.PathLike[str]], limit: int | None = None
) -> Iterator[tuple[Path, GameRecord]]:
    """(chunk path, game) for every game of the chunks under `inputs`, up to `limit`."""
    seen = 0
    for path in scan_files(inputs, [GAME_CHUNK_SUFFIX]):
        for game in read_game_chunk(path):
            if limit is not None and seen >= limit:
                return
            seen += 1
            yield path, game


def _sgf_properties(game: GameRecord, chunk: Path) -> dict[str, str]:
    props = {"GN": game.game_id, "GC": f"zeroloop game chunk {chunk.name}"}
    if game.model_id:
        props["PB"] = props["PW"] = str(game.model_id)  # self-play: one model plays both sides
    if game.search:
        props["GC"] += f"; search {game.search}"
    return props


def export_games(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    formats: Sequence[str] = FORMATS,
    limit: int | None = None,
) -> ExportSummary:
    """Write the games of the chunks under `inputs` as TRMPH and/or SGF into `out`.

    Raises FileNotFoundError for a missing input, ChunkError for an unreadable chunk
    and ValueError for an unknown format or when there are no chunks at all.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"--format {','.join(formats)}: choose from {', '.join(FORMATS)}")
    if not scan_files(inputs, [GAME_CHUNK_SUFFIX]):
        raise ValueError(f"no game chunks ({GAME_CHUNK_SUFFIX}) under {[str(i) for i in inputs]}")
    out = Path(out)
    summary = ExportSummary()
    games: list[GameRecord] = []
    chunks: set[Path] = set()
    sgf_dir = out / "sgf"
    for i, (chunk, game) in enumerate(iter_chunk_games(inputs, limit)):
        chunks.add(chunk)
        games.append(game)
        if "sgf" in formats:
            text = format_sgf(game.board_size, game.moves, game.winner, _sgf_properties(game, chunk))
            write_sgf_file(sgf_dir / f"{i + 1:06d}-{game.game_id}.sgf", text)
            summary.sgf_files += 1
    if "trmph" in formats:
        summary.trmph = str(write_trmph_file(out / "games.trmph", games, url=True))
    if "sgf" in formats:
        summary.sgf_dir = str(sgf_dir)
    summary.chunks = len(chunks)
    summary.games = len(games)
    summary.board_sizes = sorted({int(g.board_size) for g in games})
    return summary
