"""Self-play throughput: the bare jitted mctx loop against the full Ray stage, same run.

For each board size, with the same small net, simulations and batch size:

(a) bare: `make_selfplay_fn` under `jax.jit`, called in this process on fresh seeds,
    nothing written (median of `--repeats` timed batches after a compile/warm-up call,
    timed just before and just after the stage, because a shared machine drifts);
(b) stage: `run_selfplay` with Ray actors writing chunk files (.arrow + .trmph) into a
    temporary directory. "steady" counts the positions of every chunk after the first
    and the time from the first chunk to the last, which leaves out Ray start-up and the
    actor's compilation (a one-off per stage call; the XLA compilation cache makes it a
    load when the program was compiled before); "total" is the stage's own
    positions/s including all of that.

The ratio is stage steady / mean(bare before, bare after) (goal >= 0.9 with one worker: the same compiled
program runs in both; the stage adds the file writes and the Ray round trips). Then
simulations/s against batch size for the bare loop.

`--compare-continuous` instead measures continuous self-play (`selfplay.continuous`,
slots restart the moment a game ends) against the lock-step loop (B games until the
longest ends) with the same net, simulations and B, in this process: the two are timed
in alternation, `--repeats` rounds, so drift on a shared machine hits both alike.
Positions/s counts the positions of finished games; the live-row share is those
positions / the positions searched (lock-step: B x the longest game).

`--compare-keep-workers N` plays N consecutive self-play stages (generations, each
with a new model file) in one process, with `selfplay.keep_workers` off and then on,
and prints the mean wall time of stages 2..N for each: what keeping the actors (and
their compiled search) alive between generations saves per generation.

    python benchmarks/bench_selfplay.py --sizes 7 11 --simulations 32 --batch-size 32
    python benchmarks/bench_selfplay.py --compare-continuous --sizes 7 --simulations 32 --batch-size 16
    python benchmarks/bench_selfplay.py --compare-keep-workers 4 --sizes 5 --workers 2 --stage-batches 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from zeroloop.config import load_config
from zeroloop.games.hex import Hex
from zeroloop.model.network import create_model, inference_fn
from zeroloop.search.selfplay import make_selfplay_fn
from zeroloop.workers.selfplay_actor import SelfplayWorker, seed_key
from zeroloop.workers.selfplay_chunks import chunk_stats
from zeroloop.workers.selfplay_stage import run_selfplay


def bench_config(size: int, sims: int, batch: int, workers: int, blocks: int, channels: int, cache: str):
    return load_config(
        None,
        [
            f"game.board_size={size}",
            f"model.blocks={blocks}",
            f"model.channels={channels}",
            "model.value_hidden=32",
            f"mcts.num_simulations={sims}",
            f"selfplay.batch_size={batch}",
            f"selfplay.num_workers={workers}",
            f"selfplay.compilation_cache_dir={cache}",
            f"orchestration.num_cpus={os.cpu_count()}",
        ],
    )


class BareLoop:
    """The jitted game loop alone, in this process, nothing written."""

    def __init__(self, config) -> None:
        env = Hex(config.game.board_size, swap=config.game.swap)
        apply, _, self.params = inference_fn(create_model(config.model, seed=0))
        self.play = jax.jit(make_selfplay_fn(env, apply, config.mcts, config.selfplay.batch_size))
        self.sims = config.mcts.num_simulations
        self.seed = 0
        t0 = time.perf_counter()
        jax.block_until_ready(self.play(self.params, seed_key(self.seed)))
        self.compile_s = time.perf_counter() - t0

    def measure(self, repeats: int) -> dict:
        """Positions/s over `repeats` timed batches on fresh seeds: median, min, max."""
        rates, lengths = [], []
        for _ in range(repeats):
            self.seed += 1
            t0 = time.perf_counter()
            out = jax.block_until_ready(self.play(self.params, seed_key(self.seed)))
            dt = time.perf_counter() - t0
            positions = int(np.asarray(out.length).sum())
            lengths.append(positions / len(out.length))
            rates.append(positions / dt)
        med = float(np.median(rates))
        return {
            "positions_per_s": med,
            "min_positions_per_s": float(min(rates)),
            "max_positions_per_s": float(max(rates)),
            "simulations_per_s": med * self.sims,
            "mean_game_length": float(np.mean(lengths)),
            "compile_s": self.compile_s,
        }


def stage(config, batches: int) -> dict:
    """Positions/s of `run_selfplay` writing chunks (steady state and total)."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gen-0000"
        games = batches * config.selfplay.batch_size * config.selfplay.num_workers
        summary = run_selfplay(
            config,
            out,
            num_games=games,
            progress=lambda d, t: stamps.append(time.perf_counter()),
            show_progress=False,
        )
        # Chunks in completion order: their files' modification times.
        chunks = sorted(out.glob("chunk-*.arrow"), key=lambda p: p.stat().st_mtime)
        positions = [chunk_stats(p).positions for p in chunks]
        times = [p.stat().st_mtime for p in chunks]
    steady = sum(positions[1:]) / (times[-1] - times[0]) if len(chunks) > 1 else float("nan")
    return {
        "steady_positions_per_s": steady,
        "total_positions_per_s": summary.positions_per_second,
        "wall_s": summary.wall_seconds,
        # Inside the actor: the game loop alone, and the chunk + trmph writes.
        "actor_play_positions_per_s": summary.new_positions / summary.play_seconds,
        "write_s_per_chunk": summary.write_seconds / max(summary.chunks, 1),
        "chunks": summary.chunks,
        "games": summary.games,
    }


