"""Training batches from position shards: fixed shapes, prefetched, exactly resumable.

The stream is a pure function of (shards, seed, position), which is what makes resume
exact without saving buffers:

- epoch e visits the shards in an order drawn from (seed, e) and concatenates them
  into R rows;
- those rows are cut into blocks of `shuffle_buffer` rows and each block is permuted
  by (seed, e, block) - the shuffle buffer;
- batch i is rows [i*B, (i+1)*B) of the endless concatenation of epochs.

`state_dict()` is the number of rows the trainer has taken (plus a fingerprint of the
data); `load_state_dict()` starts the stream there, so a resumed training gets the
very batches it would have got. A background thread prepares `prefetch_batches`
batches ahead; the state counts only batches handed out.

Bad shards: at construction every shard is opened and (`verify=True`, the default)
decoded once with its checksums checked; a damaged one is set aside (moved to a
`quarantine/` folder beside it with a reason note when the pipeline wrote it, else only
reported) and the stream is built from the rest, so it stays a pure function of the
good shards. `skipped` lists what was left out and why. A shard that goes bad after
that raises ShardCorrupt naming the file and batch on the batch that reads it.

Batches follow the training batch contract of docs/architecture.md (`obs` planes as
`Hex.observation`: mover's stones, opponent's stones, swap legal).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from zeroloop.data.quarantine import QUARANTINE_DIR, pipeline_owned, quarantine_file
from zeroloop.data.shards import (
    ShardCorrupt,
    ShardError,
    batch_rows,
    fixed_column,
    open_shard,
    read_shard,
)
from zeroloop.data.sources import expand_shards_reporting
from zeroloop.data.window import batch_shares

log = logging.getLogger(__name__)
Batch = dict[str, np.ndarray]
# Shards verified in this process: (path, size, mtime_ns) -> rows. A validation loader is
# built afresh for every validation; each file is decoded for checking only once.
_VERIFIED: dict[tuple[str, int, int], int] = {}
_END = object()
_CACHED_BATCHES = 4


def to_training_batch(cols: dict[str, np.ndarray], board_size: int, q_ratio: float) -> Batch:
    """Compact shard columns of B rows -> the training batch dict (shapes in the contract).

    cols: board int8 [B, C], swap_legal bool [B], policy float32 [B, A], value (z),
    q (NaN = none), weight float32 [B], final_board int8 [B, C].
    """
    n = board_size
    b = len(cols["value"])
    board = cols["board"].reshape(b, n, n)
    swap = cols["swap_legal"]
    obs = np.empty((b, n, n, 3), dtype=np.float32)
    obs[..., 0] = board == 1
    obs[..., 1] = board == -1
    obs[..., 2] = swap[:, None, None]
    legal = np.empty((b, n * n + 1), dtype=bool)
    legal[:, :-1] = cols["board"] == 0
    legal[:, -1] = swap
    z = cols["value"].astype(np.float32)
    q = np.where(np.isnan(cols["q"]), z, cols["q"]).astype(np.float32)
    return {
        "obs": obs,
        "policy": cols["policy"].astype(np.float32, copy=False),
        "legal": legal,
        "value": (q_ratio * q + (1.0 - q_ratio) * z).astype(np.float32),
        "z": z,
        "q": q,
        "weight": cols["weight"].astype(np.float32, copy=False),
        "policy_weight": cols.get("policy_weight", np.ones(b, np.float32)).astype(np.float32, copy=False),
        "owner": cols["final_board"].reshape(b, n, n).astype(np.float32),
    }


def _columns(table: pa.Table | pa.RecordBatch, n: int) -> dict[str, np.ndarray]:
    c = n * n
    return {
        "board": fixed_column(table, "board", c, np.int8),
        "swap_legal": table.column("swap_legal").to_numpy(zero_copy_only=False),
        "policy": fixed_column(table, "policy", c + 1, np.float32),
        "value": table.column("value").to_numpy(zero_copy_only=False),
        "q": table.column("q").to_numpy(zero_copy_only=False),
        "weight": table.column("weight").to_numpy(zero_copy_only=False),
        "final_board": fixed_column(table, "final_board", c, np.int8),
        # Shards written before the column existed: every policy was a target.
        "policy_weight": table.column("policy_weight").to_numpy(zero_copy_only=False)
        if "policy_weight" in table.schema.names
        else np.ones(table.num_rows, np.float32),
    }


def shard_columns(table: pa.Table | pa.RecordBatch, board_size: int) -> dict[str, np.ndarray]:
    """A shard's rows as the compact numpy columns `to_training_batch` takes."""
    return _columns(table, board_size)


