"""The two kinds of work preprocessing hands to worker processes.

- `read_source`: one input file -> checked games (a GameBatch) and bad records, or the
  reason the whole file is unreadable (the caller quarantines it).
- `chunk_to_positions`: one combined game chunk -> train and test position shards.

Both are plain top-level functions of picklable arguments, so they run the same in a
ProcessPoolExecutor and inline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from zeroloop.config.data import DiffFocusConfig, RescoreConfig
from zeroloop.data.chunks import ChunkCorrupt, ChunkError, read_game_chunk_checked, read_game_chunk_table
from zeroloop.data.gamebatch import GameBatch, empty_batch, from_chunk_table, from_trmph_games
from zeroloop.data.positions import augment, diff_focus_keep, is_test_game, iter_position_blocks
from zeroloop.data.records import BadRecord
from zeroloop.data.rescore import rescore_positions
from zeroloop.data.shards import BATCH_ROWS, ShardWriter, positions_to_batch
from zeroloop.data.sources import Source


@dataclass
class SourceResult:
    """What one input file gave: games, records read, bad records, or a fatal error.

    error: why the file gave nothing. corrupt: the file is damaged (set aside in
    quarantine) rather than sound but not for this stage (skipped, left alone).
    unverified: a chunk written before checksums existed (structure checks only).
    """

    source: Source
    batch: GameBatch
    records: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    error: str | None = None
    corrupt: bool = True
    unverified: bool = False


def read_source(source: Source, board_size: int, swap_rule: bool) -> SourceResult:
    """Read and check one game chunk or TRMPH file.

    A file that cannot be read at all (damaged, checksum mismatch, not text, I/O error)
    or a TRMPH file in which no record is readable comes back with `error` set; a sound
    file that is not a game chunk (Parquet, another Arrow file) with `corrupt=False`
    too. A TRMPH file with some bad lines keeps its good games and lists the bad ones.
    """
    path = str(source.path)
    try:
        if source.kind == "chunk":
            try:
                table, verified = read_game_chunk_checked(path)
            except ChunkCorrupt as exc:
                return SourceResult(source, empty_batch(board_size), error=str(exc))
            except ChunkError as exc:
                return SourceResult(source, empty_batch(board_size), error=str(exc), corrupt=False)
            batch, rows, bad = from_chunk_table(table, board_size, path)
            return SourceResult(source, batch, rows, bad, unverified=not verified)
        from zeroloop.games.trmph import TrmphError
        from zeroloop.games.trmph_file import read_trmph_file

        try:
            games, issues = read_trmph_file(path)
        except TrmphError as exc:
            return SourceResult(source, empty_batch(board_size), error=str(exc))
        bad = [BadRecord(f"{i.path}:{i.line}", i.reason) for i in issues]
        if issues and not games:
            return SourceResult(
                source,
                empty_batch(board_size),
                len(issues),
                bad,
                error=f"no readable TRMPH record ({len(issues)} bad, first: {issues[0]})",
            )
        batch, size_bad = from_trmph_games(games, board_size, swap_rule, path)
        return SourceResult(source, batch, len(games) + len(issues), bad + size_bad)
    except (ChunkError, OSError, pa.ArrowInvalid, UnicodeDecodeError, ValueError) as exc:
        return SourceResult(source, empty_batch(board_size), error=str(exc))


@dataclass(frozen=True)
class PositionSettings:
    """Everything `chunk_to_positions` needs besides the chunk (picklable)."""

    board_size: int
    selector: str
    augmentation: str
    test_fraction: float
    seed: int
    compression: str
    diff_focus: DiffFocusConfig
    rescore: RescoreConfig = field(default_factory=RescoreConfig)


@dataclass
class ChunkResult:
    index: int
    games: int = 0
    train_games: int = 0
    test_games: int = 0
    train_positions: int = 0
    test_positions: int = 0
    dropped_diff_focus: int = 0
    rescored_values: int = 0
    train_path: str | None = None
    test_path: str | None = None

    def to_dict(self) -> dict:
        return dict(vars(self))


def shard_name(index: int) -> str:
    return f"chunk-{index:05d}.feather"


def chunk_to_positions(chunk_path: str, index: int, out_dir: str, s: PositionSettings) -> ChunkResult:
    """Turn combined game chunk `index` into `out_dir/{train,test}/chunk-<index>.feather`.

    Randomness (random augmentation, diff focus) is seeded by (seed, index), so a
    resumed run writes the same shards again.
    """
    batch, _, _ = from_chunk_table(read_game_chunk_table(chunk_path), s.board_size, chunk_path, check=False)
    rng = np.random.default_rng([s.seed, index])
    test = is_test_game(batch.game_ids, s.test_fraction)
    ids = pa.array(batch.game_ids, pa.string())
    result = ChunkResult(index, games=batch.num_games)
    result.test_games = int(test.sum())
    result.train_games = batch.num_games - result.test_games
    out = Path(out_dir)
    name = shard_name(index)
    with (
        ShardWriter(out / "train" / name, s.board_size, s.compression) as train,
        ShardWriter(out / "test" / name, s.board_size, s.compression) as held_out,
    ):
        # Split by game before making positions: no position-level copies.
        for writer, mask in ((train, ~test), (held_out, test)):
            if not mask.any():
                continue
            part = batch if mask.all() else batch.take(np.flatnonzero(mask))
            part_ids = ids if mask.all() else pa.array(part.game_ids, pa.string())
            for pos in iter_position_blocks(part, s.selector, block_rows=BATCH_ROWS):
                keep = diff_focus_keep(pos, s.diff_focus, rng)
                result.dropped_diff_focus += int((~keep).sum())
                if not keep.all():
                    pos = pos.take(np.flatnonzero(keep))
                pos, rescored = rescore_positions(pos, s.board_size, s.rescore)
                result.rescored_values += rescored.value_changed
                pos = augment(pos, s.augmentation, s.board_size, rng)
                writer.write(positions_to_batch(pos, part_ids, s.board_size))
    result.train_positions, result.test_positions = train.rows, held_out.rows
    result.train_path = str(train.path) if train.path else None
    result.test_path = str(held_out.path) if held_out.path else None
    return result
