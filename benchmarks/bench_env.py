"""Random-play throughput of our JAX Hex env against pgx's `hex`, in the same run.

Each environment plays uniformly random legal moves on a batch of boards inside one
jitted `lax.scan`; finished games restart from the initial position so every step
is a real move. Per step both loops produce what a self-play worker needs: the next
state, the legal mask, the terminal flag, the reward and the observation. pgx's
`step` computes its observation itself; for ours we call `Hex.observation` and fold
a checksum of every observation into the carry, so XLA cannot drop the work.

    python benchmarks/bench_env.py --batch 1024 --size 11 --steps 256 --repeats 5

Prints steps/s for both (best and median of `--repeats` timed runs each, interleaved,
after one warm-up run) and the ratio of the best ours / pgx.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pgx

from zeroloop.games.hex import Hex


def random_action(key: jax.Array, legal: jax.Array) -> jax.Array:
    """int32 [B]: a uniformly random legal action per row of `legal` (bool [B, A])."""
    noise = jax.random.uniform(key, legal.shape)
    return jnp.argmax(jnp.where(legal, noise, -1.0), axis=-1).astype(jnp.int32)


def reset_where(done: jax.Array, fresh: Any, state: Any) -> Any:
    """Replace the rows of a batched state whose game ended (done: bool [B])."""

    def pick(f: jax.Array, s: jax.Array) -> jax.Array:
        return jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s)

    return jax.tree.map(pick, fresh, state)


def ours_loop(size: int, batch: int, steps: int) -> Callable[[jax.Array], jax.Array]:
    """Jitted fn(key) -> checksum: `steps` random moves on `batch` boards with our env."""
    env = Hex(size, swap=True)  # pgx's hex always has the swap rule
    init = jax.vmap(lambda _: env.init())(jnp.arange(batch))
    step = jax.vmap(env.step)
    legal_mask = jax.vmap(env.legal_mask)
    observe = jax.vmap(env.observation)
    reward = jax.vmap(env.reward)

    def body(carry: tuple[Any, jax.Array], key: jax.Array) -> tuple[tuple[Any, jax.Array], None]:
        state, acc = carry
        state = step(state, random_action(key, legal_mask(state)))
        done = env.is_terminal(state)
        acc = acc + observe(state).sum() + reward(state, state.to_play).sum()
        return (reset_where(done, init, state), acc), None

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        (_, acc), _ = jax.lax.scan(body, (init, jnp.float32(0)), jax.random.split(key, steps))
        return acc

    return run


def pgx_loop(size: int, batch: int, steps: int) -> Callable[[jax.Array], jax.Array]:
    """Jitted fn(key) -> checksum: the same loop with pgx's hex."""
    env = pgx.make("hex") if size == 11 else pgx.hex.Hex(size=size)
    init = jax.vmap(env.init)(jax.random.split(jax.random.key(0), batch))
    step = jax.vmap(env.step)

    def body(carry: tuple[Any, jax.Array], key: jax.Array) -> tuple[tuple[Any, jax.Array], None]:
        state, acc = carry
        state = step(state, random_action(key, state.legal_action_mask))
        acc = acc + state.observation.sum() + state.rewards.sum()
        return (reset_where(state.terminated, init, state), acc), None

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        (_, acc), _ = jax.lax.scan(body, (init, jnp.float32(0)), jax.random.split(key, steps))
        return acc

    return run


def time_runs(runs: dict[str, Callable[[jax.Array], jax.Array]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each run, `repeats` times, interleaved, after one warm-up call each.

    Interleaving matters on a shared machine: a burst of load hits both runs alike
    instead of whichever happened to be measured at the time.
    """
    for run in runs.values():
        jax.block_until_ready(run(jax.random.key(0)))  # compiles
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(run(jax.random.key(i + 1)))
            seconds[name].append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024, help="boards played in parallel")
    parser.add_argument("--size", type=int, default=11, help="board size N")
    parser.add_argument("--steps", type=int, default=256, help="moves per board per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each; the best one counts")
    args = parser.parse_args(argv)

    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}")
    print(f"batch {args.batch}, {args.size}x{args.size}, {args.steps} steps, best of {args.repeats}")
    runs = {
        "zeroloop Hex": ours_loop(args.size, args.batch, args.steps),
        "pgx hex": pgx_loop(args.size, args.batch, args.steps),
    }
    seconds = time_runs(runs, args.repeats)
    rate = {}
    for name, times in seconds.items():
        rate[name] = args.batch * args.steps / min(times)
        median = args.batch * args.steps / sorted(times)[len(times) // 2]
        print(f"{name:<14}{rate[name]:>12,.0f} steps/s (best)   {median:>12,.0f} (median)")
    print(f"ratio ours/pgx: {rate['zeroloop Hex'] / rate['pgx hex']:.2f}")


if __name__ == "__main__":
    main()
