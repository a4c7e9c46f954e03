"""Continuous self-play: B game slots that never idle, jitted end to end.

Each `lax.while_loop` iteration is one ply of every slot. A slot whose game ended at
this ply hands its record to the output and starts a new game at once, so every
search is spent on a live game (the lock-step loop in `selfplay.py` keeps searching
finished games until the longest one ends). The reset happens right after the move
that ended the game, before the next search: a terminal state never reaches the
search (pgx's AlphaZero example had exactly that bug, pgx PR #1315). Each
iteration counts the terminal states it searched (`Stats.terminal_searched`) so a
test can hold the loop to that.

`play(params, slots, key, target)` runs until `target` games have finished (at most
`capacity`, a static bound that shapes the output) and returns the slots as they
stand, mid-game, to be passed to the next call: the games in flight carry over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zeroloop.config.mcts import MctsConfig
from zeroloop.games.hex import Hex, HexState
from zeroloop.search.mcts import ApplyFn
from zeroloop.search.selfplay import SelfplayBatch, empty_records, make_ply_fn, record_ply


class Slots(NamedTuple):
    """B games in flight and their records so far (T = N*N+1 plies, A = N*N+1 actions).

    states:  HexState [B]        the position of each slot's game (never terminal between calls).
    records: SelfplayBatch [B]   each slot's game so far (length and winner unset).
    """

    states: HexState
    records: SelfplayBatch


class Stats(NamedTuple):
    """What one `play` call searched (int32 scalars).

    plies: loop iterations (each searches all B slots); searched_rows = plies * B.
    finished: games that ended (may exceed `target` when several end at the last ply;
    games beyond `capacity` are not returned).
    terminal_searched: slot-plies whose state was terminal when searched (always 0).
    """

    plies: jax.Array
    finished: jax.Array
    terminal_searched: jax.Array


class ContinuousSelfplay(NamedTuple):
    """The two functions of continuous self-play (wrap each in `jax.jit`).

    init() -> Slots: B fresh games.
    play(params, slots, rng_key, target int32 []) -> (Slots, SelfplayBatch [capacity], Stats):
    games in the order they finished; rows past `min(finished, capacity)` are empty
    (winner -1).
    """

    init: Callable[[], Slots]
    play: Callable[[Any, Slots, jax.Array, jax.Array], tuple[Slots, SelfplayBatch, Stats]]


def make_continuous_selfplay(
    env: Hex, apply: ApplyFn, config: MctsConfig, slots: int, capacity: int
) -> ContinuousSelfplay:
    """Continuous self-play over `slots` games, returning up to `capacity` finished games a call."""
    ply = make_ply_fn(env, apply, config, slots)
    max_plies = env.num_actions
    b, a = slots, env.num_actions

    def fresh_states() -> HexState:
        return jax.vmap(lambda _: env.init())(jnp.arange(b))

    def init() -> Slots:
        return Slots(states=fresh_states(), records=empty_records(b, max_plies, a))

    def play(
        params: Any, slots_in: Slots, rng_key: jax.Array, target: jax.Array
    ) -> tuple[Slots, SelfplayBatch, Stats]:
        target = jnp.minimum(target, capacity)
        out = empty_records(capacity, max_plies, a)
        fresh = init()
        zero = jnp.int32(0)

        def cond(carry: tuple[Slots, SelfplayBatch, jax.Array, Stats]) -> jax.Array:
            return carry[3].finished < target

        def body(carry: tuple[Slots, SelfplayBatch, jax.Array, Stats]):
            slots, out, key, stats = carry
            key, ply_key = jax.random.split(key)
            states, rec = slots
            terminal = jax.vmap(env.is_terminal)(states)
            step = ply(params, ply_key, states)
            rec = record_ply(rec, states.ply.astype(jnp.int32), step, jnp.ones((b,), bool))
            states = jax.vmap(env.step)(states, step.action)
            done = jax.vmap(env.is_terminal)(states)
            # Finished games go to the next free output rows, in slot order; the rest
            # (and any past capacity) scatter out of bounds and are dropped.
            dest = jnp.where(done, stats.finished + jnp.cumsum(done) - 1, capacity)
            rec = rec._replace(length=states.ply.astype(jnp.int32), winner=states.winner)
            out = jax.tree.map(lambda o, r: o.at[dest].set(r, mode="drop"), out, rec)
            # A finished slot starts a new game now, before the next search.
            restart = lambda new, old: jnp.where(done.reshape((b,) + (1,) * (old.ndim - 1)), new, old)  # noqa: E731
            slots = Slots(
                states=jax.tree.map(restart, fresh.states, states),
                records=jax.tree.map(restart, fresh.records, rec),
            )
            stats = Stats(
                plies=stats.plies + 1,
                finished=stats.finished + done.sum(dtype=jnp.int32),
                terminal_searched=stats.terminal_searched + terminal.sum(dtype=jnp.int32),
            )
            return slots, out, key, stats

        slots_out, out, _, stats = jax.lax.while_loop(
            cond, body, (slots_in, out, rng_key, Stats(zero, zero, zero))
        )
        return slots_out, out, stats

    return ContinuousSelfplay(init=init, play=play)
