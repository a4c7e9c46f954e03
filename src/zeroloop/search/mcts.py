"""One batched search over Hex positions with mctx: PUCT (AlphaZero) or Gumbel MuZero.

The tree lives in the *board frame*: the root prior, `invalid_actions`, the actions the
tree expands and the visit distribution it returns are all board-frame indices. The
network sees and answers in the mover's frame, so every call to it goes through
`Hex.observation` (in) and `Hex.frame_to_board` (out).

Two-player values follow the mctx convention for alternating games: a node's value is
from the view of the player to move there; an edge carries the reward of the player
who made the move and `discount = -1`, so the backup `reward + discount * value`
turns the child's value into the parent's view. Terminal handling:

* the move that wins gets `reward = +1`, `discount = 0`, and the child's value is 0;
* anything expanded below a finished game gets reward 0, discount 0, value 0;
* an illegal move below the root (never chosen at the root, which mctx masks with
  `invalid_actions`) is a loss for the player who chose it (`reward = -1`,
  `discount = 0`) and is also hidden from PUCT by the q-transforms here.

c_puct and mctx: `mctx.muzero_action_selection` scores a child by
`Q + c(N) * P * sqrt(N) / (1 + n)` with `c(N) = pb_c_init + log((N + pb_c_base + 1) / pb_c_base)`
(MuZero), where N = the node's visits (1 + the children's, mctx counts the expansion).
With `pb_c_base` -> infinity the log vanishes and `pb_c_init` *is* AlphaZero's c_puct;
`c_puct_base = None` does exactly that. AlphaZero's Q lies in [-1, 1]; mctx's default
q-transform min-max normalises Q to [0, 1], which roughly doubles the weight of the
prior term for the same constant. `q_transform = 'alphazero'` keeps Q raw so that
c_puct means what it meant in AlphaZero and in the seed (3.0).

With `forced_playouts` the PUCT search runs through `mctx.search` with the root's action
selection from `zeroloop.search.forced` (KataGo's forced playouts) and returns the
pruned visit distribution as the policy in the rows that have root noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import mctx

from zeroloop.config.mcts import MctsConfig
from zeroloop.games.hex import Hex, HexState
from zeroloop.search.forced import forced_root_selection, pruned_root_visits

# apply(params, obs [B, N, N, 3]) -> (logits [B, N*N+1] mover's frame, value [B] mover's view).
ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]

# Effectively infinite pb_c_base: log((N + base + 1) / base) < 1e-8 for any tree here.
CONSTANT_C_BASE = 1e12
# Illegal actions get the most negative finite logit (as mctx does): -inf would turn a
# softmax over an all-illegal row (a finished game) into NaN.
ILLEGAL_LOGIT = float(jnp.finfo(jnp.float32).min)
# A child whose prior logit is below this was masked as illegal by us or by mctx.
_ILLEGAL_THRESHOLD = -1e30
# PUCT score given to illegal children below the root, far below any Q + U.
_ILLEGAL_SCORE = -1e9


@dataclass(frozen=True)
class SearchParams:
    """Static search settings (they shape the compiled program, so they are not traced)."""

    mode: Literal["puct", "gumbel"] = "puct"
    num_simulations: int = 32
    c_puct: float = 3.0
    c_puct_base: float | None = None
    q_transform: Literal["alphazero", "minmax"] = "alphazero"
    unvisited_value: float = 0.0
    unvisited_mode: Literal["absolute", "parent", "reduction"] = "absolute"
    dirichlet_alpha: float = 0.3
    dirichlet_total: float | None = None
    forced_playouts: float | None = None
    gumbel_scale: float = 1.0
    max_num_considered_actions: int = 16

    @classmethod
    def from_config(cls, config: MctsConfig, num_simulations: int | None = None) -> SearchParams:
        """Search settings of `config`; `num_simulations` overrides (e.g. the cheap search)."""
        return cls(
            mode=config.mode,
            num_simulations=num_simulations or config.num_simulations,
            c_puct=config.c_puct,
            c_puct_base=config.c_puct_base,
            q_transform=config.q_transform,
            unvisited_value=config.unvisited_value,
            unvisited_mode=config.unvisited_mode,
            dirichlet_alpha=config.dirichlet_alpha,
            dirichlet_total=config.dirichlet_total,
            forced_playouts=config.forced_playouts,
            gumbel_scale=config.gumbel_scale,
            max_num_considered_actions=config.max_num_considered_actions,
        )


class SearchResult(NamedTuple):
    """What one batched search returns. B = batch, A = N*N+1 actions, all board frame.

    action:       int32 [B]      mctx's proposed action (Gumbel: the one to play; PUCT:
                                 sampled at temperature 1, usually replaced by the caller).
    policy:       float32 [B, A] search policy: visit distribution (PUCT) or the
                                 improved policy `action_weights` (Gumbel); 0 on illegal moves.
    visit_counts: int32 [B, A]   root visit counts.
    root_value:   float32 [B]    root value after search, mover's view.
    """

    action: jax.Array
    policy: jax.Array
    visit_counts: jax.Array
    root_value: jax.Array


def evaluate(env: Hex, apply: ApplyFn, params: Any, states: HexState) -> tuple[jax.Array, jax.Array]:
    """Network prior and value of a batch of positions, prior mapped to the board frame.

    states: HexState with batch shape [B].
    Returns (logits float32 [B, A] board frame, illegal moves at ILLEGAL_LOGIT; value float32 [B]).
    """
    obs = jax.vmap(env.observation)(states)
    logits, value = apply(params, obs)
    logits = jax.vmap(env.frame_to_board)(states, logits.astype(jnp.float32))
    legal = jax.vmap(env.legal_mask)(states)
    return jnp.where(legal, logits, ILLEGAL_LOGIT), value.astype(jnp.float32)


def make_recurrent_fn(env: Hex, apply: ApplyFn) -> mctx.RecurrentFn:
    """mctx recurrent function over the true Hex dynamics (embedding = HexState, board frame)."""

    def recurrent_fn(
        params: Any, rng_key: jax.Array, action: jax.Array, state: HexState
    ) -> tuple[mctx.RecurrentFnOutput, HexState]:
        del rng_key
        batch = action.shape[0]
        was_over = jax.vmap(env.is_terminal)(state)
        legal = jax.vmap(env.legal_mask)(state)[jnp.arange(batch), action]
        child = jax.vmap(env.step)(state, action)
        won = jax.vmap(env.is_terminal)(child) & ~was_over
        logits, value = evaluate(env, apply, params, child)
        # Reward of the player who moved: +1 for the winning move, -1 for an illegal one
        # (only reachable below the root), 0 otherwise and below a finished game.
        reward = jnp.where(was_over, 0.0, jnp.where(~legal, -1.0, jnp.where(won, 1.0, 0.0)))
        ends = was_over | ~legal | won
        out = mctx.RecurrentFnOutput(
            reward=reward.astype(jnp.float32),
            discount=jnp.where(ends, 0.0, -1.0).astype(jnp.float32),
            prior_logits=logits,
            value=jnp.where(ends, 0.0, value),
        )
        return out, child

    return recurrent_fn


def root_dirichlet_alpha(legal: jax.Array, total: float) -> jax.Array:
    """float32 [B, 1]: alpha = total / number of legal moves, per position (KataGo's scaling).

    legal: bool [B, A]. A row without legal moves (a finished game) gets `total`.
    """
    count = legal.sum(axis=-1, keepdims=True).astype(jnp.float32)
    return total / jnp.maximum(count, 1.0)


def add_root_noise(
    rng_key: jax.Array, logits: jax.Array, legal: jax.Array, alpha: float | jax.Array, weight: jax.Array
) -> jax.Array:
    """Mix Dirichlet(alpha) noise over the *legal* moves into the root prior.

    mctx's own `dirichlet_fraction` is one number per call and spreads noise over all
    actions, illegal ones included; doing it here gives each game its own weight (from
    the schedule) and puts all of the noise on moves that can be played.

    logits: float32 [B, A] board-frame prior logits; legal: bool [B, A]; weight: float32 [B];
    alpha: one float, or float32 [B, 1] per position (`root_dirichlet_alpha`).
    Returns float32 [B, A] logits of `(1 - weight) * softmax(logits) + weight * noise`.
    """
    gamma = jax.random.gamma(rng_key, alpha, shape=logits.shape, dtype=jnp.float32)
    gamma = jnp.where(legal, gamma, 0.0)
    noise = gamma / jnp.maximum(gamma.sum(-1, keepdims=True), jnp.finfo(jnp.float32).tiny)
    prior = jax.nn.softmax(jnp.where(legal, logits, ILLEGAL_LOGIT), axis=-1)
    weight = weight[:, None]
    mixed = (1.0 - weight) * prior + weight * noise
    return jnp.where(legal, jnp.log(jnp.maximum(mixed, jnp.finfo(jnp.float32).tiny)), ILLEGAL_LOGIT)


def qtransform_alphazero(
    tree: mctx.Tree,
    node_index: jax.Array,
    *,
    unvisited_value: float = 0.0,
    unvisited_mode: Literal["absolute", "parent", "reduction"] = "absolute",
) -> jax.Array:
    """Raw Q in [-1, 1] (chooser's view) for visited children; unvisited ones ("first play") at

    * 'absolute':  unvisited_value;
    * 'parent':    V(parent) + unvisited_value;
    * 'reduction': V(parent) + unvisited_value * sqrt(sum of the prior of the visited children),
      KataGo's and lc0's FPU reduction: no reduction before the first visit, the full one
      once the search has committed to the moves the prior likes.

    V(parent) is mctx's running mean of the node (`tree.node_values`), from the view of the
    player to move there, i.e. the chooser, like Q.
    tree: an *unbatched* mctx tree; node_index: int []. Returns float32 [A].
    Children masked as illegal (prior logit at ILLEGAL_LOGIT) score far below any legal one,
    because mctx masks `invalid_actions` at the root only.
    """
    qvalues = tree.qvalues(node_index)
    visits = tree.children_visits[node_index]
    if unvisited_mode == "absolute":
        fill = jnp.asarray(unvisited_value, jnp.float32)
    else:
        offset = jnp.asarray(unvisited_value, jnp.float32)
        if unvisited_mode == "reduction":
            prior = jax.nn.softmax(tree.children_prior_logits[node_index])
            offset = offset * jnp.sqrt(jnp.sum(jnp.where(visits > 0, prior, 0.0)))
        fill = tree.node_values[node_index] + offset
    value = jnp.where(visits > 0, qvalues, fill)
    return _hide_illegal(tree, node_index, value)


def qtransform_minmax(tree: mctx.Tree, node_index: jax.Array) -> jax.Array:
    """mctx's `qtransform_by_parent_and_siblings` with illegal children hidden. float32 [A]."""
    value = mctx.qtransform_by_parent_and_siblings(tree, node_index)
    return _hide_illegal(tree, node_index, value)


def _hide_illegal(tree: mctx.Tree, node_index: jax.Array, value: jax.Array) -> jax.Array:
    illegal = tree.children_prior_logits[node_index] < _ILLEGAL_THRESHOLD
    return jnp.where(illegal, _ILLEGAL_SCORE, value)


def make_qtransform(sp: SearchParams) -> mctx.QTransform:
    """The q-transform `sp` asks for (PUCT). Gumbel always uses mctx's completed-by-mix-value."""
    if sp.q_transform == "minmax":
        return qtransform_minmax
    return partial(
        qtransform_alphazero,
        unvisited_value=sp.unvisited_value,
        unvisited_mode=sp.unvisited_mode,
    )


def run_search(
    env: Hex,
    apply: ApplyFn,
    sp: SearchParams,
    params: Any,
    rng_key: jax.Array,
    states: HexState,
    noise_weight: jax.Array,
) -> SearchResult:
    """Search a batch of positions.

    states: HexState with batch shape [B] (finished games are allowed; their output is junk).
    noise_weight: float32 [B] root Dirichlet weight per game (PUCT only; 0 = no noise). With
    `sp.forced_playouts`, the rows with noise also get forced playouts and a pruned policy.
    """
    noise_key, search_key = jax.random.split(rng_key)
    logits, value = evaluate(env, apply, params, states)
    legal = jax.vmap(env.legal_mask)(states)
    recurrent_fn = make_recurrent_fn(env, apply)
    if sp.mode == "gumbel":
        root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=states)
        out = mctx.gumbel_muzero_policy(
            params,
            search_key,
            root,
            recurrent_fn,
            num_simulations=sp.num_simulations,
            invalid_actions=~legal,
            qtransform=mctx.qtransform_completed_by_mix_value,
            max_num_considered_actions=sp.max_num_considered_actions,
            gumbel_scale=sp.gumbel_scale,
        )
    else:
        alpha: float | jax.Array = sp.dirichlet_alpha
        if sp.dirichlet_total is not None:
            alpha = root_dirichlet_alpha(legal, sp.dirichlet_total)  # [B, 1], one per game
        noisy = add_root_noise(noise_key, logits, legal, alpha, noise_weight)
        root = mctx.RootFnOutput(prior_logits=noisy, value=value, embedding=states)
        if sp.forced_playouts is not None:
            return _search_forced(sp, params, search_key, root, recurrent_fn, legal, noise_weight > 0)
        out = mctx.muzero_policy(
            params,
            search_key,
            root,
            recurrent_fn,
            num_simulations=sp.num_simulations,
            invalid_actions=~legal,
            qtransform=make_qtransform(sp),
            dirichlet_fraction=0.0,  # the noise is already in the prior (add_root_noise)
            pb_c_init=sp.c_puct,
            pb_c_base=sp.c_puct_base or CONSTANT_C_BASE,
        )
    summary = out.search_tree.summary()
    policy = jnp.where(legal, out.action_weights, 0.0)
    return SearchResult(
        action=out.action.astype(jnp.int32),
        policy=policy.astype(jnp.float32),
        visit_counts=summary.visit_counts.astype(jnp.int32),
        root_value=summary.value.astype(jnp.float32),
    )


def _search_forced(
    sp: SearchParams,
    params: Any,
    rng_key: jax.Array,
    root: mctx.RootFnOutput,
    recurrent_fn: mctx.RecurrentFn,
    legal: jax.Array,
    forced_rows: jax.Array,
) -> SearchResult:
    """PUCT with KataGo's forced playouts in the rows `forced_rows` (bool [B]); see search/forced.py.

    `mctx.muzero_policy` with the root's action selection swapped: `mctx.search` with
    `forced_root_selection` at the root and mctx's own PUCT below it. The policy is the
    pruned visit distribution in the forced rows, the plain one elsewhere. Keys, root
    prior and action sampling follow muzero_policy (dirichlet_fraction 0) step by step,
    so a row that does not force gets exactly what the plain search gives it (tested).
    """
    action_key, _, search_key = jax.random.split(rng_key, 3)  # muzero_policy's split
    probs = jax.nn.softmax(root.prior_logits)
    logits = jnp.log(jnp.maximum(probs, jnp.finfo(probs.dtype).tiny))
    logits = logits - jnp.max(logits, axis=-1, keepdims=True)
    root = root.replace(prior_logits=jnp.where(legal, logits, jnp.finfo(logits.dtype).min))
    puct: dict[str, Any] = {
        "qtransform": make_qtransform(sp),
        "pb_c_init": sp.c_puct,
        "pb_c_base": sp.c_puct_base or CONSTANT_C_BASE,
    }
    k = float(sp.forced_playouts or 0.0)
    tree = mctx.search(
        params,
        search_key,
        root=root,
        recurrent_fn=recurrent_fn,
        root_action_selection_fn=partial(forced_root_selection, k=k, **puct),
        interior_action_selection_fn=partial(mctx.muzero_action_selection, **puct),
        num_simulations=sp.num_simulations,
        invalid_actions=~legal,
        extra_data=forced_rows,
    )
    summary = tree.summary()
    pruned = jax.vmap(partial(pruned_root_visits, k=k, **puct))(tree)
    counts = jnp.where(forced_rows[:, None], pruned, summary.visit_counts.astype(jnp.float32))
    counts = jnp.where(legal, counts, 0.0)
    policy = counts / jnp.maximum(counts.sum(-1, keepdims=True), 1.0)
    action_logits = jnp.log(jnp.maximum(policy, jnp.finfo(policy.dtype).tiny))
    action = jax.random.categorical(action_key, action_logits - jnp.max(action_logits, -1, keepdims=True))
    return SearchResult(
        action=action.astype(jnp.int32),
        policy=policy.astype(jnp.float32),
        visit_counts=summary.visit_counts.astype(jnp.int32),
        root_value=summary.value.astype(jnp.float32),
    )