def compare_continuous(config, repeats: int) -> dict:
    """Lock-step against continuous self-play, alternating, same net/simulations/B."""
    b = config.selfplay.batch_size
    lock = SelfplayWorker(
        config.model_copy(update={"selfplay": config.selfplay.model_copy(update={"continuous": False})}),
        batch_size=b,
    )
    cont = SelfplayWorker(config, batch_size=b)
    lock.play(seed=0)  # compile both before timing
    cont.play_continuous(0, b)
    rows: dict[str, dict[str, list[float]]] = {"lockstep": {}, "continuous": {}}
    for r in range(1, repeats + 1):
        t0 = time.perf_counter()
        batch = lock.play(seed=r)
        dt = time.perf_counter() - t0
        positions = int(batch.length.sum())
        searched = int(batch.length.max()) * b
        rows["lockstep"].setdefault("rate", []).append(positions / dt)
        rows["lockstep"].setdefault("live", []).append(positions / searched)
        t0 = time.perf_counter()
        batch, stats = cont.play_continuous(r, b)
        dt = time.perf_counter() - t0
        positions = int(batch.length[batch.winner >= 0].sum())
        rows["continuous"].setdefault("rate", []).append(positions / dt)
        rows["continuous"].setdefault("live", []).append(positions / stats["searched_rows"])
        assert stats["terminal_searched"] == 0
    out = {
        k: {"positions_per_s": float(np.median(v["rate"])), "live_row_share": float(np.mean(v["live"]))}
        for k, v in rows.items()
    }
    out["ratio"] = out["continuous"]["positions_per_s"] / out["lockstep"]["positions_per_s"]
    return out


