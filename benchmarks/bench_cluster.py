"""Self-play positions/s on one Ray node against two nodes of 1 CPU each, same run.

A real cluster on this machine (`zeroloop.workers.local_cluster`: `ray start --head`
plus `ray start --address`, token authentication on, a private RAY_TMPDIR):

1. warm-up: one short stage fills the XLA compilation cache, so no phase below compiles;
2. one node: the head alone (1 CPU) runs `run_selfplay` with one actor;
3. two nodes: a second node (1 CPU) joins and `run_selfplay` runs two actors, spread
   over both nodes (the chunks' provenance says where each batch was played).

positions/s counts the stage's new positions over its whole wall time (actor start-up
included, as a user sees it) and, "steady", per node over the time from the node's
first chunk to its last, summed over the nodes. The ratio two/one is printed (goal
>= 1.8). Each node is pinned to its own CPU core (CPU affinity, inherited by its
raylet and actors), so a node of 1 CPU uses one core, as a 1-CPU machine would;
`--no-pin` leaves them free to use every core. On a machine that other work loads,
the two-node figure is capped by the free cores.

    python benchmarks/bench_cluster.py --board-size 5 --games 96 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from zeroloop.config import load_config
from zeroloop.workers.local_cluster import LocalCluster


def _config(args: argparse.Namespace, workers: int, cache: str):
    return load_config(
        None,
        [
            f"game.board_size={args.board_size}",
            "model.blocks=2",
            "model.channels=32",
            "model.value_hidden=32",
            f"mcts.num_simulations={args.simulations}",
            f"selfplay.batch_size={args.batch_size}",
            f"selfplay.num_workers={workers}",
            f"selfplay.compilation_cache_dir={cache}",
        ],
    )


def _phase(name: str, config, out: Path, games: int) -> dict:
    import ray

    from zeroloop.data.chunks import read_chunk_provenance
    from zeroloop.workers.selfplay_stage import run_selfplay

    alive = sum(1 for n in ray.nodes() if n["Alive"])
    summary = run_selfplay(config, out, num_games=games, show_progress=False)
    chunks = sorted(out.glob("chunk-*.arrow"), key=lambda p: p.stat().st_mtime)
    by_node: dict[str, list[Path]] = {}
    for p in chunks:
        by_node.setdefault(read_chunk_provenance(p)["ray_node_id"], []).append(p)
    nodes = set(by_node)
    # Steady state, per node: from its first chunk's rename to its last one's, the positions
    # after its first chunk; summed over nodes. A node's actor start-up (JAX import, loading
    # the compiled program) is thus left out on every node alike.
    from zeroloop.workers.selfplay_chunks import chunk_stats

    steady = 0.0
    for node_chunks in by_node.values():
        span = node_chunks[-1].stat().st_mtime - node_chunks[0].stat().st_mtime
        if len(node_chunks) > 1 and span > 0:
            steady += sum(chunk_stats(p).positions for p in node_chunks[1:]) / span
    result = {
        "phase": name,
        "nodes_alive": alive,
        "nodes_used": len(nodes),
        "workers": summary.num_workers,
        "games": summary.new_games,
        "positions": summary.new_positions,
        "wall_seconds": round(summary.wall_seconds, 2),
        "positions_per_second": round(summary.positions_per_second, 1),
        "steady_positions_per_second": round(steady, 1) if steady > 0 else None,
        "games_per_node": list(summary.games_per_node.values()),
    }
    print(json.dumps(result))
    return result


def _spin(core: int, seconds: float, queue) -> None:
    """Count loop iterations for `seconds` pinned to `core` (pure CPU, no JAX)."""
    os.sched_setaffinity(0, {core})
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        for _ in range(10_000):
            n += 1
    queue.put(n)


def cpu_ceiling(cores: list[int], seconds: float = 3.0) -> float:
    """What two pinned processes get done together over what one does alone, on `cores`.

    The machine's own ceiling for the two-node ratio (shared caches, SMT siblings, a VM's
    vCPUs, other work): no placement can scale self-play beyond it.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")

    def run(on: list[int]) -> int:
        queue = ctx.Queue()
        procs = [ctx.Process(target=_spin, args=(c, seconds, queue)) for c in on]
        for p in procs:
            p.start()
        total = sum(queue.get() for _ in procs)
        for p in procs:
            p.join()
        return total

    return run(cores[:2]) / run(cores[:1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board-size", type=int, default=5)
    parser.add_argument("--simulations", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--games", type=int, default=96, help="games per phase")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin each node to its own CPU core (taskset-like)"
    )
    args = parser.parse_args()

    # Each node is pinned to its own core (when the machine has two), so "1 CPU" is real:
    # unpinned, one JAX actor alone would use every core and the comparison would be void.
    cores = sorted(os.sched_getaffinity(0))
    head_core, node_core = ([cores[0]], [cores[1]]) if len(cores) >= 2 and not args.no_pin else (None, None)
    cluster = LocalCluster.start(head_cpus=1, cores=head_core)
    try:
        # The driver must carry the cluster's token before Ray is imported.
        for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
            os.environ[key] = cluster.env()[key]
        import ray

        ray.init(address=cluster.address, log_to_driver=False)
        with tempfile.TemporaryDirectory(prefix="zlbench") as tmp:
            root = Path(tmp)
            cache = str(root / "xla")
            start = time.perf_counter()
            _phase("warm-up", _config(args, 1, cache), root / "warm", args.batch_size)
            print(f"# warm-up (compile into the cache) {time.perf_counter() - start:.1f} s")
            one = _phase("one node", _config(args, 1, cache), root / "one", args.games)
            cluster.add_node(num_cpus=1, cores=node_core)
            deadline = time.monotonic() + 120
            while sum(1 for n in ray.nodes() if n["Alive"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            two = _phase("two nodes", _config(args, 2, cache), root / "two", args.games)
        ray.shutdown()
    finally:
        cluster.shutdown()
    ratio = two["positions_per_second"] / one["positions_per_second"]
    ceiling = cpu_ceiling(cores) if len(cores) >= 2 else None
    steady = (
        two["steady_positions_per_second"] / one["steady_positions_per_second"]
        if one["steady_positions_per_second"] and two["steady_positions_per_second"]
        else None
    )
    print(
        f"two nodes / one node: {ratio:.2f}x positions/s (whole stage)"
        + (f", {steady:.2f}x steady" if steady else "")
        + f"; goal >= 1.8x; machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if ceiling:
        print(
            f"reference, same run: two pinned CPU-bound processes do {ceiling:.2f}x what one does "
            f"on this machine (its ceiling for the ratio above); self-play reaches "
            f"{(steady or ratio) / ceiling:.0%} of it"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"one": one, "two": two, "ratio": ratio, "steady_ratio": steady, "cpu_ceiling": ceiling},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
