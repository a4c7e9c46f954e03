"""The self-play game loop: B games in lock-step, jitted end to end.

One `lax.while_loop` iteration is one ply of every game in the batch: evaluate, search,
choose a move, record, step. Games that have finished are masked (their search output
is discarded and `Hex.step` leaves a finished game alone), and the loop stops when all
games are over. No Python runs per move.

Playout-cap randomisation (KataGo): with probability `playout_cap_fraction` a ply gets
a cheap search (`cheap_simulations`, no root noise) and its policy is not a training
target. The simulation count shapes the compiled program, so both searches are
compiled and `lax.cond` runs one of them per ply for the whole batch. That costs
`p * cheap + (1 - p) * full` simulations per ply on average, the same as KataGo's
per-move coin; the alternative, running both searches for every game and selecting
per game, costs `cheap + full`. The price is that the coin is shared by the B games
at one ply of one batch, which does not bias the targets: every ply of every game is
still cheap with probability p.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zeroloop.config.mcts import MctsConfig
from zeroloop.games.hex import Hex, HexState
from zeroloop.search.mcts import ApplyFn, SearchParams, SearchResult, run_search
from zeroloop.search.schedules import (
    default_expected_game_length,
    game_progress,
    piecewise,
    schedule_value,
)

# Temperatures at or below this play the most visited move.
GREEDY_TEMPERATURE = 1e-6


class SelfplayBatch(NamedTuple):
    """One batch of finished games. B games, T = N*N+1 plies at most, A = N*N+1 actions.

    Per-ply arrays hold junk after a game's end (index >= length); `actions` holds -1 there.

    actions:      int16 [B, T]      moves played, board frame (N*N = swap).
    policy:       float32 [B, T, A] search policy per ply, board frame (visit distribution
                                    for PUCT, improved policy for Gumbel); 0 on illegal moves.
    root_value:   float32 [B, T]    root value after search, from the mover's view.
    policy_valid: bool [B, T]       False for cheap (playout-capped) searches.
    temperature:  float32 [B, T]    temperature the move was chosen at (PUCT).
    noise_weight: float32 [B, T]    root Dirichlet weight used (PUCT; 0 for cheap searches).
    length:       int32 [B]         plies played (the swap counts).
    winner:       int8 [B]          0 black (first player), 1 white.
    """

    actions: jax.Array
    policy: jax.Array
    root_value: jax.Array
    policy_valid: jax.Array
    temperature: jax.Array
    noise_weight: jax.Array
    length: jax.Array
    winner: jax.Array


def select_action(rng_key: jax.Array, policy: jax.Array, temperature: jax.Array) -> jax.Array:
    """Draw moves from the search policy at a temperature.

    policy: float32 [B, A] visit distribution (0 on illegal moves).
    temperature: float32 [B]; probabilities go as `policy ** (1 / T)`, and T <= 1e-6 plays
    the most visited move (ties broken at random).
    Returns int32 [B].
    """
    tie_key, sample_key = jax.random.split(rng_key)
    t = temperature[:, None]
    # Visit fractions differ by at least 1/num_simulations, so a 1e-7 jitter only breaks ties.
    jitter = 1e-7 * jax.random.uniform(tie_key, policy.shape)
    greedy = jnp.argmax(jnp.where(policy > 0, policy + jitter, -1.0), axis=-1)
    logits = jnp.where(policy > 0, jnp.log(jnp.maximum(policy, 1e-30)) / jnp.maximum(t, 1e-6), -jnp.inf)
    sampled = jax.random.categorical(sample_key, logits, axis=-1)
    return jnp.where(temperature <= GREEDY_TEMPERATURE, greedy, sampled).astype(jnp.int32)


def make_selfplay_fn(
    env: Hex, apply: ApplyFn, config: MctsConfig, batch_size: int
) -> Callable[[Any, jax.Array], SelfplayBatch]:
    """Build `play(params, rng_key) -> SelfplayBatch` (not yet jitted; wrap it in `jax.jit`).

    `params` is traced, so new weights of the same structure reuse the compiled program.
    """
    full = SearchParams.from_config(config)
    cheap = SearchParams.from_config(config, num_simulations=config.cheap_simulations)
    cap = float(config.playout_cap_fraction)
    length = config.expected_game_length or default_expected_game_length(env.board_size)
    temperature_schedule = piecewise(config.temperature)
    noise_schedule = piecewise(config.noise_weight)
    max_plies = env.num_actions  # every cell once, plus the swap
    b, a = batch_size, env.num_actions

    def search(params: Any, key: jax.Array, states: HexState, weight: jax.Array, is_cheap: jax.Array):
        full_search = lambda: run_search(env, apply, full, params, key, states, weight)
        cheap_search = lambda: run_search(env, apply, cheap, params, key, states, jnp.zeros_like(weight))
        if cap <= 0.0:
            return full_search()
        if cap >= 1.0:
            return cheap_search()
        return jax.lax.cond(is_cheap, cheap_search, full_search)

    def play(params: Any, rng_key: jax.Array) -> SelfplayBatch:
        states = jax.vmap(lambda _: env.init())(jnp.arange(b))
        records = SelfplayBatch(
            actions=jnp.full((b, max_plies), -1, jnp.int16),
            policy=jnp.zeros((b, max_plies, a), jnp.float32),
            root_value=jnp.zeros((b, max_plies), jnp.float32),
            policy_valid=jnp.zeros((b, max_plies), bool),
            temperature=jnp.zeros((b, max_plies), jnp.float32),
            noise_weight=jnp.zeros((b, max_plies), jnp.float32),
            length=jnp.zeros((b,), jnp.int32),
            winner=jnp.full((b,), -1, jnp.int8),
        )

        def cond(carry: tuple[HexState, jax.Array, jax.Array, SelfplayBatch]) -> jax.Array:
            states, _, t, _ = carry
            return (t < max_plies) & ~jnp.all(jax.vmap(env.is_terminal)(states))

        def body(carry: tuple[HexState, jax.Array, jax.Array, SelfplayBatch]):
            states, key, t, rec = carry
            key, search_key, cap_key, act_key = jax.random.split(key, 4)
            progress = game_progress(states.ply, length)
            temperature = schedule_value(temperature_schedule, progress)
            is_cheap = jax.random.uniform(cap_key) < cap
            weight = jnp.where(is_cheap, 0.0, schedule_value(noise_schedule, progress))
            out: SearchResult = search(params, search_key, states, weight, is_cheap)
            # Gumbel plays what its sequential halving picked; PUCT samples the visits.
            gumbel = full.mode == "gumbel"
            action = out.action if gumbel else select_action(act_key, out.policy, temperature)
            live = ~jax.vmap(env.is_terminal)(states)
            rec = rec._replace(
                actions=rec.actions.at[:, t].set(jnp.where(live, action, -1).astype(jnp.int16)),
                policy=rec.policy.at[:, t].set(out.policy),
                root_value=rec.root_value.at[:, t].set(out.root_value),
                policy_valid=rec.policy_valid.at[:, t].set(live & ~is_cheap),
                temperature=rec.temperature.at[:, t].set(temperature),
                noise_weight=rec.noise_weight.at[:, t].set(weight),
            )
            # Hex.step ignores illegal actions, and every action is illegal in a finished game.
            states = jax.vmap(env.step)(states, action)
            return states, key, t + 1, rec

        states, _, _, records = jax.lax.while_loop(cond, body, (states, rng_key, jnp.int32(0), records))
        return records._replace(length=states.ply.astype(jnp.int32), winner=states.winner)

    return play
