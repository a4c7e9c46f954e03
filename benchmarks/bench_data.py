"""Benchmark the data stages: TRMPH -> preprocess -> shuffle -> loader, vs the trainer.

    python benchmarks/bench_data.py --positions 1000000 --workers 2

1. Writes random legal 11x11 games as TRMPH files into a temp dir (not timed) until
   they hold at least `--positions` positions.
2. Runs preprocess and shuffle, each in a fresh subprocess, and reports wall time,
   positions/s and peak memory (max RSS of the stage process and of its workers).
3. Times the loader (batches/s at --batch-size, prefetch on) and, for reference, a
   jitted forward + backward of PolicyValueNet on the same batch size (the rate at
   which a trainer on this machine consumes batches).

Prints one JSON object; docs/data.md quotes the figures.

    python benchmarks/bench_data.py --cli-games 3000 --board-size 11

instead times the `zeroloop preprocess` and `zeroloop shuffle` commands themselves
(fresh processes, as a user runs them) on that many games with 1 and with 2 workers,
interleaved and repeated `--repeats` times, and prints the best time of each: the
command's wall time and the stage's own time (summary.json `seconds`: the work and any
process pool, without the command's start-up).
With 2 workers the stages start a process pool, whose start-up cost (e.g. importing
JAX in every worker, which the data stages do not need) shows here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_trmph(root: Path, positions: int, board_size: int, files: int, seed: int) -> dict:
    from zeroloop.data.synthetic import random_game
    from zeroloop.games.trmph import format_record

    rng = np.random.default_rng(seed)
    lines: list[str] = []
    total = 0
    while total < positions:
        moves, winner = random_game(board_size, rng, swap=bool(rng.random() < 0.1))
        lines.append(format_record(board_size, moves, winner, url=True))
        total += len(moves)
    root.mkdir(parents=True, exist_ok=True)
    per = -(-len(lines) // files)
    for i in range(files):
        (root / f"games-{i:03d}.trmph").write_text("\n".join(lines[i * per : (i + 1) * per]) + "\n")
    return {"games": len(lines), "positions": total, "files": files}


def _own_peak_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux keeps that across exec, so a stage
    started from the (bigger) benchmark process would report the parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _usage() -> dict:
    """Peak memory and CPU seconds of this process plus its (finished) workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return {
        "peak_rss_mb": round(_own_peak_mb(), 1),
        "peak_worker_rss_mb": round(kids.ru_maxrss / 1024, 1),
        "cpu_seconds": round(cpu, 2),
    }


def stage(args: argparse.Namespace) -> None:
    """Run one stage in this (fresh) process and print its figures as JSON."""
    from zeroloop.config import load_config

    sets = [
        f"game.board_size={args.board_size}",
        "game.swap=true",
        f"data.max_workers={args.workers}",
        f"shuffle.max_workers={args.workers}",
        f"shuffle.num_buckets={args.buckets}",
        f"data.augmentation={args.augmentation}",
        f"data.chunk_size={args.chunk_size}",
        f"data.compression={args.compression}",
    ]
    cfg = load_config(None, sets)
    extra: dict = {}
    before = _usage()["cpu_seconds"]
    load = os.getloadavg()[0]
    t = time.perf_counter()
    if args.stage == "preprocess":
        from zeroloop.data.preprocess import run_preprocess

        s = run_preprocess(cfg, [args.input], args.output)
        n = s.positions
    else:
        from zeroloop.data.shuffle import run_shuffle

        s = run_shuffle(cfg, [args.input], args.output)
        n = s.positions_out
        c = args.board_size**2
        extra = {
            "peak_bucket_rows": s.peak_bucket_rows,
            "bucket_mb_uncompressed": round(s.peak_bucket_rows * (2 * c + 4 * (c + 1) + 45) / 2**20, 1),
        }
    dt = time.perf_counter() - t
    use = _usage()
    use["cpu_seconds"] = round(use["cpu_seconds"] - before, 2)
    out = {"positions": n, "seconds": round(dt, 3), "positions_per_s": round(n / dt)} | use
    # What the stage does per CPU-second, scaled to `workers` cores: the rate on an
    # otherwise idle machine with that many cores (the wall rate above depends on load).
    out["positions_per_s_cpu_bound"] = round(n / use["cpu_seconds"] * args.workers)
    out["load_average_at_start"] = round(load, 2)
    print(json.dumps(out | extra))


