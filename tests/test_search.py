"""Search (mctx wrappers): tactics, frames, noise, schedules, move choice."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest

from zeroloop.config import MctsConfig
from zeroloop.games import Hex
from zeroloop.search import (
    SearchParams,
    add_root_noise,
    evaluate,
    make_recurrent_fn,
    piecewise,
    qtransform_alphazero,
    root_dirichlet_alpha,
    run_search,
    schedule_value,
    select_action,
)
from zeroloop.search.forced import forced_root_selection, pruned_root_visits, puct_parts


def uniform_apply(params, obs):
    """A network that knows nothing: flat prior, value 0."""
    b, n = obs.shape[0], obs.shape[1]
    return jnp.zeros((b, n * n + 1)), jnp.zeros((b,))


def play(env: Hex, moves: list[int]):
    state = env.init()
    for m in moves:
        state = env.step(state, m)
    return state


def stack(states):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


# 4x4, cell = row * 4 + col.
# WIN: black (top-bottom) holds a1-column cells (0,1),(1,1),(2,1) -> wins at (3,0) or (3,1).
WIN_MOVES = [1, 0, 5, 3, 9, 7]  # B(0,1) W(0,0) B(1,1) W(0,3) B(2,1) W(1,3); black to move
WIN_CELLS = {12, 13}
# BLOCK: black holds (0,0),(1,0),(2,0); its only winning cell is (3,0)=12; white to move.
BLOCK_MOVES = [0, 3, 4, 7, 8]
BLOCK_CELL = 12

TACTIC_CONFIGS = {
    "puct-alphazero": MctsConfig(num_simulations=400, c_puct=1.5),
    "puct-minmax": MctsConfig(num_simulations=400, c_puct=1.5, q_transform="minmax"),
    "puct-parent-fpu": MctsConfig(num_simulations=400, unvisited_mode="parent", unvisited_value=-0.2),
    "puct-fpu-reduction": MctsConfig(num_simulations=400, unvisited_mode="reduction", unvisited_value=-0.2),
    # Gumbel's interior selection is deterministic, so with a flat prior the defender's
    # replies are tried in index order and the refutation (cell 12) is found late.
    "gumbel": MctsConfig(mode="gumbel", num_simulations=400, max_num_considered_actions=16),
}


@pytest.mark.parametrize("name", sorted(TACTIC_CONFIGS))
def test_search_wins_in_one_and_blocks_a_loss(name: str) -> None:
    env = Hex(4)
    states = stack([play(env, WIN_MOVES), play(env, BLOCK_MOVES)])
    sp = SearchParams.from_config(TACTIC_CONFIGS[name])
    search = jax.jit(lambda key, s: run_search(env, uniform_apply, sp, None, key, s, jnp.zeros(2)))
    out = search(jax.random.key(0), states)
    best = np.asarray(jnp.argmax(out.policy, axis=-1))
    assert int(best[0]) in WIN_CELLS, f"{name}: policy {np.round(np.asarray(out.policy[0]), 2)}"
    assert int(best[1]) == BLOCK_CELL, f"{name}: policy {np.round(np.asarray(out.policy[1]), 2)}"
    # The winner-to-be sees a won position; the defender sees no immediate win for either side.
    assert float(out.root_value[0]) > 0.5
    if name == "gumbel":  # Gumbel plays the action its sequential halving picks
        assert int(out.action[0]) in WIN_CELLS and int(out.action[1]) == BLOCK_CELL


def test_policy_is_in_board_frame_for_white() -> None:
    """A net that loves mover's-frame cell (0, 1) must steer white to board cell (1, 0)."""
    env = Hex(3)

    def apply(params, obs):
        logits = jnp.zeros((obs.shape[0], 10)).at[:, 1].set(8.0)
        return logits, jnp.zeros((obs.shape[0],))

    black = play(env, [])
    white = play(env, [8])  # black took (2, 2); white to move
    sp = SearchParams(num_simulations=16)
    search = jax.jit(lambda key, s: run_search(env, apply, sp, None, key, s, jnp.zeros(2)))
    out = search(jax.random.key(1), stack([black, white]))
    counts = np.asarray(out.visit_counts)
    assert counts[0].argmax() == 1  # black: mover's frame is the board frame
    assert counts[1].argmax() == 3  # white: (0, 1) in its frame is (1, 0) on the board


