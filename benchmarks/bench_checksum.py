"""What content checksums cost: writing and reading position shards with and without them.

    python benchmarks/bench_checksum.py [--board 11] [--batches 8] [--compression lz4]

Both variants run in the same process, interleaved, best of 3, so the ratio holds on a
loaded machine even when the absolute figures do not. "plain" is what the project did
before checksums (pyarrow's writer and reader alone); "checked" is ShardWriter (a CRC
per batch) and ShardReader.read_all (every batch verified).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from zeroloop.data.schemas import position_shard_schema
from zeroloop.data.shards import BATCH_ROWS, ShardWriter, open_shard, write_options


def make_table(n: int, rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    c = n * n
    policy = np.zeros((rows, c + 1), np.float32)
    policy[np.arange(rows), rng.integers(0, c, rows)] = 1.0

    def fixed(a: np.ndarray) -> pa.Array:
        return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), a.shape[1])

    cols = [
        fixed(rng.integers(-1, 2, (rows, c)).astype(np.int8)),
        pa.array(np.zeros(rows, bool)),
        fixed(policy),
        pa.array(np.ones(rows, np.float32)),
        pa.array(np.full(rows, np.nan, np.float32)),
        pa.array(np.ones(rows, np.float32)),
        fixed(rng.integers(-1, 2, (rows, c)).astype(np.int8)),
        pa.array([f"{i // 60:016x}" for i in range(rows)]),
        pa.array((np.arange(rows) % 60).astype(np.int16)),
        pa.array(np.full(rows, 60, np.int16)),
    ]
    return pa.Table.from_arrays(cols, schema=position_shard_schema(n))


def best(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", type=int, default=11)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--compression", default="lz4", choices=["lz4", "zstd", "none"])
    args = ap.parse_args()
    n, rows = args.board, args.batches * BATCH_ROWS
    table = make_table(n, rows)
    with tempfile.TemporaryDirectory() as tmp:
        plain, checked = Path(tmp) / "plain.feather", Path(tmp) / "checked.feather"

        def write_plain() -> None:
            opts = write_options(args.compression)
            with pa.OSFile(str(plain), "wb") as f, ipc.new_file(f, table.schema, options=opts) as w:
                w.write_table(table, max_chunksize=BATCH_ROWS)

        def write_checked() -> None:
            with ShardWriter(checked, n, args.compression) as w:
                w.write(table)

        def read_plain() -> None:
            ipc.open_file(pa.memory_map(str(plain))).read_all()

        def read_checked() -> None:
            open_shard(checked).read_all()

        results = {}
        for name, fn in (("write", (write_plain, write_checked)), ("read", (read_plain, read_checked))):
            results[name] = (best(fn[0]), best(fn[1]))
    mb = table.nbytes / 2**20
    print(f"{rows:,} rows of {n}x{n} positions ({mb:,.0f} MB decoded), compression {args.compression}")
    for name, (p, c) in results.items():
        print(f"{name:5s}  plain {p * 1e3:8.1f} ms   checked {c * 1e3:8.1f} ms   ratio {c / p:5.2f}")


if __name__ == "__main__":
    main()
