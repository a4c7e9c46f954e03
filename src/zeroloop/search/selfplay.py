"""Self-play plies and the lock-step game loop, jitted end to end.

`make_ply_fn` is one ply of a batch of games: evaluate, search, choose a move, and the
per-ply records. Two loops use it: `make_selfplay_fn` here plays B games in lock-step
until the longest ends (the reference the benchmark compares against), and
`zeroloop.search.continuous` keeps B game slots busy, restarting a slot the moment its
game ends. No Python runs per move in either.

Playout-cap randomisation (KataGo): each game's ply gets a cheap search
(`cheap_simulations`, no root noise, not a policy target) with probability
`playout_cap_fraction`. The simulation count shapes the compiled program, so the coin
is drawn as a random split of the B games at each ply: exactly k = round(B * (1 - p))
of them, chosen uniformly at random, get the full search and the others the cheap
one. Each game's ply is then full with probability k / B, independently of its own
history, and a ply costs k * full + (B - k) * cheap simulations: the expected cost of
KataGo's per-move coin, where running both searches for every game would cost
cheap + full.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zeroloop.config.mcts import MctsConfig
from zeroloop.games.hex import Hex, HexState
from zeroloop.search.mcts import ApplyFn, SearchParams, run_search
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
    resigned:     bool [B]          the loser resigned instead of playing move `length`.
    resign_free:  bool [B]          the game was not allowed to resign.
    """

    actions: jax.Array
    policy: jax.Array
    root_value: jax.Array
    policy_valid: jax.Array
    temperature: jax.Array
    noise_weight: jax.Array
    length: jax.Array
    winner: jax.Array
    resigned: jax.Array
    resign_free: jax.Array


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


class PlyOut(NamedTuple):
    """One ply of B games. A = N*N+1 actions, board frame.

    action:       int32 [B]      the move chosen.
    policy:       float32 [B, A] search policy (0 on illegal moves).
    root_value:   float32 [B]    root value after search, mover's view.
    policy_valid: bool [B]       False for cheap (playout-capped) searches.
    temperature:  float32 [B]    temperature the move was drawn at (0 for Gumbel, which
                                 plays its sequential-halving choice).
    noise_weight: float32 [B]    root Dirichlet weight applied (0 for cheap and Gumbel).
    """

    action: jax.Array
    policy: jax.Array
    root_value: jax.Array
    policy_valid: jax.Array
    temperature: jax.Array
    noise_weight: jax.Array


def full_search_count(batch_size: int, playout_cap_fraction: float) -> int:
    """How many of `batch_size` games get the full search at each ply (the rest: cheap)."""
    if playout_cap_fraction <= 0.0:
        return batch_size
    if playout_cap_fraction >= 1.0:
        return 0
    return min(batch_size, max(0, round(batch_size * (1.0 - playout_cap_fraction))))


def _take(tree: Any, idx: jax.Array) -> Any:
    return jax.tree.map(lambda x: x[idx], tree)


def make_ply_fn(
    env: Hex, apply: ApplyFn, config: MctsConfig, batch_size: int
) -> Callable[[Any, jax.Array, HexState], PlyOut]:
    """Build `ply(params, rng_key, states [B]) -> PlyOut` (traceable; `params` traced)."""
    full = SearchParams.from_config(config)
    cheap = SearchParams.from_config(config, num_simulations=config.cheap_simulations)
    k = full_search_count(batch_size, float(config.playout_cap_fraction))
    length = config.expected_game_length or default_expected_game_length(env.board_size)
    temperature_schedule = piecewise(config.temperature)
    noise_schedule = piecewise(config.noise_weight)
    gumbel = full.mode == "gumbel"
    opening = int(config.random_opening_plies)
    b = batch_size

    def ply(params: Any, rng_key: jax.Array, states: HexState) -> PlyOut:
        full_key, cheap_key, split_key, act_key = jax.random.split(rng_key, 4)
        act_key, open_key = jax.random.split(act_key)
        progress = game_progress(states.ply, length)
        temperature = schedule_value(temperature_schedule, progress)
        weight = jnp.zeros((b,), jnp.float32) if gumbel else schedule_value(noise_schedule, progress)
        if k == b:
            out = run_search(env, apply, full, params, full_key, states, weight)
            is_full = jnp.ones((b,), bool)
            action, policy, root_value = out.action, out.policy, out.root_value
        elif k == 0:
            out = run_search(env, apply, cheap, params, cheap_key, states, jnp.zeros_like(weight))
            is_full = jnp.zeros((b,), bool)
            action, policy, root_value = out.action, out.policy, out.root_value
        else:
            order = jax.random.permutation(split_key, b)
            full_rows, cheap_rows = order[:k], order[k:]
            hi = run_search(env, apply, full, params, full_key, _take(states, full_rows), weight[full_rows])
            lo = run_search(
                env, apply, cheap, params, cheap_key, _take(states, cheap_rows), jnp.zeros((b - k,))
            )
            is_full = jnp.zeros((b,), bool).at[full_rows].set(True)
            merge = lambda a, c: (
                jnp.zeros((b, *a.shape[1:]), a.dtype).at[full_rows].set(a).at[cheap_rows].set(c)
            )  # noqa: E731
            action = merge(hi.action, lo.action)
            policy = merge(hi.policy, lo.policy)
            root_value = merge(hi.root_value, lo.root_value)
        weight = jnp.where(is_full, weight, 0.0)
        if gumbel:
            temperature = jnp.zeros((b,), jnp.float32)  # Gumbel plays what sequential halving picked
        else:
            action = select_action(act_key, policy, temperature)
        if opening > 0:
            # Opening diversity: a uniformly random legal move, which no search chose, so no target.
            legal = jax.vmap(env.legal_mask)(states)
            uniform = jax.random.categorical(open_key, jnp.where(legal, 0.0, -jnp.inf), axis=-1)
            random_ply = states.ply < opening
            action = jnp.where(random_ply, uniform, action)
            is_full = is_full & ~random_ply
        return PlyOut(
            action=action.astype(jnp.int32),
            policy=policy,
            root_value=root_value,
            policy_valid=is_full,
            temperature=temperature.astype(jnp.float32),
            noise_weight=weight.astype(jnp.float32),
        )

    return ply


