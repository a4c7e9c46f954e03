"""Content checksums of Arrow IPC files (game chunks, position shards, shuffle buckets).

Arrow checks a file's footer and message structure, not its data: flipped bytes in an
uncompressed body pass silently (garbled policy targets), and in a compressed body they
surface as a raw `OSError: LZ4 decompress failed` deep inside a reader. So every record
batch we write carries a CRC-32 of its content in the batch's own custom metadata
(`zeroloop.crc32`, 8 hex digits), and the schema metadata says the file is checksummed
(`zeroloop.checksum: crc32-buffers/1`). Both live inside the file, so they cannot get
separated from it, and a streaming writer needs to know nothing in advance.

What the CRC covers, for batch i of a file: the text `"{i}:{num_rows}:{null counts}"`
and then every data buffer of every column (children included, Arrow's `buffers()`
order) as it is after decoding - i.e. the batch as a reader sees it, whatever the
compression. The writer computes it on the batch exactly as it will read back (sliced
arrays are normalised through one IPC round trip), the reader over the decoded buffers
without copying (zlib.crc32: 0.3-1.4 GB/s; docs/data-formats.md). The batch index in
the text catches batches that were reordered; the row count a corrupted length field.

Files without the schema marker were written before checksums existed: they are read
as before (structure checks only) and reported as `unverified` (`is_checksummed`).
A file with the marker whose batch lacks its CRC, or whose CRC differs, raises
`ChecksumError`.
"""

from __future__ import annotations

import zlib

import pyarrow as pa
import pyarrow.ipc as ipc

CHECKSUM_KEY = b"zeroloop.checksum"
CHECKSUM_KIND = b"crc32-buffers/1"
BATCH_CRC_KEY = b"zeroloop.crc32"


class ChecksumError(ValueError):
    """A record batch's content does not match the checksum stored with it."""


def with_checksum_marker(schema: pa.Schema) -> pa.Schema:
    """`schema` with the schema-level marker saying every batch carries a CRC."""
    return schema.with_metadata({**(schema.metadata or {}), CHECKSUM_KEY: CHECKSUM_KIND})


def is_checksummed(schema: pa.Schema) -> bool:
    """Whether a file's schema says its batches carry CRCs (False: a legacy file)."""
    return (schema.metadata or {}).get(CHECKSUM_KEY) == CHECKSUM_KIND


def batch_crc(batch: pa.RecordBatch, index: int) -> int:
    """CRC-32 of batch `index` as a reader decodes it (see the module docstring).

    The batch must have no slice offset (what readers get); `write_checked` takes care
    of that on the writing side.
    """
    nulls = ",".join(str(col.null_count) for col in batch.columns)
    crc = zlib.crc32(f"{index}:{batch.num_rows}:{nulls}".encode())
    for col in batch.columns:
        for buf in col.buffers():
            if buf is not None and buf.size:
                crc = zlib.crc32(memoryview(buf), crc)
    return crc


def _as_read_back(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch as an IPC reader will see it: offsets zero, buffers trimmed.

    A batch built by slicing holds its parent's whole buffers; one IPC round trip (a
    copy, zero-copy to read back) is the layout-proof way to hash what will be read.
    """
    return ipc.read_record_batch(batch.serialize(), batch.schema)


def write_checked(writer: ipc.RecordBatchFileWriter, batch: pa.RecordBatch, index: int) -> None:
    """Write `batch` as batch `index` of the file, with its CRC in the batch metadata."""
    crc = batch_crc(_as_read_back(batch), index)
    writer.write_batch(batch, custom_metadata={BATCH_CRC_KEY: f"{crc:08x}".encode()})


def read_checked(reader: ipc.RecordBatchFileReader, index: int, path: str) -> pa.RecordBatch:
    """Batch `index` of an open file, its CRC verified when the file is checksummed.

    Raises ChecksumError naming the file and batch; a body that cannot be decoded at all
    (a corrupt compressed buffer) is reported the same way, since it is the same fault.
    """
    try:
        batch, meta = reader.get_batch_with_custom_metadata(index)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChecksumError(f"{path}: record batch {index} cannot be decoded: {exc}") from None
    if not is_checksummed(reader.schema):
        return batch
    stored = None if meta is None else meta.get(BATCH_CRC_KEY)
    if stored is None:
        raise ChecksumError(f"{path}: record batch {index} has no checksum")
    actual = f"{batch_crc(batch, index):08x}".encode()
    if stored != actual:
        raise ChecksumError(
            f"{path}: checksum mismatch in record batch {index} "
            f"(stored {stored.decode(errors='replace')}, content {actual.decode()})"
        )
    return batch


def read_all_checked(reader: ipc.RecordBatchFileReader, path: str) -> pa.Table:
    """Every batch of an open file, verified, as one table."""
    batches = [read_checked(reader, i, path) for i in range(reader.num_record_batches)]
    return pa.Table.from_batches(batches, schema=reader.schema)


def write_table_checked(
    path: str, table: pa.Table, schema: pa.Schema, options: ipc.IpcWriteOptions | None = None
) -> None:
    """Write `table` as an Arrow IPC file at `path` (not atomic: give it a temporary name)."""
    marked = with_checksum_marker(schema)
    with pa.OSFile(path, "wb") as sink, ipc.new_file(sink, marked, options=options) as w:
        for i, batch in enumerate(table.to_batches()):
            write_checked(w, batch, i)


def sniff_format(path: str) -> str:
    """What a file looks like from its first bytes: "arrow" (IPC file), "arrow-stream",
    "parquet", or "unknown" - so a file of another kind is reported as such rather than
    taken for a damaged one."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return "unknown"
    if head.startswith(b"ARROW1"):
        return "arrow"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xff\xff\xff\xff"):
        return "arrow-stream"
    return "unknown"
