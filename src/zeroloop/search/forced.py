"""KataGo's forced playouts and policy-target pruning at the PUCT root (Wu 2019, section 3.1).

Forced playouts: a root child c that has been visited, but fewer than

    n_forced(c) = sqrt(k * P(c) * N)      (N = the root's child visits so far, k = 2)

times, is chosen before any other (among several such children, the one PUCT likes
most), so every move the search has tried gets a few visits, even when PUCT alone would
never look at it again. Children never visited are not forced ("each child of the root
that has received any playouts", KataGo): n_forced is above 0 for every move with a
prior, so forcing them too would spend the first visits on every legal move in turn, a
breadth-first root that at 32 simulations and 49 moves is no search at all.

Policy-target pruning: those visits say "the search was told to look", not "the search
liked it", so before the visits become a training target each child c other than the
most visited c* loses as many of them (at most n_forced(c)) as it can without its PUCT
score rising above c*'s:

    Q(c) + U(c, n') <= Q(c*) + U(c*, n(c*)),   U(c, n) = c_puct(N) * P(c) * sqrt(1 + N) / (1 + n),

and a child left with one playout or fewer is pruned to zero. The visit counts the
search reports stay the raw ones; the pruned distribution is the policy (the target,
and what self-play samples its move from, as in KataGo).

mctx has no hook for forcing visits, but `mctx.search` takes the root's action
selection as a function: `forced_root_selection` is mctx's PUCT
(`muzero_action_selection`) with the forced children put first. Which rows force is
per row, in `tree.extra_data` (bool []), so one batch can mix forced and plain rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mctx


def forced_playouts(prior: jax.Array, visits: jax.Array, k: float) -> jax.Array:
    """float32 [A]: n_forced = sqrt(k * P * N), N = visits.sum(). prior, visits: [A]."""
    return jnp.sqrt(k * prior * visits.sum().astype(jnp.float32))


def puct_parts(
    tree: mctx.Tree, node_index: jax.Array, qtransform: mctx.QTransform, pb_c_init: float, pb_c_base: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(Q float32 [A], explore float32 [A], prior float32 [A]) of mctx's PUCT at one node.

    The score `muzero_action_selection` maximises is Q + explore / (1 + n) (less its
    1e-7 tie-break noise): explore = c(N) * P * sqrt(N_node), c(N) = pb_c_init +
    log((N_node + pb_c_base + 1) / pb_c_base), N_node = the node's visits. tree: unbatched.
    """
    node_visit = tree.node_visits[node_index].astype(jnp.float32)
    pb_c = pb_c_init + jnp.log((node_visit + pb_c_base + 1.0) / pb_c_base)
    prior = jax.nn.softmax(tree.children_prior_logits[node_index])
    return qtransform(tree, node_index), jnp.sqrt(node_visit) * pb_c * prior, prior


def forced_root_selection(
    rng_key: jax.Array,
    tree: mctx.Tree,
    node_index: jax.Array,
    *,
    k: float,
    qtransform: mctx.QTransform,
    pb_c_init: float,
    pb_c_base: float,
) -> jax.Array:
    """mctx root action selection: PUCT, except that visited children short of n_forced go first.

    Forcing applies where `tree.extra_data` (bool [], this row) is True. tree: unbatched.
    Returns int32 [] the action.
    """
    visits = tree.children_visits[node_index]
    q, explore, prior = puct_parts(tree, node_index, qtransform, pb_c_init, pb_c_base)
    # mctx's tie-break, so that without forcing this picks what muzero_action_selection picks.
    score = q + explore / (visits + 1) + 1e-7 * jax.random.uniform(rng_key, (tree.num_actions,))
    valid = tree.root_invalid_actions == 0
    short = valid & tree.extra_data & (visits > 0) & (visits < forced_playouts(prior, visits, k))
    plain = jnp.argmax(jnp.where(valid, score, -jnp.inf))
    forced = jnp.argmax(jnp.where(short, score, -jnp.inf))
    return jnp.where(short.any(), forced, plain).astype(jnp.int32)


def pruned_root_visits(
    tree: mctx.Tree, *, k: float, qtransform: mctx.QTransform, pb_c_init: float, pb_c_base: float
) -> jax.Array:
    """float32 [A]: the root's visits after policy-target pruning (module docstring).

    tree: unbatched (vmap it over a batch). The most visited child keeps its visits.
    """
    root = tree.ROOT_INDEX
    n = tree.children_visits[root].astype(jnp.float32)
    q, explore, prior = puct_parts(tree, root, qtransform, pb_c_init, pb_c_base)
    best = jnp.argmax(n)
    target = q[best] + explore[best] / (1.0 + n[best])
    # The fewest visits n' at which c's PUCT score is still <= the best child's:
    # Q + explore / (1 + n') <= target  <=>  n' >= explore / (target - Q) - 1.
    gap = target - q
    wanted = jnp.where(gap > 0, jnp.ceil(explore / jnp.maximum(gap, 1e-12) - 1.0), n)
    kept = jnp.ceil(jnp.maximum(n - forced_playouts(prior, n, k), wanted))
    kept = jnp.clip(kept, 0.0, n)
    kept = jnp.where(kept <= 1.0, 0.0, kept)  # a lone playout is no evidence (KataGo prunes it)
    return jnp.where(jnp.arange(n.shape[0]) == best, n, kept)
