"""Continuous self-play: B game slots that never idle, jitted end to end.

Each `lax.while_loop` iteration is one ply of every slot. A slot whose game ended at
this ply hands its record to the output and starts a new game at once, so every
search is spent on a live game (the lock-step loop in `selfplay.py` keeps searching
finished games until the longest one ends). The reset happens right after the move
that ended the game, before the next search: a terminal state never reaches the
search (pgx's AlphaZero example had exactly that bug, pgx PR #1315). Each
iteration counts the terminal states it searched (`Stats.terminal_searched`) so a
test can hold the loop to that.

`play(params, slots, key, target, resign_threshold)` runs until `target` games have
finished (at most `capacity`, a static bound that shapes the output) and returns the
slots as they stand, mid-game, to be passed to the next call: the games in flight
carry over. It hands out exactly `target` games: when more end at the last ply, the
extra ones stay in their slots, held, and the next call hands them out first, before
it searches anything, so no finished game is thrown away between calls.

Resignation (minigo, lc0), when `resign_consecutive` is given: a player whose root
value stays below `resign_threshold` (traced: the stage adapts it) for that many of
its own moves in a row resigns instead of moving, unless its game is one of the
`resign_free_share` drawn at the start that never resign; those measure how often
the side that would have resigned went on to win.
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

    states:  HexState [B]        the position of each slot's game (terminal only where held).
    records: SelfplayBatch [B]   each slot's game so far (length and winner set once it ends).
    low:     int32 [B, 2]        each player's own moves in a row with root value below the threshold.
    held:    bool [B]            the game ended at the last ply of a call that already had its
                                 target: the next call hands it out before searching.
    """

    states: HexState
    records: SelfplayBatch
    low: jax.Array
    held: jax.Array


class Stats(NamedTuple):
    """What one `play` call searched (int32 scalars).

    plies: loop iterations (each searches all B slots); searched_rows = plies * B.
    finished: games handed out (games held over from the last call count here, and never
    more than `target`).
    terminal_searched: slot-plies whose state was terminal when searched (always 0).
    """

    plies: jax.Array
    finished: jax.Array
    terminal_searched: jax.Array
    resigned: jax.Array  # of the games handed out


class ContinuousSelfplay(NamedTuple):
    """The two functions of continuous self-play (wrap each in `jax.jit`).

    init(rng_key) -> Slots: B fresh games.
    play(params, slots, rng_key, target int32 [], resign_threshold float32 [])
    -> (Slots, SelfplayBatch [capacity], Stats):
    games in the order they finished; rows past `min(finished, capacity)` are empty
    (winner -1).
    """

    init: Callable[[jax.Array], Slots]
    play: Callable[[Any, Slots, jax.Array, jax.Array, jax.Array], tuple[Slots, SelfplayBatch, Stats]]