def run_stage(name: str, inp: Path, out: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--stage", name, "--input", str(inp), "--output", str(out)]
    for key in ("board_size", "workers", "buckets", "augmentation", "chunk_size", "compression"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_loader(shards: Path, board_size: int, batch_size: int, batches: int) -> dict:
    from zeroloop.data.loader import ShardLoader

    loader = ShardLoader([shards], batch_size, q_ratio=0.25, prefetch=8)
    next(loader)
    t = time.perf_counter()
    for _ in range(batches):
        next(loader)
    dt = time.perf_counter() - t
    loader.close()
    return {
        "batch_size": batch_size,
        "batches_per_s": round(batches / dt, 1),
        "samples_per_s": round(batches * batch_size / dt),
    }


def bench_trainer(board_size: int, batch_size: int, steps: int) -> dict:
    """Forward + backward of the default PolicyValueNet: what a CPU trainer here consumes."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from zeroloop.config.model import ModelConfig
    from zeroloop.model.network import PolicyValueNet

    cfg = ModelConfig()
    net = PolicyValueNet(cfg, nnx.Rngs(0))
    graphdef, state = nnx.split(net)
    a = board_size * board_size + 1

    @jax.jit
    def step(state, obs, pol, z):
        def loss(state):
            model = nnx.merge(graphdef, state)
            logits, value = model(obs)
            return -(pol * jax.nn.log_softmax(logits)).sum(-1).mean() + ((value - z) ** 2).mean()

        return jax.grad(loss)(state)

    obs = jnp.zeros((batch_size, board_size, board_size, 3))
    pol = jnp.full((batch_size, a), 1.0 / a)
    z = jnp.zeros((batch_size,))
    jax.block_until_ready(step(state, obs, pol, z))
    t = time.perf_counter()
    for _ in range(steps):
        g = step(state, obs, pol, z)
    jax.block_until_ready(g)
    dt = time.perf_counter() - t
    return {
        "model": f"blocks={cfg.blocks} channels={cfg.channels}",
        "device": str(jax.devices()[0]),
        "steps_per_s": round(steps / dt, 2),
        "samples_per_s": round(steps * batch_size / dt),
    }


def _time_cli(args_list: list[str], out: Path) -> tuple[float, float]:
    """(wall seconds of the command, seconds of the stage itself from OUT/summary.json)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zeroloop", *args_list], check=True, capture_output=True)
    wall = time.perf_counter() - t
    return wall, float(json.loads((out / "summary.json").read_text())["seconds"])


def bench_cli(root: Path, games: int, board_size: int, repeats: int) -> dict:
    """Best wall seconds of `zeroloop preprocess` / `shuffle` with 1 and 2 workers."""
    from zeroloop.data.synthetic import random_game
    from zeroloop.games.trmph import format_record

    rng = np.random.default_rng(0)
    lines = [format_record(board_size, *random_game(board_size, rng), url=True) for _ in range(games)]
    (root / "trmph").mkdir(parents=True, exist_ok=True)
    (root / "trmph" / "games.trmph").write_text("\n".join(lines) + "\n")
    best: dict[str, float] = {}
    for rep in range(repeats):
        for workers in (1, 2):
            pos = root / f"positions-{workers}-{rep}"
            sets = ["--set", f"game.board_size={board_size}", "--max-workers", str(workers)]
            out = root / f"shuffled-{workers}-{rep}"
            for name, cmd, dest in (
                ("preprocess", ["preprocess", str(root / "trmph")], pos),
                ("shuffle", ["shuffle", str(pos / "train")], out),
            ):
                wall, inner = _time_cli([*cmd, "--out", str(dest), *sets], dest)
                for key, dt in (
                    (f"{name}_{workers}_workers_wall_s", wall),
                    (f"{name}_{workers}_workers_stage_s", inner),
                ):
                    best[key] = min(best.get(key, dt), dt)
    best = {k: round(v, 3) for k, v in best.items()}
    for stage_name in ("preprocess", "shuffle"):
        for kind in ("wall", "stage"):
            one, two = best[f"{stage_name}_1_workers_{kind}_s"], best[f"{stage_name}_2_workers_{kind}_s"]
            best[f"{stage_name}_{kind}_ratio_2_over_1"] = round(two / one, 2)
    return {"games": games, "board_size": board_size, "repeats": repeats} | best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--positions", type=int, default=1_000_000)
    p.add_argument("--board-size", type=int, default=11)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--buckets", type=int, default=16)
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--augmentation", default="none")
    p.add_argument("--compression", default="lz4")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--loader-batches", type=int, default=2000)
    p.add_argument("--trainer-steps", type=int, default=10)
    p.add_argument("--no-trainer", action="store_true")
    p.add_argument("--dir", type=Path, default=None, help="Work here instead of a temp dir (kept).")
    p.add_argument("--cli-games", type=int, default=0, help="Time the CLI on this many games instead.")
    p.add_argument("--repeats", type=int, default=3, help="Repetitions of --cli-games (best is kept).")
    p.add_argument("--stage", choices=["preprocess", "shuffle"], help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--output", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.stage:
        stage(args)
        return
    if args.cli_games:
        with tempfile.TemporaryDirectory(prefix="zl-bench-cli-") as tmp:
            result = bench_cli(Path(tmp), args.cli_games, args.board_size, args.repeats)
        print(json.dumps(result | {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="zl-bench-") as tmp:
        root = args.dir or Path(tmp)
        t = time.perf_counter()
        made = make_trmph(root / "trmph", args.positions, args.board_size, args.files, seed=0)
        made["seconds_to_generate"] = round(time.perf_counter() - t, 1)
        result = {"cpus": os.cpu_count(), "input": made, "settings": vars(args) | {"dir": str(root)}}
        result["preprocess"] = run_stage("preprocess", root / "trmph", root / "positions", args)
        result["shuffle"] = run_stage("shuffle", root / "positions" / "train", root / "shuffled", args)
        size = sum(f.stat().st_size for f in (root / "shuffled").glob("*.feather"))
        result["shuffle"]["output_mb"] = round(size / 2**20, 1)
        result["loader"] = bench_loader(
            root / "shuffled", args.board_size, args.batch_size, args.loader_batches
        )
        if not args.no_trainer:
            result["trainer_reference"] = bench_trainer(args.board_size, args.batch_size, args.trainer_steps)
        print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