def test_illegal_moves_get_no_visits_and_swap_is_searched() -> None:
    env = Hex(3, swap=True)
    state = play(env, [4])  # centre taken, white may swap
    sp = SearchParams(num_simulations=64)
    search = jax.jit(lambda key, s: run_search(env, uniform_apply, sp, None, key, s, jnp.ones(1)))
    out = search(jax.random.key(2), stack([state]))
    policy = np.asarray(out.policy[0])
    assert policy[4] == 0.0 and out.visit_counts[0, 4] == 0
    assert policy[9] > 0.0  # the swap is legal at ply 1
    assert policy.sum() == pytest.approx(1.0, abs=1e-5)


def test_root_noise_mixes_only_over_legal_moves() -> None:
    logits = jnp.log(jnp.array([[0.7, 0.1, 0.1, 0.1, 0.0]]) + 1e-30)
    legal = jnp.array([[True, True, False, True, False]])
    key = jax.random.key(3)
    keep = jax.nn.softmax(add_root_noise(key, logits, legal, 0.3, jnp.zeros(1)))
    prior = jnp.where(legal, jax.nn.softmax(jnp.where(legal, logits, -1e30)), 0.0)
    np.testing.assert_allclose(np.asarray(keep), np.asarray(prior), atol=1e-6)
    noise = np.asarray(jax.nn.softmax(add_root_noise(key, logits, legal, 0.3, jnp.ones(1))))[0]
    assert noise[[2, 4]].max() < 1e-30 and noise.sum() == pytest.approx(1.0, abs=1e-5)
    half = np.asarray(jax.nn.softmax(add_root_noise(key, logits, legal, 0.3, jnp.full(1, 0.5))))[0]
    np.testing.assert_allclose(half, 0.5 * np.asarray(prior)[0] + 0.5 * noise, atol=1e-5)


def _total_concentration(noise: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, float]:
    """(mean per legal move, alpha_0 = K * alpha) of Dirichlet samples noise [S, A].

    A symmetric Dirichlet over K moves has mean 1/K per move and variance
    m (1 - m) / (alpha_0 + 1); alpha_0 is estimated from the pooled moments.
    """
    x = noise[:, legal]
    m, v = x.mean(axis=0), x.var(axis=0)
    return m, float((m * (1 - m)).mean() / v.mean() - 1.0)


@pytest.mark.parametrize("total", [None, 10.83])
def test_dirichlet_alpha_follows_the_number_of_legal_moves(total: float | None) -> None:
    """With mcts.dirichlet_total the noise's total concentration is the same whatever the
    number of legal moves (alpha = total / K); with a fixed alpha it is K * alpha."""
    legal = np.zeros((2, 26), dtype=bool)
    legal[0, :25] = True  # an empty 5x5 board: 25 moves
    legal[1, [0, 6, 12, 18, 24]] = True  # late in a game: 5 moves
    counts = legal.sum(axis=1)
    alpha = 0.3 if total is None else root_dirichlet_alpha(jnp.asarray(legal), total)
    if total is not None:
        np.testing.assert_allclose(np.asarray(alpha)[:, 0], total / counts, rtol=1e-6)

    def one(key):
        return jax.nn.softmax(add_root_noise(key, jnp.zeros((2, 26)), jnp.asarray(legal), alpha, jnp.ones(2)))

    noise = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(7), 4000)))
    for row, k in enumerate(counts):
        mean, alpha_0 = _total_concentration(noise[:, row], legal[row])
        np.testing.assert_allclose(mean, 1.0 / k, rtol=0.15)
        want = 0.3 * k if total is None else total
        assert alpha_0 == pytest.approx(want, rel=0.15), f"row {row} ({k} legal): alpha_0 {alpha_0:.2f}"


