"""Position shards: Arrow IPC files (`.feather`, Feather v2) in `position_shard_schema(N)`.

Why Arrow IPC rather than Parquet: shards are written and read several times per
generation (preprocess, scatter, shuffle, loader) and IPC costs no encoding, can be
memory-mapped, and its buffers take lz4/zstd compression, which shrinks the mostly-zero
policy columns ~5x. `.feather` keeps them apart from `.arrow` game chunks, so no scanner
can mistake one for the other; pandas, polars and DuckDB read them as they are.
A shard holds record batches of BATCH_ROWS (16,384) rows, so readers can stream it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from zeroloop.data.atomic import atomic_path
from zeroloop.data.checksum import (
    ChecksumError,
    is_checksummed,
    read_checked,
    sniff_format,
    with_checksum_marker,
    write_checked,
)
from zeroloop.data.schemas import (
    POSITION_SHARD_FORMAT,
    legacy_position_shard_schema,
    position_shard_schema,
)

if TYPE_CHECKING:  # positions imports the JAX env; the shuffle and loader need not load JAX
    from zeroloop.data.positions import PositionArrays

# Rows per record batch. Preprocess builds positions in blocks of this size and the
# loader reads whole batches, so shards are written without copying and read without
# decoding more than a few batches beyond what a block needs.
BATCH_ROWS = 16_384


class ShardError(ValueError):
    """A file is not a position shard for this stage (another format, schema or board size)."""


class ShardCorrupt(ShardError):
    """A position shard is damaged: unreadable structure, undecodable body, checksum mismatch."""


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    """[P, K] numpy -> fixed_size_list<K> without copying."""
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def positions_to_batch(pos: PositionArrays, game_ids: pa.Array, board_size: int) -> pa.RecordBatch:
    """PositionArrays -> a record batch of the shard schema.

    game_ids: string array [G] of the batch's games; positions refer to it by `pos.game`.
    """
    ids = game_ids.take(pa.array(pos.game))
    arrays = [
        _fixed(np.ascontiguousarray(pos.board, dtype=np.int8)),
        pa.array(pos.swap_legal),
        _fixed(np.ascontiguousarray(pos.policy, dtype=np.float32)),
        pa.array(pos.value.astype(np.float32)),
        pa.array(pos.q.astype(np.float32)),
        pa.array(pos.weight.astype(np.float32)),
        _fixed(np.ascontiguousarray(pos.final_board, dtype=np.int8)),
        ids,
        pa.array(pos.ply.astype(np.int16)),
        pa.array(pos.game_length.astype(np.int16)),
        pa.array(pos.policy_weight.astype(np.float32)),
    ]
    return pa.record_batch(arrays, schema=position_shard_schema(board_size))


def write_options(compression: str) -> ipc.IpcWriteOptions:
    return ipc.IpcWriteOptions(compression=None if compression == "none" else compression)


class ShardWriter:
    """Streams rows into one shard, renamed into place on a clean exit.

    Every record batch but the last holds exactly BATCH_ROWS rows (small writes are
    coalesced, large ones split), so a reader finds row r in batch r // BATCH_ROWS
    without decoding the others (`batch_rows`). Nothing is created when no rows were
    written (an empty test split leaves no file); `path` is then None.
    """

    def __init__(self, path: str | os.PathLike[str], board_size: int, compression: str = "lz4") -> None:
        self.final = Path(path)
        self.schema = with_checksum_marker(position_shard_schema(board_size))
        self.options = write_options(compression)
        self.rows = 0
        self.path: Path | None = None
        self._ctx = None
        self._sink: pa.OSFile | None = None
        self._writer: ipc.RecordBatchFileWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._batches = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        batches = batch.to_batches() if isinstance(batch, pa.Table) else [batch]
        self._pending += [b for b in batches if b.num_rows]
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= BATCH_ROWS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if self._writer is None:
            self._ctx = atomic_path(self.final)
            tmp = self._ctx.__enter__()
            self._sink = pa.OSFile(str(tmp), "wb")
            self._writer = ipc.new_file(self._sink, self.schema, options=self.options)
        if len(self._pending) == 1 and self._pending[0].num_rows == BATCH_ROWS:
            table = pa.Table.from_batches(self._pending)
        else:
            # One copy to cut the pending rows into whole BATCH_ROWS batches.
            table = pa.Table.from_batches(self._pending, schema=self.schema).combine_chunks()
        full = table.num_rows if final else table.num_rows // BATCH_ROWS * BATCH_ROWS
        for start in range(0, full, BATCH_ROWS):
            for b in table.slice(start, min(BATCH_ROWS, full - start)).to_batches():
                write_checked(self._writer, b, self._batches)
                self._batches += 1
        rest = table.slice(full)
        self._pending = rest.to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self._pending_rows:
            self._flush(final=True)
        if self._writer is None:
            return
        try:
            self._writer.close()
            self._sink.close()
        finally:
            # The atomic context renames on success and deletes the temporary on error.
            self._ctx.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.path = self.final


class ShardReader:
    """An open shard: schema and row counts from the footer, batches checked as read.

    Same interface as the part of `pyarrow.ipc.RecordBatchFileReader` the stages use;
    `get_batch` verifies the batch's checksum (raising ShardCorrupt), so no reader can
    take garbled rows. `checksummed` is False for a shard written before checksums.
    """

    def __init__(self, reader: ipc.RecordBatchFileReader, path: str) -> None:
        self._reader = reader
        self.path = path
        self.schema = reader.schema
        self.num_record_batches = reader.num_record_batches
        self.checksummed = is_checksummed(reader.schema)

    def count_rows(self) -> int:
        return int(self._reader.count_rows())

    def get_batch(self, i: int) -> pa.RecordBatch:
        try:
            return read_checked(self._reader, i, self.path)
        except ChecksumError as exc:
            raise ShardCorrupt(str(exc)) from None

    def read_all(self) -> pa.Table:
        batches = [self.get_batch(i) for i in range(self.num_record_batches)]
        return pa.Table.from_batches(batches, schema=self.schema)

    def verify(self) -> int:
        """Decode and check every batch (one at a time); returns the rows."""
        return sum(self.get_batch(i).num_rows for i in range(self.num_record_batches))


def open_shard(path: str | os.PathLike[str], board_size: int | None = None) -> ShardReader:
    """Open a shard (memory-mapped) after checking its format and, if given, board size.

    Raises ShardCorrupt for a damaged file and ShardError for a file that is fine but not
    a shard for this stage (Parquet, another Arrow file, another board size).
    """
    kind = sniff_format(str(path))
    if kind != "arrow":
        # Parquet or an Arrow stream is another kind of file (skipped); anything else
        # with our suffix is taken for a damaged one (set aside).
        cls = ShardCorrupt if kind == "unknown" else ShardError
        raise cls(f"{path}: not a position shard (file looks like {kind}, expected Arrow IPC)")
    try:
        reader = ipc.open_file(pa.memory_map(str(path), "r"))
    except (OSError, pa.ArrowInvalid) as exc:
        raise ShardCorrupt(f"{path}: unreadable position shard: {exc}") from None
    meta = reader.schema.metadata or {}
    fmt = meta.get(b"format", b"").decode(errors="replace")
    if fmt != POSITION_SHARD_FORMAT:
        raise ShardError(f"{path}: not a position shard (format {fmt!r}, expected {POSITION_SHARD_FORMAT!r})")
    try:
        size = int(meta.get(b"board_size", b"0"))
    except ValueError:
        raise ShardCorrupt(f"{path}: position shard with an unreadable board_size") from None
    if board_size is not None and size != board_size:
        raise ShardError(f"{path}: shard holds {size}x{size} positions, expected {board_size}x{board_size}")
    layouts = () if not 2 <= size <= 19 else (position_shard_schema(size), legacy_position_shard_schema(size))
    if not any(reader.schema.equals(x, check_metadata=False) for x in layouts):
        raise ShardError(f"{path}: position shard schema differs from {POSITION_SHARD_FORMAT}")
    return ShardReader(reader, str(path))


def shard_board_size(path: str | os.PathLike[str]) -> int:
    return int((open_shard(path).schema.metadata or {})[b"board_size"])


def shard_rows(path: str | os.PathLike[str]) -> int:
    """Rows in a shard, from its batch headers only (no decompression)."""
    return int(open_shard(path).count_rows())


def batch_rows(reader: ShardReader) -> int | None:
    """BATCH_ROWS if every batch but the last has exactly that many rows, else None.

    Shards written by ShardWriter always do; the check (batch count against row count)
    reads no batch, so a reader can seek straight to the batches it needs.
    """
    rows = reader.count_rows()
    if rows and reader.num_record_batches == -(-rows // BATCH_ROWS):
        return BATCH_ROWS
    return None


def iter_batches(path: str | os.PathLike[str], board_size: int | None = None) -> Iterator[pa.RecordBatch]:
    reader = open_shard(path, board_size)
    for i in range(reader.num_record_batches):
        yield reader.get_batch(i)


def read_shard(path: str | os.PathLike[str], board_size: int | None = None) -> pa.Table:
    """The whole shard as a table, every batch verified; raises ShardError/ShardCorrupt."""
    return open_shard(path, board_size).read_all()


def fixed_column(table: pa.Table | pa.RecordBatch, name: str, width: int, dtype: type) -> np.ndarray:
    """A fixed_size_list column as a [rows, width] numpy array (zero-copy when possible)."""
    col = table.column(name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    # flatten() honours the array's offset (a sliced batch); .values would not.
    values = col.flatten().to_numpy(zero_copy_only=False)
    return values.astype(dtype, copy=False).reshape(len(col), width)
