"""The two passes of the bucket shuffle, as worker functions of picklable arguments.

Pass 1 (`scatter_input`): stream one input shard and send every row to one of K
buckets chosen uniformly at random, appending to `buckets/bucket-B/in-I.arrow`.
Pass 2 (`shuffle_bucket`): load one bucket, permute it, write output shards.

Why this is a uniform shuffle: give every row an independent uniform key in [0, 1);
sorting by key is a uniformly random permutation. The bucket is floor(K * key), and
inside a bucket the rows' keys are still i.i.d. uniform, so a random permutation of
the bucket is their order by key. Buckets in order, each permuted, is the sort.

Both passes are deterministic given (seed, input index) and (seed, bucket): a pass
redone after a kill writes the same files again, so nothing is lost or repeated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from zeroloop.data.atomic import atomic_path
from zeroloop.data.checksum import ChecksumError, read_all_checked, with_checksum_marker, write_checked
from zeroloop.data.schemas import position_shard_schema
from zeroloop.data.shards import ShardCorrupt, ShardWriter, iter_batches, write_options


def bucket_dir(tmp_dir: str | Path, bucket: int) -> Path:
    return Path(tmp_dir) / f"bucket-{bucket:05d}"


def scatter_file(tmp_dir: str | Path, bucket: int, input_index: int) -> Path:
    return bucket_dir(tmp_dir, bucket) / f"in-{input_index:06d}.arrow"


def output_name(bucket: int, part: int) -> str:
    return f"shard-{bucket:05d}-{part:04d}.feather"


class DamagedBucketPiece(ShardCorrupt):
    """A temporary bucket file of pass 1 is missing or unreadable.

    It is our own file and pass 1 is deterministic, so the caller can rebuild it by
    scattering input `input_index` again instead of failing on every rerun.
    """

    def __init__(self, message: str, input_index: int) -> None:
        super().__init__(message)
        self.input_index = input_index


def scatter_input(
    path: str, input_index: int, num_buckets: int, seed: int, tmp_dir: str, board_size: int, compression: str
) -> list[int]:
    """Scatter one input shard into the buckets; returns rows sent to each bucket [K].

    Every bucket gets a file (possibly empty), written atomically, so "input I is
    scattered" means exactly "all K files of input I exist".
    """
    rng = np.random.default_rng([seed, 0, input_index])
    schema = with_checksum_marker(position_shard_schema(board_size))
    options = write_options(compression)
    counts = np.zeros(num_buckets, dtype=np.int64)
    written = np.zeros(num_buckets, dtype=np.int64)  # batches per bucket file (checksum index)
    contexts, sinks, writers = [], [], []
    try:
        for b in range(num_buckets):
            ctx = atomic_path(scatter_file(tmp_dir, b, input_index))
            tmp = ctx.__enter__()
            contexts.append(ctx)
            sinks.append(pa.OSFile(str(tmp), "wb"))
            writers.append(ipc.new_file(sinks[-1], schema, options=options))
        for batch in iter_batches(path, board_size):
            buckets = rng.integers(num_buckets, size=batch.num_rows)
            order = np.argsort(buckets, kind="stable")
            per = np.bincount(buckets, minlength=num_buckets)
            counts += per
            grouped = batch.take(pa.array(order))
            ends = np.cumsum(per)
            for b in np.flatnonzero(per):
                write_checked(writers[b], grouped.slice(int(ends[b] - per[b]), int(per[b])), int(written[b]))
                written[b] += 1
        for w, s in zip(writers, sinks, strict=True):
            w.close()
            s.close()
    except BaseException as exc:
        for s in sinks:
            s.close()
        for ctx in contexts:
            ctx.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for ctx in contexts:
        ctx.__exit__(None, None, None)
    return counts.tolist()


def shuffle_bucket(
    bucket: int,
    inputs: list[int],
    seed: int,
    tmp_dir: str,
    out_dir: str,
    board_size: int,
    shard_size: int,
    compression: str,
) -> list[tuple[str, int]]:
    """Load bucket `bucket` (its files from the scattered `inputs`), permute, write shards.

    Returns [(shard file name, rows)]. Memory: the bucket's rows, about twice (the
    loaded table and its permuted copy). Raises DamagedBucketPiece when one of the
    inputs' files is missing or fails its checksum.
    """
    tables = []
    for i in inputs:
        f = scatter_file(tmp_dir, bucket, i)
        # Our own temporary files, checked too: a damaged bucket must not pass silently.
        try:
            with pa.memory_map(str(f), "r") as src:
                tables.append(read_all_checked(ipc.open_file(src), str(f)))
        except (OSError, pa.ArrowInvalid, ChecksumError) as exc:
            raise DamagedBucketPiece(f"{f}: damaged shuffle bucket file: {exc}", i) from None
    if not tables:
        return []
    # One contiguous table: Arrow's take is about twice as fast as over many chunks.
    table = pa.concat_tables(tables).combine_chunks()
    del tables  # copied into `table`; dropping them keeps the peak at two copies of the bucket
    if table.num_rows == 0:
        return []
    rng = np.random.default_rng([seed, 1, bucket])
    table = table.take(pa.array(rng.permutation(table.num_rows)))
    written = []
    for part, start in enumerate(range(0, table.num_rows, shard_size)):
        name = output_name(bucket, part)
        with ShardWriter(Path(out_dir) / name, board_size, compression) as w:
            w.write(table.slice(start, shard_size))
        written.append((name, w.rows))
    return written