def test_dirichlet_total_in_the_search() -> None:
    """Inside the jitted search: total = 0.3 * K on boards with K legal moves is the fixed
    alpha 0.3 exactly; positions with other counts get other noise."""
    env = Hex(3)
    empty = stack([play(env, []), play(env, [])])
    mixed = stack([play(env, []), play(env, [4, 0, 8])])

    def search(sp, states):
        fn = jax.jit(lambda key, s: run_search(env, uniform_apply, sp, None, key, s, jnp.ones(2)))
        return [np.asarray(a) for a in fn(jax.random.key(4), states)]

    default = SearchParams.from_config(MctsConfig(num_simulations=24))
    assert default.dirichlet_total is None and default.dirichlet_alpha == 0.3
    scaled = SearchParams.from_config(MctsConfig(num_simulations=24, dirichlet_total=0.3 * 9))
    for a, b in zip(search(default, empty), search(scaled, empty), strict=True):
        np.testing.assert_array_equal(a, b)
    fixed, per_move = search(default, mixed), search(scaled, mixed)
    np.testing.assert_array_equal(fixed[2][0], per_move[2][0])  # 9 legal: alpha 0.3 either way
    assert not np.array_equal(fixed[2][1], per_move[2][1])  # 6 legal: alpha 0.45, not 0.3


def _root_tree(env: Hex, apply, num_simulations: int) -> mctx.Tree:
    """The (unbatched) tree of one PUCT search from the empty board, for q-transform checks."""
    states = stack([play(env, [])])
    logits, value = evaluate(env, apply, None, states)
    root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=states)
    legal = jax.vmap(env.legal_mask)(states)
    out = mctx.muzero_policy(
        None,
        jax.random.key(0),
        root,
        make_recurrent_fn(env, apply),
        num_simulations=num_simulations,
        invalid_actions=~legal,
        qtransform=qtransform_alphazero,
        dirichlet_fraction=0.0,
    )
    return jax.tree.map(lambda x: x[0], out.search_tree)


def test_first_play_values_of_the_unvisited_children() -> None:
    """'absolute', 'parent' and 'reduction' (KataGo/lc0: parent - r * sqrt(visited prior))."""
    env = Hex(3)

    def apply(params, obs):  # a peaked prior and a value that depends on the position
        b = obs.shape[0]
        logits = jnp.zeros((b, 10)).at[:, 4].set(1.0).at[:, 2].set(0.5)
        return logits, jnp.tanh(obs[..., 0].sum((1, 2)) - obs[..., 1].sum((1, 2)) + 0.3)

    tree = _root_tree(env, apply, num_simulations=8)
    root = tree.ROOT_INDEX
    visits = np.asarray(tree.children_visits[root])
    q = np.asarray(tree.qvalues(root))
    parent = float(tree.node_values[root])
    prior = np.asarray(jax.nn.softmax(tree.children_prior_logits[root]))
    visited_mass = prior[visits > 0].sum()
    legal = np.arange(10) < 9
    unvisited = legal & (visits == 0)
    assert unvisited.any() and (visits > 0).sum() >= 2 and 0.0 < visited_mass < 1.0
    assert abs(parent) > 0.01  # a parent value of 0 would not tell 'parent' from 'absolute'
    for mode, fill in [
        ("absolute", -0.2),
        ("parent", parent - 0.2),
        ("reduction", parent - 0.2 * np.sqrt(visited_mass)),
    ]:
        got = np.asarray(qtransform_alphazero(tree, root, unvisited_value=-0.2, unvisited_mode=mode))
        np.testing.assert_allclose(got[unvisited], fill, atol=1e-6, err_msg=mode)
        np.testing.assert_allclose(got[visits > 0], q[visits > 0], atol=1e-6, err_msg=mode)
        assert got[9] < -1e8  # the swap is illegal here (rule off): hidden from PUCT
    # Before a node's first visit to a child nothing is committed yet: no reduction at all
    # (the leaf expanded by a one-simulation search, its value straight from the net).
    leaf = 1
    fresh = _root_tree(env, apply, num_simulations=1)
    assert int(fresh.children_visits[leaf].sum()) == 0
    got = np.asarray(qtransform_alphazero(fresh, leaf, unvisited_value=-0.2, unvisited_mode="reduction"))
    legal_below = np.asarray(fresh.children_prior_logits[leaf]) > -1e30
    assert legal_below.sum() == 8
    np.testing.assert_allclose(got[legal_below], float(fresh.node_values[leaf]), atol=1e-6)