def compare_keep_workers(config, generations: int, batches: int, root: Path) -> dict:
    """Wall seconds per stage of `generations` consecutive stages, keep_workers off then on."""
    from zeroloop.model.file import save_model_file
    from zeroloop.workers.actor_pool import release_selfplay_actors

    games = batches * config.selfplay.batch_size * config.selfplay.num_workers
    out: dict = {}
    for keep in (False, True):
        selfplay = config.selfplay.model_copy(update={"keep_workers": keep})
        cfg = config.model_copy(update={"selfplay": selfplay})
        walls, started = [], []
        for g in range(1, generations + 1):
            model = create_model(cfg.model, seed=g)
            path = save_model_file(root / f"{keep}-m{g}.zlm", model, cfg.game, {"model_id": f"gen-{g}"})
            s = run_selfplay(cfg, root / f"{keep}-gen-{g}", str(path), games, show_progress=False)
            walls.append(s.wall_seconds)
            started.append(s.workers_started)
        release_selfplay_actors()
        later = walls[1:] or walls
        out["keep" if keep else "new"] = {
            "wall_s": walls,
            "workers_started": started,
            "mean_later_wall_s": float(np.mean(later)),
        }
    out["saved_s_per_generation"] = out["new"]["mean_later_wall_s"] - out["keep"]["mean_later_wall_s"]
    out["ratio"] = out["new"]["mean_later_wall_s"] / out["keep"]["mean_later_wall_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[7, 11])
    parser.add_argument("--simulations", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="stage worker counts to run")
    parser.add_argument("--repeats", type=int, default=3, help="timed bare batches (median)")
    parser.add_argument("--stage-batches", type=int, default=4, help="batches per stage worker")
    parser.add_argument("--sweep", type=int, nargs="*", default=[8, 16, 32, 64, 128], help="batch sizes")
    parser.add_argument("--sweep-size", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--compare-continuous", action="store_true", help="continuous vs lock-step self-play only"
    )
    parser.add_argument(
        "--compare-keep-workers",
        type=int,
        metavar="N",
        default=0,
        help="N consecutive stages with selfplay.keep_workers off, then on",
    )
    args = parser.parse_args()

    cache = tempfile.mkdtemp(prefix="zeroloop-bench-xla-")
    print(f"# {platform.node()}  {os.cpu_count()} CPUs  jax {jax.__version__} on {jax.default_backend()}")
    net = f"{args.blocks} blocks x {args.channels} ch"
    print(f"# net {net}, {args.simulations} simulations, batch {args.batch_size}")
    results: dict = {"sizes": {}, "sweep": {}}
    if args.compare_keep_workers:
        for size in args.sizes:
            cfg = bench_config(
                size, args.simulations, args.batch_size, args.workers[0], args.blocks, args.channels, cache
            )
            with tempfile.TemporaryDirectory() as tmp:
                r = compare_keep_workers(cfg, args.compare_keep_workers, args.stage_batches, Path(tmp))
            results["sizes"][size] = r
            print(
                f"{size}x{size}  stages 2..{args.compare_keep_workers}: new actors each "
                f"{r['new']['mean_later_wall_s']:.2f} s (started {r['new']['workers_started']}), kept "
                f"{r['keep']['mean_later_wall_s']:.2f} s (started {r['keep']['workers_started']}): "
                f"{r['saved_s_per_generation']:.2f} s saved per generation, ratio {r['ratio']:.2f}",
                flush=True,
            )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    if args.compare_continuous:
        for size in args.sizes:
            cfg = bench_config(size, args.simulations, args.batch_size, 1, args.blocks, args.channels, cache)
            r = results["sizes"][size] = compare_continuous(cfg, args.repeats)
            lock, cont = r["lockstep"], r["continuous"]
            print(
                f"{size}x{size}  lock-step {lock['positions_per_s']:7.1f} pos/s (live rows "
                f"{lock['live_row_share']:.0%})  continuous {cont['positions_per_s']:7.1f} pos/s (live rows "
                f"{cont['live_row_share']:.0%})  ratio {r['ratio']:.2f}",
                flush=True,
            )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    for size in args.sizes:
        row: dict = {}
        cfg = bench_config(size, args.simulations, args.batch_size, 1, args.blocks, args.channels, cache)
        bare = BareLoop(cfg)
        for workers in args.workers:
            cfg = bench_config(
                size, args.simulations, args.batch_size, workers, args.blocks, args.channels, cache
            )
            # The machine may be shared: time the bare loop just before and just after the
            # stage and compare the stage with their mean.
            before = bare.measure(args.repeats)
            st = stage(cfg, args.stage_batches)
            after = bare.measure(args.repeats)
            ref = (before["positions_per_s"] + after["positions_per_s"]) / 2
            ratio = st["steady_positions_per_s"] / ref
            st.update(bare_before=before, bare_after=after, bare_mean=ref, ratio_steady_to_bare=ratio)
            row[f"stage_{workers}w"] = st
            print(
                f"{size}x{size}  bare {ref:7.1f} pos/s ({ref * args.simulations:8.0f} sim/s; before "
                f"{before['positions_per_s']:.1f}, after {after['positions_per_s']:.1f}; game "
                f"{before['mean_game_length']:.1f} plies)  stage[{workers}w] steady "
                f"{st['steady_positions_per_s']:7.1f} pos/s, total {st['total_positions_per_s']:7.1f} pos/s "
                f"(wall {st['wall_s']:.1f} s; in-actor loop {st['actor_play_positions_per_s']:.1f} pos/s, "
                f"writes {st['write_s_per_chunk'] * 1000:.0f} ms/chunk)  ratio steady/bare {ratio:.2f}",
                flush=True,
            )
        results["sizes"][size] = row
    for b in args.sweep:
        cfg = bench_config(args.sweep_size, args.simulations, b, 1, args.blocks, args.channels, cache)
        r = BareLoop(cfg).measure(args.repeats)
        results["sweep"][b] = r
        print(
            f"{args.sweep_size}x{args.sweep_size} batch {b:4d}: {r['simulations_per_s']:10.0f} simulations/s "
            f"({r['positions_per_s']:.1f} positions/s, range {r['min_positions_per_s']:.1f}-"
            f"{r['max_positions_per_s']:.1f}; compile {r['compile_s']:.1f} s)",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