def make_continuous_selfplay(
    env: Hex,
    apply: ApplyFn,
    config: MctsConfig,
    slots: int,
    capacity: int,
    resign_consecutive: int | None = None,
    resign_free_share: float = 0.1,
) -> ContinuousSelfplay:
    """Continuous self-play over `slots` games, returning up to `capacity` finished games a call.

    resign_consecutive: own moves in a row below the threshold to resign; None = never.
    resign_free_share: probability that a new game may not resign.
    """
    ply = make_ply_fn(env, apply, config, slots)
    max_plies = env.num_actions
    b, a = slots, env.num_actions
    resigning = resign_consecutive is not None

    def fresh_states() -> HexState:
        return jax.vmap(lambda _: env.init())(jnp.arange(b))

    def init(rng_key: jax.Array) -> Slots:
        records = empty_records(b, max_plies, a)
        if resigning:
            records = records._replace(resign_free=jax.random.uniform(rng_key, (b,)) < resign_free_share)
        low = jnp.zeros((b, 2), jnp.int32)
        return Slots(states=fresh_states(), records=records, low=low, held=jnp.zeros((b,), bool))

    def hand_out(
        slots: Slots,
        out: SelfplayBatch,
        finished: jax.Array,
        done: jax.Array,
        target: jax.Array,
        key: jax.Array,
    ) -> tuple[Slots, SelfplayBatch, jax.Array]:
        """Move the `done` [B] games to the next free output rows, up to `target` in all.

        Those handed out restart with a new game at once, before the next search; the
        rest stay in their slots, held for the next call. Returns (slots, out, finished).
        """
        rank = jnp.cumsum(done)
        now = done & (finished + rank <= target)
        # In slot order; the others scatter out of bounds, so only their slots keep them.
        dest = jnp.where(now, finished + rank - 1, capacity)
        out = jax.tree.map(lambda o, r: o.at[dest].set(r, mode="drop"), out, slots.records)
        fresh = init(key)
        restart = lambda new, old: jnp.where(now.reshape((b,) + (1,) * (old.ndim - 1)), new, old)  # noqa: E731
        slots = Slots(
            states=jax.tree.map(restart, fresh.states, slots.states),
            records=jax.tree.map(restart, fresh.records, slots.records),
            low=restart(fresh.low, slots.low),
            held=done & ~now,
        )
        return slots, out, finished + now.sum(dtype=jnp.int32)

    def play(
        params: Any, slots_in: Slots, rng_key: jax.Array, target: jax.Array, threshold: jax.Array
    ) -> tuple[Slots, SelfplayBatch, Stats]:
        target = jnp.minimum(target, capacity)
        out = empty_records(capacity, max_plies, a)
        zero = jnp.int32(0)
        rows = jnp.arange(b)

        def cond(carry: tuple[Slots, SelfplayBatch, jax.Array, Stats]) -> jax.Array:
            return carry[3].finished < target

        def body(carry: tuple[Slots, SelfplayBatch, jax.Array, Stats]):
            slots, out, key, stats = carry
            key, ply_key, fresh_key = jax.random.split(key, 3)
            states, rec, low, held = slots
            # Held slots exist only when the loop is about to stop; counted here so a test
            # would see one searched.
            terminal = jax.vmap(env.is_terminal)(states) | held
            step = ply(params, ply_key, states)
            mover = states.to_play.astype(jnp.int32)
            if resigning:
                below = step.root_value < threshold
                low = low.at[rows, mover].set(jnp.where(below, low[rows, mover] + 1, 0))
                resign = (low[rows, mover] >= resign_consecutive) & ~rec.resign_free
            else:
                resign = jnp.zeros((b,), bool)
            # A resigning player makes no move: its ply is neither recorded nor played.
            kept = jax.tree.map(
                lambda x: jnp.where(resign.reshape((b,) + (1,) * (x.ndim - 1)), jnp.zeros_like(x), x), step
            )
            rec = record_ply(rec, states.ply.astype(jnp.int32), kept, ~resign)
            moved = jax.vmap(env.step)(states, step.action)
            states = jax.tree.map(
                lambda old, new: jnp.where(resign.reshape((b,) + (1,) * (old.ndim - 1)), old, new),
                states,
                moved,
            )
            done = jax.vmap(env.is_terminal)(states) | resign
            winner = jnp.where(resign, 1 - mover, states.winner).astype(jnp.int8)
            rec = rec._replace(length=states.ply.astype(jnp.int32), winner=winner, resigned=resign)
            slots = Slots(states, rec, low, held)
            slots, out, finished = hand_out(slots, out, stats.finished, done, target, fresh_key)
            stats = stats._replace(
                plies=stats.plies + 1,
                finished=finished,
                terminal_searched=stats.terminal_searched + terminal.sum(dtype=jnp.int32),
            )
            return slots, out, key, stats

        # Games held over from the last call go out first, before any search.
        slots_in, out, finished = hand_out(
            slots_in, out, zero, slots_in.held, target, jax.random.fold_in(rng_key, 0x4E1D)
        )
        slots_out, out, _, stats = jax.lax.while_loop(
            cond, body, (slots_in, out, rng_key, Stats(zero, finished, zero, zero))
        )
        # Counted on the games handed out, so a held resignation counts in the call that writes it.
        resigned = (out.resigned & (out.winner >= 0)).sum(dtype=jnp.int32)
        return slots_out, out, stats._replace(resigned=resigned)

    return ContinuousSelfplay(init=init, play=play)