def _likes_cell_5(params, obs):
    """4x4 net: prior logit 2 on cell 5 (row 1, col 1, the same cell in both frames), 0
    elsewhere; the mover is worth -0.9 once the opponent holds cell 5, else +0.5. So
    taking cell 5 is the one good move, and PUCT barely looks at the others."""
    b = obs.shape[0]
    logits = jnp.zeros((b, 17)).at[:, 5].set(2.0)
    return logits, jnp.where(obs[:, 1, 1, 1] > 0, -0.9, 0.5)


def _search_4x4(sp: SearchParams, noise_weight: jax.Array):
    env = Hex(4)
    states = stack([play(env, []) for _ in range(noise_weight.shape[0])])
    fn = jax.jit(lambda key, s: run_search(env, _likes_cell_5, sp, None, key, s, noise_weight))
    return [np.asarray(a) for a in fn(jax.random.key(0), states)]


def test_forced_playouts_and_policy_target_pruning() -> None:
    """KataGo: every root child gets n_forced = sqrt(2 P N) visits; the target drops them."""
    n = 200
    prior = np.asarray(jax.nn.softmax(jnp.zeros(16).at[5].set(2.0)))
    n_forced = np.sqrt(2.0 * prior * n)
    assert n_forced[0] > 4  # every other cell is owed four visits or more
    # A vanishing noise weight turns forcing on and leaves the prior as it is.
    weight = jnp.full((1,), 1e-6)
    plain = _search_4x4(SearchParams.from_config(MctsConfig(num_simulations=n)), weight)
    forced = _search_4x4(SearchParams.from_config(MctsConfig(num_simulations=n, forced_playouts=2.0)), weight)
    others = np.arange(16) != 5
    assert (plain[2][0, :16][others] + 1 < n_forced[others]).all()  # PUCT alone: one visit each
    assert (forced[2][0, :16] + 1 >= n_forced).all()  # forced: each child has (nearly) its due
    assert forced[2][0].sum() == n
    # The forced visits made no other move look better than cell 5: all of them are pruned.
    np.testing.assert_allclose(forced[1][0], np.eye(17)[5], atol=1e-6)
    assert plain[1][0, 5] < 0.95


def test_forced_playouts_leave_unvisited_children_to_puct() -> None:
    """Only children already visited are forced: with few simulations the search still goes
    where PUCT sends it, instead of giving every legal move one visit in turn."""
    n = 12  # at N < 12 every other cell's n_forced is below 1, so only unvisited ones could be short
    weight = jnp.full((1,), 1e-6)
    plain = _search_4x4(SearchParams.from_config(MctsConfig(num_simulations=n)), weight)
    forced = _search_4x4(SearchParams.from_config(MctsConfig(num_simulations=n, forced_playouts=2.0)), weight)
    np.testing.assert_array_equal(forced[2][0], plain[2][0])  # nothing was owed a visit
    assert forced[2][0, 5] > n // 2 and (forced[2][0] > 0).sum() < n


def test_forced_playouts_only_where_the_root_has_noise() -> None:
    """Rows without root noise (cheap searches, the arena) search exactly as without the option."""
    weight = jnp.array([0.25, 0.0])
    plain = _search_4x4(SearchParams.from_config(MctsConfig(num_simulations=64)), weight)
    forced = _search_4x4(
        SearchParams.from_config(MctsConfig(num_simulations=64, forced_playouts=2.0)), weight
    )
    for a, b in zip(plain, forced, strict=True):
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(plain[2][0], forced[2][0])


