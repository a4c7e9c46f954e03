"""Bucket shuffle: position shards -> uniformly shuffled shards, in bounded memory.

Seed 002's ShufflingStep: pass 1 scatters every input row into one of K buckets at
random, pass 2 loads one bucket at a time, permutes it and writes output shards of
`shuffle.shard_size` rows. Memory is about one bucket per worker (2 x rows/K x row
size), so data larger than RAM works with enough buckets. See `shuffle_tasks` for why
the result is a uniformly random permutation.

Crash safety: `OUT/_intermediate/manifest.json` (written atomically) records the plan
(inputs, sizes, settings), which inputs are scattered and which buckets are done.
Every file is written under a temporary name and renamed when complete, and both
passes are deterministic, so after a kill at any point running again redoes only
unfinished work and produces exactly the shards an uninterrupted run would have.
Temporary bucket files go as soon as their bucket is done (unless cleanup is off).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zeroloop.config import ZeroloopConfig
from zeroloop.data.atomic import write_json_atomic
from zeroloop.data.executor import worker_pool
from zeroloop.data.quarantine import QUARANTINE_DIR, quarantine_file
from zeroloop.data.records import ShuffleSummary
from zeroloop.data.shards import BATCH_ROWS, ShardCorrupt, ShardError, open_shard
from zeroloop.data.shuffle_tasks import (
    DamagedBucketPiece,
    bucket_dir,
    scatter_input,
    shuffle_bucket,
)
from zeroloop.data.sources import (
    INTERMEDIATE_DIR,
    NoUsableInput,
    describe,
    expand_shards,
    expand_shards_reporting,
)

SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "manifest.json"
Progress = Callable[[int, int], None]


def _plan(config: ZeroloopConfig, files: Sequence[Path], num_buckets: int) -> str:
    h = hashlib.sha256()
    s = config.shuffle
    h.update(json.dumps([num_buckets, s.seed, s.shard_size, config.game.board_size]).encode())
    for p in files:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _rebuild_scatter(
    damage: DamagedBucketPiece,
    inputs: list[Path],
    num_buckets: int,
    seed: int,
    tmp_dir: Path,
    board_size: int,
    compression: str,
    expected: list[int],
) -> None:
    """Scatter input `damage.input_index` again, replacing its files in every bucket.

    expected: rows per bucket [K] of the first scatter; the input must give the same.
    """
    i = damage.input_index
    counts = scatter_input(str(inputs[i]), i, num_buckets, seed, str(tmp_dir), board_size, compression)
    if counts != expected:
        raise ShardCorrupt(f"{inputs[i]}: changed since it was scattered; cannot rebuild {damage}")


def _check_inputs(files: list[Path], board_size: int, qdir: Path) -> dict:
    """Open each input's header: good inputs and their rows, quarantined, skipped, legacy.

    A damaged shard (ShardCorrupt) is quarantined; a sound file that is not a shard of
    this board size (ShardError) is skipped and reported, never moved. Damage inside a
    batch body shows up later, when the scatter pass reads it (`_scatter_failed`).
    """
    good, rows, bad, skipped, unverified = [], [], [], [], 0
    for f in files:
        try:
            reader = open_shard(f, board_size)
        except ShardCorrupt as exc:
            bad.append(quarantine_file(f, str(exc), qdir).to_dict())
            continue
        except ShardError as exc:
            skipped.append({"source": str(f), "reason": str(exc)})
            continue
        rows.append(reader.count_rows())
        good.append(str(f))
        unverified += not reader.checksummed
    return {"inputs": good, "rows": rows, "quarantined": bad, "skipped": skipped, "unverified": unverified}


def _no_input_message(inputs: Sequence[str | os.PathLike[str]], skipped: list[dict], bad: list[dict]) -> str:
    where = ", ".join(str(p) for p in inputs)
    parts = [f"no usable position shards under {where}"]
    if bad:
        parts.append(f"{len(bad)} damaged (first: {describe(bad[0])})")
    if skipped:
        parts.append(f"{len(skipped)} not for this stage (first: {describe(skipped[0])})")
    return "; ".join(parts)


def shuffle_dry_run(
    config: ZeroloopConfig, inputs: Sequence[str | os.PathLike[str]], num_buckets: int | None = None
) -> dict:
    """Disk and memory a shuffle of `inputs` would need, from shard headers only.

    Disk: shuffled rows compress worse than game-ordered ones (neighbouring positions of
    one game are alike), so temporary and output sizes are estimated from the raw row
    size and the codec's ratio on shuffled 11x11 data (lz4 0.2, zstd 0.1), not from the
    input files. Memory per worker: ~110 MB of interpreter, libraries and I/O buffers,
    two copies of a record batch (pass 1, BATCH_ROWS rows) and about three copies of the
    largest bucket, expected rows/K plus 4 standard deviations (pass 2: decoded,
    combined, permuted).
    Both were checked against measured peaks (docs/data.md).
    """
    k = num_buckets or config.shuffle.num_buckets
    n = config.game.board_size
    files = expand_shards(inputs)
    rows = 0
    size = 0
    for f in files:
        try:
            rows += int(open_shard(f, n).count_rows())
            size += f.stat().st_size
        except ShardError:
            continue
    row_bytes = 2 * n * n + 4 * (n * n + 1) + 4 * 3 + 1 + 4 + 16 + 8 + 4  # + string offsets
    ratio = {"none": 1.0, "lz4": 0.2, "zstd": 0.1}
    shuffled = int(rows * row_bytes * ratio[config.data.compression])
    temporary = int(rows * row_bytes * ratio[config.shuffle.temp_compression])
    per_bucket = rows / k
    bucket_rows = int(per_bucket + 4 * per_bucket**0.5) if rows else 0
    workers = min(config.shuffle.max_workers, k)
    per_worker = 110 * 2**20 + (2 * BATCH_ROWS + 3 * bucket_rows) * row_bytes
    return {
        "inputs": len(files),
        "positions": rows,
        "buckets": k,
        "bucket_rows": bucket_rows,
        "input_bytes": size,
        "temporary_disk_bytes": temporary,
        "output_disk_bytes": shuffled,
        # Buckets are deleted as they finish, so temporary and output space overlap little.
        "peak_extra_disk_bytes": temporary + shuffled // k if config.data.cleanup else temporary + shuffled,
        "memory_per_worker_bytes": per_worker,
        "memory_bytes": per_worker * workers,
        "shards": k * -(-bucket_rows // config.shuffle.shard_size) if rows else 0,
    }


def run_shuffle(
    config: ZeroloopConfig,
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    cleanup: bool | None = None,
    progress: Progress | None = None,
    num_buckets: int | None = None,
) -> ShuffleSummary:
    """Shuffle the position shards under `inputs` into `out_dir/shard-BBBBB-PPPP.feather`.

    num_buckets: K (default `config.shuffle.num_buckets`). cleanup: remove the
    temporary buckets and manifest at the end (default `config.data.cleanup`).
    progress(done, total) counts scattered inputs and shuffled buckets.
    Runs again after a kill go on from the manifest; a finished run returns its summary.
    """
    start = time.perf_counter()
    k = num_buckets or config.shuffle.num_buckets
    n = config.game.board_size
    cleanup = config.data.cleanup if cleanup is None else cleanup
    out = Path(out_dir)
    inter = out / INTERMEDIATE_DIR
    tmp_dir = inter / "buckets"
    qdir = Path(config.data.quarantine_dir) if config.data.quarantine_dir else out / QUARANTINE_DIR
    # Scan before creating anything: a wrong path must not leave an empty OUT behind.
    files, passed = expand_shards_reporting(inputs)
    plan = _plan(config, files, k)
    summary_path = out / SUMMARY_FILE
    if summary_path.exists():
        old = json.loads(summary_path.read_text())
        if old.pop("plan", None) == plan:
            return ShuffleSummary(**{k2: v for k2, v in old.items() if not k2.endswith("_truncated")})
        summary_path.unlink()

    manifest_path = inter / MANIFEST_FILE
    state: dict = {}
    if manifest_path.exists():
        state = json.loads(manifest_path.read_text())
    resumed = state.get("plan") == plan
    if not resumed:
        # A different plan: nothing on disk is ours to keep.
        shutil.rmtree(inter, ignore_errors=True)
        for old_shard in out.glob("shard-*.feather"):
            old_shard.unlink()
        state = _check_inputs(files, n, qdir)
        state["skipped"] = [p.to_dict() for p in passed] + state["skipped"]
        if not state["inputs"]:
            raise NoUsableInput(_no_input_message(inputs, state["skipped"], state["quarantined"]))
        state |= {"plan": plan, "scattered": {}, "buckets_done": {}, "failed": {}}
        write_json_atomic(manifest_path, state)
    else:
        # Leftover temporaries of a killed writer are never renamed into place: drop them.
        for stale in inter.rglob("*.tmp"):
            stale.unlink(missing_ok=True)
    inputs_ok = [Path(p) for p in state["inputs"]]
    total_units = len(inputs_ok) + k
    done_units = len(state["scattered"]) + len(state["buckets_done"])

    def tick() -> None:
        if progress is not None:
            progress(done_units, total_units)

    s = config.shuffle
    comp = config.data.compression
    temp_comp = s.temp_compression
    with worker_pool(min(s.max_workers, max(1, len(inputs_ok)))) as pool:
        todo = [i for i in range(len(inputs_ok)) if str(i) not in state["scattered"]]
        futures = {
            i: pool.submit(scatter_input, str(inputs_ok[i]), i, k, s.seed, str(tmp_dir), n, temp_comp)
            for i in todo
        }
        tick()
        for i, fut in futures.items():
            try:
                state["scattered"][str(i)] = fut.result()
            except ShardCorrupt as exc:
                # Damage in a batch body: no bucket file of this input exists (each is
                # renamed into place only when the whole input was read), so dropping
                # the input leaves the buckets consistent.
                state.setdefault("failed", {})[str(i)] = str(exc)
                state["quarantined"].append(quarantine_file(inputs_ok[i], str(exc), qdir).to_dict())
            write_json_atomic(manifest_path, state)
            done_units += 1
            tick()
        failed = state.get("failed", {})
        if len(failed) == len(inputs_ok):
            raise NoUsableInput(_no_input_message(inputs, state.get("skipped", []), state["quarantined"]))

        bucket_rows = [sum(c[b] for c in state["scattered"].values()) for b in range(k)]
        todo_b = [b for b in range(k) if str(b) not in state["buckets_done"]]
        scattered = sorted(int(i) for i in state["scattered"])
        bucket_args = (scattered, s.seed, str(tmp_dir), str(out), n, s.shard_size, comp)
        bfutures = {b: pool.submit(shuffle_bucket, b, *bucket_args) for b in todo_b}
        for b, fut in bfutures.items():
            # A damaged temporary file is rebuilt from its input (pass 1 is deterministic),
            # at most once per input, so a rerun never fails on our own intermediate.
            rebuilt: set[int] = set()
            while True:
                try:
                    state["buckets_done"][str(b)] = fut.result()
                    break
                except DamagedBucketPiece as exc:
                    if exc.input_index in rebuilt:
                        raise
                    rebuilt.add(exc.input_index)
                    expected = state["scattered"][str(exc.input_index)]
                    _rebuild_scatter(exc, inputs_ok, k, s.seed, tmp_dir, n, temp_comp, expected)
                    state.setdefault("rebuilt", []).append(str(exc))
                    fut = pool.submit(shuffle_bucket, b, *bucket_args)
            write_json_atomic(manifest_path, state)
            if cleanup:
                shutil.rmtree(bucket_dir(tmp_dir, b), ignore_errors=True)
            done_units += 1
            tick()

    shards = sorted((name, r) for done in state["buckets_done"].values() for name, r in done)
    summary = ShuffleSummary(
        out_dir=str(out),
        inputs=len(inputs_ok),
        positions_in=int(sum(r for i, r in enumerate(state["rows"]) if str(i) not in failed)),
        positions_out=int(sum(r for _, r in shards)),
        buckets=k,
        shards=len(shards),
        seconds=time.perf_counter() - start,
        peak_bucket_rows=int(max(bucket_rows, default=0)),
        resumed=resumed,
        skipped_inputs=len(state["quarantined"]) + len(state.get("skipped", [])),
        unverified_inputs=int(state.get("unverified", 0)),
        quarantined=state["quarantined"],
        skipped=state.get("skipped", []),
        shard_paths=[str(out / name) for name, _ in shards],
        rebuilt_temporaries=state.get("rebuilt", []),
    )
    summary.positions_per_second = summary.positions_out / summary.seconds if summary.seconds > 0 else 0.0
    if summary.positions_out != summary.positions_in:
        raise RuntimeError(
            f"shuffle lost or repeated rows: {summary.positions_in} in, {summary.positions_out} out"
        )
    write_json_atomic(summary_path, summary.to_dict() | {"plan": plan})
    if cleanup:
        shutil.rmtree(inter, ignore_errors=True)
    return summary
