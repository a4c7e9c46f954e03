"""Preprocess: game chunks and TRMPH files -> deduplicated games -> position shards.

Seed 002's PreprocessingStep and TRMPHProcessingStep as one stage:

1. find inputs (directories searched recursively; files that arrive meanwhile are
   picked up by rescanning until a scan finds nothing new);
2. read and check them in worker processes; a damaged file (unreadable, checksum
   mismatch) is set aside in quarantine with a reason (see `quarantine`: only files the
   pipeline wrote are moved), and when it is a chunk with a `.trmph` twin its games are
   read from the twin; files that are not for this stage are skipped and reported; bad
   records are listed and skipped;
3. drop duplicate games (first copy wins; chunks are read before TRMPH files);
4. cut the games into combined chunks of `data.chunk_size` games
   (`OUT/_intermediate/games/chunk-NNNNN.arrow`, the game chunk schema);
5. turn each chunk into positions in a worker: `OUT/train/chunk-NNNNN.feather` and
   `OUT/test/chunk-NNNNN.feather` (the held-out share chosen by game-id hash);
6. write `OUT/summary.json`, remove `_intermediate/` unless cleanup is off.

When no game could be used, the stage raises NoUsableInput and leaves no summary (and
no OUT it created, unless quarantine notes are in it).

Resume: `_intermediate/progress.json` records the plan (inputs and settings) and the
chunks finished. Run again with the same inputs and settings and finished chunks are
not converted again; a finished stage returns its summary at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path

from zeroloop.config import ZeroloopConfig
from zeroloop.data.atomic import write_json_atomic
from zeroloop.data.chunks import write_chunk_table
from zeroloop.data.dedupe import Deduper
from zeroloop.data.executor import worker_pool
from zeroloop.data.gamebatch import GameBatch, concat
from zeroloop.data.preprocess_tasks import (
    ChunkResult,
    PositionSettings,
    SourceResult,
    chunk_to_positions,
    read_source,
)
from zeroloop.data.quarantine import QUARANTINE_DIR, quarantine_file
from zeroloop.data.records import PreprocessSummary
from zeroloop.data.sources import (
    GAME_CHUNK_SUFFIX,
    INTERMEDIATE_DIR,
    TRMPH_SUFFIX,
    NoUsableInput,
    Source,
    SourceProvider,
    classify,
    describe,
)

SUMMARY_FILE = "summary.json"
PROGRESS_FILE = "progress.json"
Progress = Callable[[int, int], None]


def _settings(config: ZeroloopConfig) -> PositionSettings:
    d = config.data
    return PositionSettings(
        board_size=config.game.board_size,
        selector=d.position_selector,
        augmentation=d.augmentation,
        test_fraction=d.test_fraction,
        seed=d.seed,
        compression=d.compression,
        diff_focus=d.diff_focus,
        rescore=d.rescore,
    )


def plan_key(config: ZeroloopConfig, files: Sequence[Path]) -> str:
    """A hash of what decides the outputs: the input files (path, size, mtime) and settings."""
    h = hashlib.sha256()
    keys = ("position_selector", "augmentation", "chunk_size", "test_fraction", "dedupe_symmetric", "seed")
    settings = {k: getattr(config.data, k) for k in keys}
    settings |= {"diff_focus": config.data.diff_focus.model_dump(), "game": config.game.model_dump()}
    if config.data.rescore.enabled:  # only then: keys of runs without it stay as they were
        settings["rescore"] = config.data.rescore.model_dump()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for p in files:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _write_games(path: Path, batch: GameBatch) -> None:
    write_chunk_table(path, batch.to_table())


class _Run:
    """The state of one preprocess run (kept out of the function to keep it readable)."""

    def __init__(self, config: ZeroloopConfig, out: Path, progress: Progress | None) -> None:
        self.config = config
        self.out = out
        self.inter = out / INTERMEDIATE_DIR
        self.qdir = Path(config.data.quarantine_dir) if config.data.quarantine_dir else out / QUARANTINE_DIR
        self.settings = _settings(config)
        self.dedupe = Deduper(symmetric=config.data.dedupe_symmetric)
        self.summary = PreprocessSummary(out_dir=str(out))
        self.pending: list[GameBatch] = []
        self.pending_games = 0
        self.next_chunk = 0
        self.chunk_futures: deque[tuple[int, Future]] = deque()
        self.done: dict[str, dict] = {}
        self.plan = ""
        self.progress = progress
        self.units_done = 0
        self.units_total = 0

    # -- progress and resume -------------------------------------------------------------

    def tick(self, done: int = 0, total: int = 0) -> None:
        self.units_done += done
        self.units_total += total
        if self.progress is not None:
            self.progress(self.units_done, max(self.units_total, self.units_done))

    def load_progress(self) -> None:
        path = self.inter / PROGRESS_FILE
        if path.exists():
            state = json.loads(path.read_text())
            if state.get("plan") == self.plan:
                self.done = state.get("chunks", {})
                return
        # Another plan (or none): what is on disk belongs to different inputs.
        for sub in ("train", "test", INTERMEDIATE_DIR):
            shutil.rmtree(self.out / sub, ignore_errors=True)

    def save_progress(self) -> None:
        write_json_atomic(self.inter / PROGRESS_FILE, {"plan": self.plan, "chunks": self.done})

    # -- reading -------------------------------------------------------------------------

    def absorb(self, res: SourceResult, pool: Executor) -> None:
        s = self.summary
        if res.error is not None and not res.corrupt:
            s.skipped.append({"source": str(res.source.path), "reason": res.error})
            return
        s.sources += 1
        if res.source.kind == "chunk":
            s.chunk_files += 1
        else:
            s.trmph_files += 1
        s.unverified_files += res.unverified
        s.games_in += res.records
        s.bad_games += len(res.bad)
        s.bad_records += [str(b) for b in res.bad]
        if res.error is not None:
            q = quarantine_file(res.source.path, res.error, self.qdir)
            s.quarantined.append(q.to_dict())
            return
        keep = self.dedupe.keep(res.batch)
        s.duplicates += res.batch.num_games - len(keep)
        if len(keep):
            batch = res.batch if len(keep) == res.batch.num_games else res.batch.take(keep)
            self.pending.append(batch)
            self.pending_games += batch.num_games
        while self.pending_games >= self.config.data.chunk_size:
            self.emit_chunk(pool, self.config.data.chunk_size)

    def emit_chunk(self, pool: Executor, size: int | None = None) -> None:
        """Cut the next combined chunk from the pending games and hand it to a worker."""
        allgames = concat(self.pending)
        size = allgames.num_games if size is None else size
        chunk = allgames.take(range(size)) if size < allgames.num_games else allgames
        rest = allgames.num_games - size
        self.pending = [allgames.take(range(size, allgames.num_games))] if rest else []
        self.pending_games = rest
        index = self.next_chunk
        self.next_chunk += 1
        self.summary.games_out += chunk.num_games
        self.tick(total=1)
        if str(index) in self.done:
            self.summary.resumed_chunks += 1
            self.collect(ChunkResult(**self.done[str(index)]), record=False)
            return
        path = self.inter / "games" / f"chunk-{index:05d}{GAME_CHUNK_SUFFIX}"
        _write_games(path, chunk)
        fut = pool.submit(chunk_to_positions, str(path), index, str(self.out), self.settings)
        self.chunk_futures.append((index, fut))
        # Bound the work in flight: each finished chunk frees its memory and is recorded.
        while len(self.chunk_futures) > 2 * max(1, self.config.data.max_workers):
            self.finish_oldest()

    def finish_oldest(self) -> None:
        _, fut = self.chunk_futures.popleft()
        self.collect(fut.result())

    def collect(self, r: ChunkResult, record: bool = True) -> None:
        s = self.summary
        s.chunks += 1
        s.train_games += r.train_games
        s.test_games += r.test_games
        s.positions_train += r.train_positions
        s.positions_test += r.test_positions
        s.positions_dropped_diff_focus += r.dropped_diff_focus
        s.rescored_values += r.rescored_values
        if r.train_path:
            s.train_shards.append(r.train_path)
        if r.test_path:
            s.test_shards.append(r.test_path)
        if record:
            self.done[str(r.index)] = r.to_dict()
            self.save_progress()
        self.tick(done=1)


def _read_all(run: _Run, pool: Executor, files: list[Path], n: int, swap_rule: bool, workers: int) -> None:
    """Read `files` in worker processes, absorbing results in file order (reproducible)."""
    sources, companions = classify(files)
    twins = {p.with_suffix(""): p for p in companions}
    run.summary.skipped_companion_trmph += len(companions)
    run.tick(total=len(sources))
    todo = iter(sources)
    # At most 2 reads per worker in flight, so memory does not grow with the input.
    # (range first: zip stops before taking an item from `todo` that it would drop)
    queue: deque[Future] = deque(
        pool.submit(read_source, src, n, swap_rule) for _, src in zip(range(2 * workers), todo, strict=False)
    )
    while queue:
        res = queue.popleft().result()
        nxt = next(todo, None)
        if nxt is not None:
            queue.append(pool.submit(read_source, nxt, n, swap_rule))
        run.absorb(res, pool)
        twin = twins.get(res.source.path.with_suffix("")) if res.source.kind == "chunk" else None
        if res.error is not None and twin is not None:
            # The chunk gave nothing (damaged, or not a chunk after all); its TRMPH twin
            # holds the same games (without search targets): read it now, in file
            # order, so the run stays reproducible.
            run.summary.skipped_companion_trmph -= 1
            run.summary.twins_read += 1
            run.absorb(read_source(Source(twin, "trmph"), n, swap_rule), pool)
        run.tick(done=1)


def run_preprocess(
    config: ZeroloopConfig,
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    cleanup: bool | None = None,
    progress: Progress | None = None,
    watch_seconds: float = 0.0,
) -> PreprocessSummary:
    """Preprocess game chunks and TRMPH files under `inputs` into position shards in `out_dir`.

    cleanup: remove `_intermediate/` after success (default `config.data.cleanup`).
    progress: called as progress(done, total) over input files and chunks.
    watch_seconds: keep rescanning the inputs for new files until none arrived for this
    long (0: rescan until a scan finds nothing new, then stop).
    Returns the summary, also written to `out_dir/summary.json`. Raises
    FileNotFoundError for a missing input and NoUsableInput when no game could be used
    (nothing found, everything damaged, skipped or bad); OUT is then not left behind
    empty.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    created = not out.exists()
    cleanup = config.data.cleanup if cleanup is None else cleanup
    run = _Run(config, out, progress)
    provider = SourceProvider(inputs, (GAME_CHUNK_SUFFIX, TRMPH_SUFFIX))
    first = provider.poll()  # before creating anything: a wrong path leaves no OUT
    run.plan = plan_key(config, first)
    summary_path = out / SUMMARY_FILE
    if summary_path.exists():
        old = json.loads(summary_path.read_text())
        if old.get("plan") == run.plan:
            old.pop("plan")
            old = {k: v for k, v in old.items() if not k.endswith("_truncated")}
            return PreprocessSummary(**old)
        summary_path.unlink()
    run.load_progress()
    n, swap_rule = config.game.board_size, config.game.swap
    workers = config.data.max_workers
    with worker_pool(workers) as pool:
        files = first
        idle_since = time.monotonic()
        while True:
            if files:
                _read_all(run, pool, files, n, swap_rule, workers)
                idle_since = time.monotonic()
            files = provider.poll()  # files that arrived while we worked
            if files:
                continue
            if time.monotonic() - idle_since >= watch_seconds:
                break
            time.sleep(min(1.0, watch_seconds))
        if run.pending_games:
            run.emit_chunk(pool)
        while run.chunk_futures:
            run.finish_oldest()
    s = run.summary
    s.skipped = [p.to_dict() for p in provider.skipped] + s.skipped
    if s.games_out == 0:
        shutil.rmtree(run.inter, ignore_errors=True)
        for sub in ("train", "test"):
            shutil.rmtree(out / sub, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise NoUsableInput(_no_games_message(inputs, s))
    s.seconds = time.perf_counter() - start
    s.positions_per_second = s.positions / s.seconds if s.seconds > 0 else 0.0
    s.train_shards.sort()
    s.test_shards.sort()
    write_json_atomic(summary_path, s.to_dict() | {"plan": run.plan})
    if cleanup:
        shutil.rmtree(run.inter, ignore_errors=True)
    return s


def _no_games_message(inputs: Sequence[str | os.PathLike[str]], s: PreprocessSummary) -> str:
    where = ", ".join(str(p) for p in inputs)
    parts = [f"no usable games under {where}: {s.sources} file(s) read, {s.games_in} record(s)"]
    if s.quarantined:
        parts.append(f"{len(s.quarantined)} damaged (first: {describe(s.quarantined[0])})")
    if s.skipped:
        parts.append(f"{len(s.skipped)} not for this stage (first: {describe(s.skipped[0])})")
    if s.bad_games:
        parts.append(f"{s.bad_games} bad record(s) (first: {s.bad_records[0]})")
    if s.duplicates:
        parts.append(f"{s.duplicates} duplicate(s)")
    return "; ".join(parts)


def preprocess_dry_run(config: ZeroloopConfig, inputs: Sequence[str | os.PathLike[str]]) -> dict:
    """What a run would read and roughly write, without reading game data.

    Counts chunk rows from Arrow metadata and non-empty TRMPH lines; positions are
    estimated at 0.7 x N*N moves per game (random 11x11 games average ~0.7 x 121).
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from zeroloop.games.trmph_file import is_comment, iter_lines

    files = SourceProvider(inputs, (GAME_CHUNK_SUFFIX, TRMPH_SUFFIX)).poll()
    sources, companions = classify(files)
    games = 0
    size = 0
    for src in sources:
        size += src.path.stat().st_size
        try:
            if src.kind == "chunk":
                games += ipc.open_file(pa.memory_map(str(src.path))).count_rows()
            else:
                with open(src.path, "rb") as f:  # any line ending, overlong lines not held
                    games += sum(
                        1
                        for _, line, _ in iter_lines(f)
                        if line and line.strip() and not is_comment(line.decode(errors="replace").strip())
                    )
        except (OSError, pa.ArrowInvalid):
            continue
    n = config.game.board_size
    d = config.data
    per_game = {"all": 0.7 * n * n, "final": 1.0, "penultimate": 1.0}[d.position_selector]
    positions = int(games * per_game * (2 if d.augmentation == "all" else 1))
    bytes_per_position = 2 * n * n + 4 * (n * n + 1) + 40
    return {
        "chunk_files": sum(1 for s in sources if s.kind == "chunk"),
        "trmph_files": sum(1 for s in sources if s.kind == "trmph"),
        "skipped_companion_trmph": len(companions),
        "input_bytes": size,
        "games_estimate": games,
        "positions_estimate": positions,
        "output_bytes_uncompressed_estimate": positions * bytes_per_position,
        "chunks_estimate": -(-games // d.chunk_size) if games else 0,
    }