def empty_records(batch_size: int, max_plies: int, num_actions: int) -> SelfplayBatch:
    """Records of `batch_size` games before any move: actions -1, winner -1, zeros elsewhere."""
    b, t, a = batch_size, max_plies, num_actions
    return SelfplayBatch(
        actions=jnp.full((b, t), -1, jnp.int16),
        policy=jnp.zeros((b, t, a), jnp.float32),
        root_value=jnp.zeros((b, t), jnp.float32),
        policy_valid=jnp.zeros((b, t), bool),
        temperature=jnp.zeros((b, t), jnp.float32),
        noise_weight=jnp.zeros((b, t), jnp.float32),
        length=jnp.zeros((b,), jnp.int32),
        winner=jnp.full((b,), -1, jnp.int8),
        resigned=jnp.zeros((b,), bool),
        resign_free=jnp.ones((b,), bool),
    )


def record_ply(rec: SelfplayBatch, t: jax.Array, out: PlyOut, live: jax.Array) -> SelfplayBatch:
    """Write ply `out` of each game at its own ply index `t` (int [B]); rows not `live` keep -1."""
    rows = jnp.arange(t.shape[0])
    return rec._replace(
        actions=rec.actions.at[rows, t].set(jnp.where(live, out.action, -1).astype(jnp.int16)),
        policy=rec.policy.at[rows, t].set(out.policy),
        root_value=rec.root_value.at[rows, t].set(out.root_value),
        policy_valid=rec.policy_valid.at[rows, t].set(live & out.policy_valid),
        temperature=rec.temperature.at[rows, t].set(out.temperature),
        noise_weight=rec.noise_weight.at[rows, t].set(out.noise_weight),
    )


def make_selfplay_fn(
    env: Hex, apply: ApplyFn, config: MctsConfig, batch_size: int
) -> Callable[[Any, jax.Array], SelfplayBatch]:
    """Build `play(params, rng_key) -> SelfplayBatch` (not yet jitted; wrap it in `jax.jit`).

    B games in lock-step until all have ended: finished games keep being searched (and
    their output discarded) until the longest one ends. `params` is traced, so new
    weights of the same structure reuse the compiled program.
    """
    ply = make_ply_fn(env, apply, config, batch_size)
    max_plies = env.num_actions  # every cell once, plus the swap
    b = batch_size

    def play(params: Any, rng_key: jax.Array) -> SelfplayBatch:
        states = jax.vmap(lambda _: env.init())(jnp.arange(b))
        records = empty_records(b, max_plies, env.num_actions)

        def cond(carry: tuple[HexState, jax.Array, jax.Array, SelfplayBatch]) -> jax.Array:
            states, _, t, _ = carry
            return (t < max_plies) & ~jnp.all(jax.vmap(env.is_terminal)(states))

        def body(carry: tuple[HexState, jax.Array, jax.Array, SelfplayBatch]):
            states, key, t, rec = carry
            key, ply_key = jax.random.split(key)
            out = ply(params, ply_key, states)
            live = ~jax.vmap(env.is_terminal)(states)
            rec = record_ply(rec, jnp.full((b,), t), out, live)
            # Hex.step ignores illegal actions, and every action is illegal in a finished game.
            states = jax.vmap(env.step)(states, out.action)
            return states, key, t + 1, rec

        states, _, _, records = jax.lax.while_loop(cond, body, (states, rng_key, jnp.int32(0), records))
        return records._replace(length=states.ply.astype(jnp.int32), winner=states.winner)

    return play