def test_pruned_visits_stay_below_the_best_childs_puct_score() -> None:
    """On a forced tree built with mctx: each pruned child keeps between n - n_forced and n
    visits, scores no more than the best child with what it keeps, and keeps 0 or >= 2."""
    env = Hex(3)
    k, c = 2.0, 3.0

    def apply(params, obs):  # a mild prior and a position-dependent value
        b = obs.shape[0]
        logits = jnp.zeros((b, 10)).at[:, 4].set(1.0).at[:, 2].set(0.5)
        return logits, jnp.tanh(obs[..., 0].sum((1, 2)) - 2.0 * obs[..., 1, 0].sum(1) + 0.2)

    states = stack([play(env, [])])
    logits, value = evaluate(env, apply, None, states)
    legal = jax.vmap(env.legal_mask)(states)
    puct = {"qtransform": qtransform_alphazero, "pb_c_init": c, "pb_c_base": 1e12}
    tree = mctx.search(
        None,
        jax.random.key(1),
        root=mctx.RootFnOutput(prior_logits=logits, value=value, embedding=states),
        recurrent_fn=make_recurrent_fn(env, apply),
        root_action_selection_fn=partial(forced_root_selection, k=k, **puct),
        interior_action_selection_fn=partial(mctx.muzero_action_selection, **puct),
        num_simulations=60,
        invalid_actions=~legal,
        extra_data=jnp.ones(1, bool),
    )
    kept = np.asarray(jax.vmap(partial(pruned_root_visits, k=k, **puct))(tree))[0]
    one = jax.tree.map(lambda x: x[0], tree)
    root = one.ROOT_INDEX
    n = np.asarray(one.children_visits[root]).astype(np.float64)
    q, explore, prior = (np.asarray(x, np.float64) for x in puct_parts(one, root, **puct))
    best = int(n.argmax())
    target = q[best] + explore[best] / (1 + n[best])
    n_forced = np.sqrt(k * prior * n.sum())
    assert kept[best] == n[best] and kept.sum() < n.sum()  # something was pruned
    for a in np.flatnonzero(np.arange(10) != best):
        assert 0 <= kept[a] <= n[a] and (kept[a] == 0 or kept[a] >= 2)
        if kept[a] > 0:
            assert n[a] - kept[a] <= n_forced[a], a
        if 0 < kept[a] < n[a]:  # reduced: still no better than the best child
            assert q[a] + explore[a] / (1 + kept[a]) <= target + 1e-5, a
            if kept[a] > np.ceil(n[a] - n_forced[a]):
                # ...and it could not lose one more visit without outscoring it.
                assert q[a] + explore[a] / kept[a] > target - 1e-5, a
    assert ((kept > 0) & (kept < n)).any()  # the checks above did check something


def test_schedule_values_by_progress() -> None:
    config = MctsConfig()
    temp = piecewise(config.temperature)
    progress = jnp.array([0.0, 0.19, 0.2, 0.39, 0.4, 0.6, 0.79, 0.8, 1.5, -0.1])
    got = np.asarray(schedule_value(temp, progress))
    np.testing.assert_allclose(got, [1.0, 1.0, 0.8, 0.8, 0.5, 0.2, 0.2, 0.1, 0.1, 1.0])
    noise = piecewise(config.noise_weight)
    np.testing.assert_allclose(
        np.asarray(schedule_value(noise, jnp.array([0.0, 0.5, 0.79, 0.8]))), [0.25, 0.1, 0.1, 0.0]
    )


def test_select_action_temperature() -> None:
    select = jax.jit(select_action)
    policy = jnp.tile(jnp.array([[0.5, 0.3, 0.2, 0.0]]), (4000, 1))
    greedy = select(jax.random.key(0), policy, jnp.zeros(4000))
    assert np.all(np.asarray(greedy) == 0)
    sampled = np.asarray(select(jax.random.key(1), policy, jnp.ones(4000)))
    freq = np.bincount(sampled, minlength=4) / 4000
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2, 0.0], atol=0.03)
    sharp = np.bincount(np.asarray(select(jax.random.key(2), policy, jnp.full(4000, 0.2))), minlength=4)
    # T = 0.2: p ** 5 -> 0.5^5 : 0.3^5 : 0.2^5 = 0.87 : 0.07 : 0.01 (normalised ~0.92, 0.07, 0.01)
    assert sharp[0] / 4000 > 0.85 and sharp[3] == 0
    ties = np.asarray(
        select(jax.random.key(3), jnp.tile(jnp.array([[0.5, 0.5, 0.0]]), (400, 1)), jnp.zeros(400))
    )
    assert set(ties.tolist()) == {0, 1}  # greedy ties are broken at random, not by index
