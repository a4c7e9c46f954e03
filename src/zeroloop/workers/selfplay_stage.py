"""The self-play stage: N Ray actors play until the generation's games are on disk.

`run_selfplay` is resumable and crash-safe by construction:

* games already in `out_dir` (complete `.arrow` chunks) count toward the target, and
  each chunk keeps exactly the games still needed, so a finished run is a no-op and
  the directory ends with exactly `num_games` games;
* each batch has its own seed, derived from (base seed, directory name, worker index,
  sequence number); sequence numbers continue after the chunks on disk, so a resumed
  run never replays the randomness of a batch it already wrote, and two generations
  (different directories) never share it;
* a worker killed mid-batch loses only that batch: the driver catches the actor's
  death, creates a replacement with the same index and hands the games to it; a chunk
  that was written before the actor died is found on disk and counted;
* files appear by atomic rename, so readers never see half a file; stale temporaries
  and orphan `.trmph` files from a killed worker are removed when the stage starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from zeroloop.config import ZeroloopConfig
from zeroloop.data.chunks import read_game_chunk
from zeroloop.model.file import read_model_header
from zeroloop.search.resign import ResignCalibration
from zeroloop.workers.actor_pool import pool_key, selfplay_actor_pool
from zeroloop.workers.gpu_share import actor_gpu_env
from zeroloop.workers.ray_session import ensure_ray
from zeroloop.workers.selfplay_actor import SelfplayWorker, chunk_stem
from zeroloop.workers.selfplay_chunks import (
    ChunkStats,
    chunk_stats,
    clean_leftovers,
    remove_batch_leftovers,
    scan_chunks,
    set_aside_damaged,
)

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
SelfplayActor = ray.remote(SelfplayWorker)


@dataclass
class SelfplaySummary:
    """What a self-play stage call leaves on disk (totals) and what it did (this call).

    games, positions, chunks, mean_game_length, first_player_win_rate: all games in out_dir.
    new_games, new_positions: played by this call; positions_per_second = new_positions / wall.
    compile_seconds, play_seconds, write_seconds: summed over this call's batches, inside the
    actors (the rest of the wall time is Ray and actor start-up and waiting).
    games_per_node: all games in out_dir by the Ray node id that played them (the host name
    for chunks played outside Ray), from each chunk's provenance.
    searched_rows: positions the actors searched in this call; live_row_share =
    positions of the games written / searched_rows (1.0 would mean no search spent on
    finished games or on games left unfinished).
    workers_started: actors this call created (the others were kept from an earlier call,
    selfplay.keep_workers; replacements of dead actors count too).
    resign_threshold (in force at the end), resign_rate (of this call's games), resigned_games,
    resign_free_games,
    false_resign_rate (resign-free games whose winner would have resigned at that
    threshold), plies_saved_estimate: this call's resignation figures (None/0: off).
    """

    out_dir: str
    games: int = 0
    positions: int = 0
    chunks: int = 0
    mean_game_length: float = 0.0
    first_player_win_rate: float = 0.0
    new_games: int = 0
    new_positions: int = 0
    positions_per_second: float = 0.0
    wall_seconds: float = 0.0
    num_workers: int = 0
    workers_started: int = 0
    worker_restarts: int = 0
    compile_seconds: float = 0.0
    play_seconds: float = 0.0
    write_seconds: float = 0.0
    searched_rows: int = 0
    live_row_share: float = 0.0
    resign_threshold: float | None = None
    resign_rate: float | None = None
    resigned_games: int = 0
    resign_free_games: int = 0
    false_resign_rate: float = 0.0
    plies_saved_estimate: float = 0.0
    model_path: str | None = None
    games_per_node: dict[str, int] = field(default_factory=dict)
    chunk_paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; the list of chunk paths is left out (it can be long; list the dir instead)."""
        out = asdict(self)
        out.pop("chunk_paths")
        return out


def batch_seed(base_seed: int, out_dir: Path, worker: int, seq: int) -> int:
    """64-bit seed of one batch; distinct for every (seed, directory name, worker, seq)."""
    text = f"{base_seed}:{out_dir.resolve().name}:{worker}:{seq}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def _fit_workers(config: ZeroloopConfig, wanted: int) -> int:
    """Cap the worker count to what the cluster can hold, so actors never wait forever."""
    resources = ray.cluster_resources()
    fits = wanted
    cpus = config.selfplay.cpus_per_worker
    gpus = config.selfplay.gpus_per_worker
    fits = min(fits, int(resources.get("CPU", 0) // cpus))
    if gpus > 0:
        fits = min(fits, int(resources.get("GPU", 0) // gpus))
    if fits < 1:
        need = f"{cpus} CPU" + (f" and {gpus} GPU" if gpus else "")
        raise RuntimeError(f"the Ray cluster cannot hold one self-play worker ({need}); it has {resources}")
    if fits < wanted:
        log.warning("self-play: %d workers requested, the cluster holds %d", wanted, fits)
    return fits


class _Driver:
    """Hands batches to actors, replaces dead ones, counts what is on disk."""

    def __init__(
        self,
        config: ZeroloopConfig,
        out_dir: Path,
        model_path: str | None,
        batch_size: int,
        num_workers: int,
        base_seed: int,
        existing: dict[tuple[int, int], Path],
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.model_path = model_path
        self.batch_size = batch_size
        self.base_seed = base_seed
        self.token = uuid.uuid4().hex[:8]
        gpus = config.selfplay.gpus_per_worker
        self.actor_options: dict[str, Any] = {
            "num_cpus": config.selfplay.cpus_per_worker,
            "num_gpus": gpus,
            "max_restarts": 0,  # replaced by hand below, so the lost batch is re-planned too
            # Over the nodes of a cluster rather than packed on the first one that fits.
            "scheduling_strategy": "SPREAD",
        }
        gpu_env = actor_gpu_env(config)  # several actors on one GPU split its memory
        if gpu_env:
            self.actor_options["runtime_env"] = {"env_vars": gpu_env}
        self.next_seq = {
            w: 1 + max((s for (ww, s) in existing if ww == w), default=-1) for w in range(num_workers)
        }
        self.restarts = 0
        self.started = 0  # actors created by this call (the rest came from the pool)
        self.fresh: set[int] = set()  # replacements that have not finished a batch yet
        self.pending: dict[Any, tuple[int, int, int]] = {}  # ref -> (worker, seq, games)
        self.keep = config.selfplay.keep_workers
        self.pool_key = pool_key(config.model_dump(mode="json"), batch_size, self.actor_options)
        self.actors: dict[int, Any] = self._pooled_or_new(num_workers)

    def _pooled_or_new(self, num_workers: int) -> dict[int, Any]:
        """Actors for workers 0..num_workers-1: idle ones from the pool get this call's model."""
        pool = selfplay_actor_pool()
        actors: dict[int, Any] = {}
        loading: dict[int, Any] = {}
        for w in range(num_workers):
            actor = pool.take(self.pool_key, w) if self.keep else None
            if actor is not None:
                actors[w] = actor
                loading[w] = actor.set_weights.remote(self.model_path)
        for w, ref in loading.items():
            try:
                ray.get(ref)
            except RayActorError:
                actors.pop(w)  # died since its ping: a new one below
        for w in range(num_workers):
            if w not in actors:
                actors[w] = self._new_actor(w)
        return actors

    def _new_actor(self, w: int) -> Any:
        # The name lets tools (and tests) find a worker: selfplay-<stage token>-<worker>.
        name = f"selfplay-{self.token}-{w}-{uuid.uuid4().hex[:4]}"
        actor = SelfplayActor.options(name=name, **self.actor_options)
        self.started += 1
        return actor.remote(self.config, w, self.model_path, self.batch_size)

    @property
    def in_flight(self) -> int:
        return sum(g for _, _, g in self.pending.values())

    def dispatch(self, w: int, games: int, resign_threshold: float | None = None) -> None:
        seq = self.next_seq[w]
        self.next_seq[w] += 1
        seed = batch_seed(self.base_seed, self.out_dir, w, seq)
        ref = self.actors[w].play_batch.remote(str(self.out_dir), seq, seed, games, resign_threshold)
        self.pending[ref] = (w, seq, games)

    def replace(self, w: int, error: Exception) -> None:
        if getattr(error, "actor_init_failed", False):
            raise RuntimeError(f"self-play worker {w} failed to start: {error}") from error
        self.restarts += 1
        if self.restarts > self.config.selfplay.max_worker_restarts:
            raise RuntimeError(
                f"self-play workers died {self.restarts} times (limit selfplay.max_worker_restarts="
                f"{self.config.selfplay.max_worker_restarts}); last error: {error}"
            ) from error
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self.actors[w])
        holds = self.capacity()
        if len(self.actors) - 1 >= holds:
            # A node left the cluster: the workers still alive already fill what remains.
            del self.actors[w]
            self.fresh.discard(w)
            log.warning("self-play worker %d died (%s); the live nodes hold %d workers, going on with %d",
                        w, type(error).__name__, holds, len(self.actors))  # fmt: skip
            if not self.actors:
                raise RuntimeError(
                    f"self-play: no worker fits on the cluster's live nodes ({error})"
                ) from error
            return
        log.warning("self-play worker %d died (%s); starting a replacement", w, type(error).__name__)
        self.actors[w] = self._new_actor(w)
        self.fresh.add(w)

    def capacity(self) -> int:
        """Workers the cluster's live nodes can hold (a dead node's resources no longer count)."""
        alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        fits = int(sum(r.get("CPU", 0.0) for r in alive) // self.config.selfplay.cpus_per_worker)
        gpus = self.config.selfplay.gpus_per_worker
        if gpus > 0:
            fits = min(fits, int(sum(r.get("GPU", 0.0) for r in alive) // gpus))
        return fits

    def drop_unplaceable(self) -> list[tuple[int, int]]:
        """Replacements still waiting for room after the cluster shrank: kill them.

        A replacement made before Ray noticed a node's death can wait for resources that
        no live node has free; its batch goes back to be re-planned on the other workers.
        Returns the (worker, seq) of the batches taken back.
        """
        excess = len(self.actors) - self.capacity()
        taken: list[tuple[int, int]] = []
        for w in sorted(self.fresh):
            if excess <= 0:
                break
            with contextlib.suppress(Exception):
                ray.kill(self.actors.pop(w))
            self.fresh.discard(w)
            excess -= 1
            for ref, (pw, seq, _games) in list(self.pending.items()):
                if pw == w:
                    del self.pending[ref]
                    taken.append((w, seq))
            log.warning("self-play worker %d cannot be placed on the live nodes; dropped", w)
        return taken

    def shutdown(self, succeeded: bool) -> None:
        """Pool the actors after a stage that succeeded (selfplay.keep_workers), else kill them."""
        pool = selfplay_actor_pool()
        for w, actor in self.actors.items():
            if succeeded and self.keep:
                pool.put(self.pool_key, w, actor)
                continue
            with contextlib.suppress(Exception):
                ray.kill(actor)


def run_selfplay(
    config: ZeroloopConfig,
    out_dir: str | Path,
    model_path: str | Path | None = None,
    num_games: int | None = None,
    progress: ProgressFn | None = None,
    num_workers: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    show_progress: bool = True,
) -> SelfplaySummary:
    """Play self-play games with Ray actors until `num_games` games are in `out_dir`.

    config: the run config (game, model, mcts, selfplay, orchestration sections).
    out_dir: the generation's self-play directory (created if missing).
    model_path: model file to play with; None = random weights from `config.model`.
    num_games, num_workers, batch_size, seed: override `config.selfplay`.
    progress: called as `progress(done, total)` with games on disk after each chunk.
    show_progress: draw a rich progress bar on the terminal.
    """
    start = time.perf_counter()
    sp = config.selfplay
    total = num_games if num_games is not None else sp.num_games
    batch = batch_size or sp.batch_size
    base_seed = sp.seed if seed is None else seed
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    existing = set_aside_damaged(scan_chunks(out), out)
    stats = {p: chunk_stats(p) for p in existing.values()}
    done = sum(s.games for s in stats.values())
    if model_path is not None:
        read_model_header(model_path)  # a missing or foreign file fails here, not in N actors
    summary = SelfplaySummary(out_dir=str(out), model_path=None if model_path is None else str(model_path))
    if progress is not None:
        progress(min(done, total), total)
    if done >= total:
        return _finish(summary, stats, 0, 0, start)

    ensure_ray(config)
    workers = _fit_workers(config, num_workers or sp.num_workers)
    # No more workers than batches left: an idle actor still costs a compilation.
    workers = min(workers, -(-(total - done) // batch))
    driver = _Driver(
        config, out, None if model_path is None else str(model_path), batch, workers, base_seed, existing
    )
    summary.num_workers = workers
    new_games = new_positions = 0
    resigning = sp.resign_threshold is not None and sp.continuous
    calib = ResignCalibration(sp.resign_threshold, sp.resign_consecutive) if resigning else None
    bar = Progress(
        TextColumn("self-play"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("games"),
        TimeRemainingColumn(),
        disable=not show_progress,
    )
    succeeded = False
    try:
        with bar:
            task = bar.add_task("self-play", total=total, completed=min(done, total))

            def refill(w: int) -> None:
                need = total - done - driver.in_flight
                busy = any(pw == w for pw, _, _ in driver.pending.values())
                if need > 0 and w in driver.actors and not busy:
                    driver.dispatch(w, min(batch, need), None if calib is None else calib.threshold)

            for w in range(workers):
                refill(w)
            while driver.pending:
                ready, _ = ray.wait(list(driver.pending), num_returns=1, timeout=15.0)
                if not ready:  # slow batches, or a replacement no live node has room for
                    for w, seq in driver.drop_unplaceable():
                        remove_batch_leftovers(out, w, seq)
                    for idle in list(driver.actors):
                        refill(idle)
                    continue
                ref = ready[0]
                w, seq, _games = driver.pending.pop(ref)
                try:
                    result = ray.get(ref)
                    driver.fresh.discard(w)
                    path = Path(result["path"])
                    summary.compile_seconds += result["compile_seconds"]
                    summary.play_seconds += result["play_seconds"]
                    summary.write_seconds += result["write_seconds"]
                    summary.searched_rows += result.get("searched_rows", 0)
                except RayActorError as exc:
                    # The actor may have died after its chunk was renamed into place.
                    candidate = out / f"{chunk_stem(w, seq)}.arrow"
                    driver.replace(w, exc)
                    remove_batch_leftovers(out, w, seq)
                    if not candidate.exists():
                        for idle in list(driver.actors):  # w itself may be gone with its node
                            refill(idle)
                        continue
                    path = candidate
                s = chunk_stats(path)
                stats[path] = s
                if calib is not None:
                    calibrate(calib, path, sp)
                done += s.games
                new_games += s.games
                new_positions += s.positions
                refill(w)
                bar.update(task, completed=min(done, total))
                if progress is not None:
                    progress(min(done, total), total)
                for idle in list(driver.actors):  # after a replacement, keep every actor busy
                    refill(idle)
        succeeded = True
    finally:
        driver.shutdown(succeeded)
    summary.worker_restarts = driver.restarts
    summary.workers_started = driver.started
    if calib is not None:
        summary.resign_threshold = calib.threshold
        summary.resigned_games = calib.resigned_games
        summary.resign_rate = calib.resigned_games / calib.games if calib.games else 0.0
        summary.resign_free_games = calib.resign_free_games
        summary.false_resign_rate = calib.false_rate()
        summary.plies_saved_estimate = calib.plies_saved()
    return _finish(summary, stats, new_games, new_positions, start)


def calibrate(calib: ResignCalibration, chunk: Path, sp: Any) -> None:
    """Feed one finished chunk's games to the calibration; adapt the threshold (selfplay.resign_*)."""
    for g in read_game_chunk(chunk):
        if g.root_value is not None:
            calib.add_game(g.root_value, g.winner, bool(g.resigned), bool(g.resign_free))
    if sp.resign_adapt:
        new = calib.adapted(sp.resign_false_target)
        if new != calib.threshold:
            log.info(
                "self-play: resign threshold %.3f -> %.3f (%.1f%% false of %d resign-free games)",
                calib.threshold,
                new,
                100 * calib.false_rate(),
                calib.resign_free_games,
            )
            calib.threshold = new


def _finish(
    summary: SelfplaySummary, stats: dict[Path, ChunkStats], new_games: int, new_positions: int, start: float
) -> SelfplaySummary:
    games = sum(s.games for s in stats.values())
    positions = sum(s.positions for s in stats.values())
    summary.games = games
    summary.positions = positions
    summary.chunks = len(stats)
    summary.chunk_paths = sorted(str(p) for p in stats)
    summary.mean_game_length = positions / games if games else 0.0
    summary.first_player_win_rate = sum(s.black_wins for s in stats.values()) / games if games else 0.0
    per_node: dict[str, int] = {}
    for s in stats.values():
        per_node[s.node] = per_node.get(s.node, 0) + s.games
    summary.games_per_node = dict(sorted(per_node.items()))
    summary.new_games = new_games
    summary.new_positions = new_positions
    summary.wall_seconds = time.perf_counter() - start
    summary.positions_per_second = new_positions / summary.wall_seconds if summary.wall_seconds > 0 else 0.0
    summary.live_row_share = new_positions / summary.searched_rows if summary.searched_rows else 0.0
    return summary
