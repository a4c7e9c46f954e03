"""Cost of the search options of issue 12: one batched PUCT search, default against each option.

The options change what the search does (root noise, first-play value, forced
playouts), not how much it computes, so their cost should be a few percent at most;
this measures it. Each option is timed against the default in alternation, `--repeats`
rounds of one search each after a compile/warm-up call, so drift on a shared machine
hits both alike; the figure is the ratio of the medians. The net is a small random
`create_model` net, so the search overhead is not drowned by the network.

    python benchmarks/bench_search_options.py --size 7 --simulations 64 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from zeroloop.config import load_config
from zeroloop.games.hex import Hex
from zeroloop.model.network import create_model, inference_fn
from zeroloop.search.mcts import SearchParams, run_search

OPTIONS = {
    "dirichlet_total": ["mcts.dirichlet_total=10.83"],
    "fpu_reduction": ["mcts.unvisited_mode=reduction", "mcts.unvisited_value=-0.2"],
    "forced_playouts": ["mcts.forced_playouts=2"],
}


def timed_search(size: int, batch: int, sets: list[str]):
    """A jitted `search(key) -> SearchResult` from the empty board, B copies, noise 0.25."""
    config = load_config(None, ["model.blocks=2", "model.channels=16", f"game.board_size={size}", *sets])
    apply, _, params = inference_fn(create_model(config.model, seed=0))
    env = Hex(size)
    sp = SearchParams.from_config(config.mcts)
    states = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch, *x.shape)), env.init())
    weight = jnp.full((batch,), 0.25)
    fn = jax.jit(lambda key: run_search(env, apply, sp, params, key, states, weight))
    jax.block_until_ready(fn(jax.random.key(0)))
    return fn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=7)
    parser.add_argument("--simulations", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    sims = [f"mcts.num_simulations={args.simulations}"]
    base = timed_search(args.size, args.batch_size, sims)
    rows = []
    for name, sets in OPTIONS.items():
        option = timed_search(args.size, args.batch_size, [*sims, *sets])
        times: dict[str, list[float]] = {"default": [], name: []}
        for i in range(args.repeats):
            for label, fn in (("default", base), (name, option)):
                t = time.perf_counter()
                jax.block_until_ready(fn(jax.random.key(i + 1)))
                times[label].append(time.perf_counter() - t)
        a, b = np.median(times["default"]), np.median(times[name])
        rows.append({"option": name, "default_ms": 1e3 * a, "option_ms": 1e3 * b, "ratio": b / a})
        print(f"{name:16s} default {1e3 * a:7.1f} ms   option {1e3 * b:7.1f} ms   ratio {b / a:.3f}")
    print(
        json.dumps(
            {
                "size": args.size,
                "simulations": args.simulations,
                "batch": args.batch_size,
                "backend": jax.default_backend(),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