def check_shard(path: Path, board_size: int | None, verify: bool) -> int:
    """Rows of a shard after opening it and, with `verify`, checking every batch.

    Raises ShardCorrupt (damaged) or ShardError (not a shard of this board size).
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        return _VERIFIED[key]
    reader = open_shard(path, board_size)
    if not verify:
        return reader.count_rows()
    rows = reader.verify()
    _VERIFIED[key] = rows
    return rows


def usable_shards(
    paths: Sequence[Path], board_size: int | None, verify: bool = True
) -> tuple[list[Path], list[int], list[dict[str, str]]]:
    """(good shards, their rows, skipped [{source, reason, moved_to}]) of `paths`.

    A damaged shard the pipeline wrote is quarantined beside it; any other bad shard is
    only reported. board_size None: the first good shard's size.
    """
    good: list[Path] = []
    rows: list[int] = []
    skipped: list[dict[str, str]] = []
    for p in paths:
        try:
            rows.append(check_shard(p, board_size, verify))
        except ShardError as exc:
            if isinstance(exc, ShardCorrupt) and pipeline_owned(p):
                skipped.append(quarantine_file(p, str(exc), p.parent / QUARANTINE_DIR).to_dict())
            else:
                skipped.append({"source": str(p), "reason": str(exc), "moved_to": ""})
            log.warning("loader: skipping %s", exc)
            continue
        good.append(p)
        if board_size is None:
            board_size = int((open_shard(p).schema.metadata or {})[b"board_size"])
    return good, rows, skipped


class ShardLoader:
    """Fixed-shape training batches from position shards (see the module docstring).

    shards: shard files or directories. batch_size: B. q_ratio: value target blend.
    shuffle_buffer: rows permuted together (and the read block). epochs: stop after
    this many passes (the last partial batch is dropped); None loops forever.
    prefetch: batches prepared ahead in a thread (0: none, synchronous).
    verify: decode and check every shard once at construction (see the module doc).
    """

    def __init__(
        self,
        shards: Sequence[str | os.PathLike[str]],
        batch_size: int,
        q_ratio: float = 0.0,
        shuffle_buffer: int = 65_536,
        seed: int = 0,
        epochs: int | None = None,
        prefetch: int = 4,
        board_size: int | None = None,
        verify: bool = True,
    ) -> None:
        found, passed = expand_shards_reporting(shards)
        self.paths, rows, self.skipped = usable_shards(found, board_size, verify)
        self.skipped = [p.to_dict() for p in passed] + self.skipped
        if not self.paths:
            first = self.skipped[0]["reason"] if self.skipped else ""
            why = f" ({len(self.skipped)} skipped, first: {first})" if self.skipped else ""
            raise ValueError(f"no usable position shards under {[str(s) for s in shards]}{why}")
        self.board_size = board_size or int((open_shard(self.paths[0]).schema.metadata or {})[b"board_size"])
        self.rows = np.array(rows, dtype=np.int64)
        self.num_rows = int(self.rows.sum())
        if self.num_rows == 0:
            raise ValueError("the position shards hold no rows")
        self.batch_size = batch_size
        self.q_ratio = q_ratio
        self.block = shuffle_buffer
        self.seed = seed
        self.epochs = epochs
        self.prefetch = prefetch
        self.position = 0  # rows handed out so far
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._gen: Iterator[Batch] | None = None
        # Decoded record batches, (shard, batch) -> columns; consecutive blocks share some.
        self._cache: OrderedDict[tuple[int, int], dict[str, np.ndarray]] = OrderedDict()

    # ---- the stream ---------------------------------------------------------------

    @property
    def batches_per_epoch(self) -> int:
        return self.num_rows // self.batch_size

    @property
    def total_batches(self) -> int | None:
        return None if self.epochs is None else self.epochs * self.num_rows // self.batch_size

    def fingerprint(self) -> str:
        text = json.dumps(
            [[str(p) for p in self.paths], self.rows.tolist(), self.seed, self.block, self.batch_size]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _decoded(
        self, i: int, j: int, load: Callable[[], pa.Table | pa.RecordBatch]
    ) -> dict[str, np.ndarray]:
        key = (i, j)
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            self._cache[key] = _columns(load(), self.board_size)
            while len(self._cache) > _CACHED_BATCHES:
                self._cache.popitem(last=False)
        return self._cache[key]

    def _rows(self, i: int, a: int, b: int) -> dict[str, np.ndarray]:
        """Rows [a, b) of shard i, decoding only the record batches that hold them.

        Shards from ShardWriter have fixed-size batches (`batch_rows`); any other shard
        is decoded whole (j = -1), so memory is then one shard rather than one batch.
        """
        reader = open_shard(self.paths[i], self.board_size)
        step = batch_rows(reader)
        if step is not None:
            parts = []
            for j in range(a // step, (b - 1) // step + 1):
                cols = self._decoded(i, j, lambda j=j: reader.get_batch(j))
                lo = j * step
                if len(cols["value"]) != min(step, int(self.rows[i]) - lo):
                    step = None  # not the fixed layout after all
                    break
                parts.append({k: v[max(a, lo) - lo : min(b, lo + step) - lo] for k, v in cols.items()})
            if step is not None:
                return (
                    parts[0]
                    if len(parts) == 1
                    else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                )
        cols = self._decoded(i, -1, lambda: read_shard(self.paths[i], self.board_size))
        return {k: v[a:b] for k, v in cols.items()}

    def _block(self, epoch: int, j: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Rows of block j of epoch `epoch` (compact columns) and their permutation."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))
        ends = np.cumsum(self.rows[order])
        lo, hi = j * self.block, min((j + 1) * self.block, self.num_rows)
        parts = []
        first = int(np.searchsorted(ends, lo, side="right"))
        for k in range(first, len(order)):
            start = int(ends[k] - self.rows[order[k]])
            if start >= hi:
                break
            a, b = max(lo, start) - start, min(hi, int(ends[k])) - start
            parts.append(self._rows(int(order[k]), a, b))
        block = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        perm = np.random.default_rng([self.seed, epoch, j]).permutation(hi - lo)
        return block, perm

    def _produce(self, start: int) -> Iterator[Batch]:
        """Batches from stream row `start` on (start is a multiple of the batch size)."""
        end = None if self.epochs is None else self.total_batches * self.batch_size
        p = start
        pieces: list[dict[str, np.ndarray]] = []
        have = 0
        while end is None or p < end:
            epoch, r = divmod(p, self.num_rows)
            j = r // self.block
            block, perm = self._block(epoch, j)
            offset = r - j * self.block
            idx = perm[offset:]
            if end is not None:
                idx = idx[: end - p]
            p += len(idx)
            while len(idx):
                need = self.batch_size - have
                take, idx = idx[:need], idx[need:]
                pieces.append({k: v[take] for k, v in block.items()})
                have += len(take)
                if have == self.batch_size:
                    cols = (
                        pieces[0]
                        if len(pieces) == 1
                        else {k: np.concatenate([x[k] for x in pieces]) for k in pieces[0]}
                    )
                    yield to_training_batch(cols, self.board_size, self.q_ratio)
                    pieces, have = [], 0

    # ---- iteration with prefetch --------------------------------------------------

    def _worker(self, start: int, out: queue.Queue, stop: threading.Event) -> None:
        try:
            for batch in self._produce(start):
                while not stop.is_set():
                    try:
                        out.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(_END)
        except BaseException as exc:  # handed to the consumer, raised in __next__
            out.put(exc)

    def _start(self) -> None:
        if self.prefetch <= 0:
            self._gen = self._produce(self.position)
            return
        self._stop = threading.Event()
        self._queue = queue.Queue(maxsize=self.prefetch)
        self._thread = threading.Thread(
            target=self._worker,
            args=(self.position, self._queue, self._stop),
            daemon=True,
            name="shard-loader",
        )
        self._thread.start()

    def __iter__(self) -> ShardLoader:
        return self

    def __next__(self) -> Batch:
        if self._gen is None and self._thread is None:
            self._start()
        if self._gen is not None:
            batch = next(self._gen)
        else:
            item = self._queue.get()
            if item is _END:
                self._queue.put(_END)  # stay exhausted
                raise StopIteration
            if isinstance(item, BaseException):
                raise item
            batch = item
        self.position += self.batch_size
        return batch

    def close(self) -> None:
        """Stop the prefetch thread (a later `next` starts it again from `position`)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self._thread = None
        self._queue = None
        self._gen = None

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()

    # ---- resume -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-able position in the stream: save it with the training checkpoint."""
        return {
            "position": self.position,
            "batches": self.position // self.batch_size,
            "epoch": self.position // self.num_rows,
            "fingerprint": self.fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; refuses a state made on other data or settings."""
        if state.get("fingerprint") != self.fingerprint():
            raise ValueError(
                "loader state was saved for other shards, seed, shuffle buffer or batch size; "
                "resuming on them would not give the same batches"
            )
        self.close()
        self.position = int(state["position"])


class MixedLoader:
    """Batches drawn from several ShardLoaders in fixed shares (seed 002's data mixing).

    Each batch holds `shares[i]` rows from source i, concatenated; the state is every
    source's state, so resume is as exact as for one loader.
    """

    def __init__(self, loaders: Sequence[ShardLoader]) -> None:
        self.loaders = list(loaders)
        self.batch_size = sum(ld.batch_size for ld in self.loaders)

    def __iter__(self) -> MixedLoader:
        return self

    @property
    def skipped(self) -> list[dict[str, str]]:
        """What every source left out and why ([{source, reason, moved_to}])."""
        return [entry for ld in self.loaders for entry in ld.skipped]

    def __next__(self) -> Batch:
        parts = [next(ld) for ld in self.loaders]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def close(self) -> None:
        for ld in self.loaders:
            ld.close()

    def state_dict(self) -> dict[str, Any]:
        return {"sources": [ld.state_dict() for ld in self.loaders]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state.get("sources", [])) != len(self.loaders):
            raise ValueError("loader state has a different number of data sources")
        for ld, s in zip(self.loaders, state["sources"], strict=True):
            ld.load_state_dict(s)


def build_loader(
    config: Any,
    shards: Sequence[str | os.PathLike[str]],
    batch_size: int | None = None,
    epochs: int | None = None,
) -> ShardLoader | MixedLoader:
    """The training loader a config asks for: `data.loader`, `data.q_ratio`, `data.mix`.

    config: a ZeroloopConfig. shards: the new data (files or directories). Without
    `data.mix.existing_dirs`, skip_files or weights this is one ShardLoader.
    """
    from zeroloop.data.window import mix_sources

    d = config.data
    lc = d.loader
    b = batch_size or config.train.batch_size
    epochs = epochs if epochs is not None else lc.epochs
    common = dict(
        q_ratio=d.q_ratio,
        shuffle_buffer=lc.shuffle_buffer,
        epochs=epochs,
        prefetch=lc.prefetch_batches,
        board_size=config.game.board_size,
    )
    mix = d.mix
    if not (mix.existing_dirs or mix.skip_files or mix.weights):
        return ShardLoader(shards, b, seed=lc.seed, **common)
    sources = mix_sources(shards, mix)
    shares = batch_shares(b, [s.weight for s in sources])
    loaders = [
        ShardLoader(s.shards, share, seed=lc.seed + i, **common)
        for i, (s, share) in enumerate(zip(sources, shares, strict=True))
        if share > 0
    ]
    return loaders[0] if len(loaders) == 1 else MixedLoader(loaders)
