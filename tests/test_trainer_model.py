"""The network: contract shapes on any board size, the edge input, batch renorm, ghost batches, dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from zeroloop.config.model import ModelConfig
from zeroloop.model.network import create_model, edge_padded
from zeroloop.model.norm import BatchRenorm

TINY = dict(blocks=2, channels=8, policy_channels=4, value_channels=2, value_hidden=8)


@pytest.fixture(scope="module")
def model() -> nnx.Module:
    cfg = ModelConfig(
        **TINY,
        global_pool_every=2,
        global_pool_channels=4,
        aux_heads=("ownership", "winning_group"),
        value_head="wdl",
        dropout_rate=0.5,
    )
    return create_model(cfg)


@nnx.jit
def _eval_forward(model: nnx.Module, obs: jax.Array) -> tuple:
    model.eval()
    return model(obs), model.forward(obs)


def test_one_config_serves_any_board_size(model: nnx.Module) -> None:
    for n in (3, 5):
        obs = jnp.zeros((2, n, n, 3))
        (logits, value), out = _eval_forward(model, obs)
        assert logits.shape == (2, n * n + 1) and value.shape == (2,)
        assert out.value_out.shape == (2, 2)
        assert out.ownership.shape == (2, n, n, 3) and out.winning_group.shape == (2, n, n)
        assert bool(jnp.all(jnp.abs(value) <= 1))


def test_edge_input_frames_the_board_with_the_edges_owners() -> None:
    obs = np.zeros((1, 3, 3, 3), np.float32)
    obs[0, 1, 1, 0] = 1  # a mover's stone in the centre
    obs[0, 0, 2, 1] = 1  # an opponent's stone in a corner
    obs[..., 2] = 1  # swap legal
    x = np.asarray(edge_padded(jnp.asarray(obs)))
    assert x.shape == (1, 5, 5, 4)
    np.testing.assert_array_equal(x[0, 1:4, 1:4, :3], obs[0])  # the board is unchanged inside
    mover, opponent, swap, on_board = (x[0, ..., k] for k in range(4))
    # The mover connects top to bottom: its edges are the rows above and below.
    assert mover[[0, 4], 1:4].all() and opponent[1:4, [0, 4]].all()
    assert mover[1:4, [0, 4]].sum() == 0 and opponent[[0, 4], 1:4].sum() == 0
    corners = [(0, 0), (0, 4), (4, 0), (4, 4)]
    assert all(mover[c] == 0 and opponent[c] == 0 and on_board[c] == 0 for c in corners)
    assert on_board.sum() == 9 and on_board[1:4, 1:4].all()
    assert np.all(swap == 1)


def test_edge_input_keeps_the_180_degree_symmetry() -> None:
    """The data's augmentation (rotate by 180 degrees) maps the framed board to the framed rotated board."""
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 3, (4, 5, 5))
    obs = np.stack([cells == 1, cells == 2, np.zeros_like(cells, bool)], -1).astype(np.float32)
    rotated = obs[:, ::-1, ::-1]
    np.testing.assert_array_equal(
        np.asarray(edge_padded(jnp.asarray(rotated))),
        np.asarray(edge_padded(jnp.asarray(obs)))[:, ::-1, ::-1],
    )


def test_edge_input_net_serves_any_board_size() -> None:
    net = create_model(ModelConfig(**TINY, edge_input=True))
    plain = create_model(ModelConfig(**TINY))
    assert net.stem.kernel.shape == (3, 3, 4, 8) and plain.stem.kernel.shape == (3, 3, 3, 8)
    for n in (3, 5):
        (logits, value), out = _eval_forward(net, jnp.zeros((2, n, n, 3)))
        assert logits.shape == (2, n * n + 1) and value.shape == (2,)


def test_batch_norm_train_and_eval() -> None:
    bn = BatchRenorm(2, momentum=0.5)
    x = jnp.array([[1.0, 10.0], [3.0, 30.0]])
    y = bn(x)
    np.testing.assert_allclose(np.asarray(y.mean(0)), 0.0, atol=1e-6)
    # Running stats move halfway to the batch's: mean (2, 20), var (1, 100).
    np.testing.assert_allclose(np.asarray(bn.mean[...]), [1.0, 10.0])
    np.testing.assert_allclose(np.asarray(bn.var[...]), [1.0, 50.5])
    bn.eval()
    np.testing.assert_allclose(np.asarray(bn(jnp.array([[1.0, 10.0]]))), [[0.0, 0.0]], atol=1e-4)


def test_batch_renorm_clips_r_and_d() -> None:
    # Moving stats mean 0, std 1; batch mean 10, std 4: r = 4 clipped to 2, d = 10 clipped to 3.
    bn = BatchRenorm(1, renorm=True, max_r=2.0, max_d=3.0, renorm_momentum=0.9, epsilon=0.0)
    x = jnp.array([[6.0], [14.0]])
    y = np.asarray(bn(x))[:, 0]
    # x_hat = (x - 10) / 4 = (-1, 1); y = x_hat * r + d = (-2 + 3, 2 + 3)
    np.testing.assert_allclose(y, [1.0, 5.0], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.renorm_mean[...]), [1.0])  # 0.9 * 0 + 0.1 * 10
    np.testing.assert_allclose(np.asarray(bn.renorm_std[...]), [1.3])  # 0.9 * 1 + 0.1 * 4


def test_batch_renorm_gradient_treats_r_d_as_constants() -> None:
    bn = BatchRenorm(1, renorm=True, max_r=2.0, max_d=3.0, epsilon=0.0)
    graphdef, params, stats = nnx.split(bn, nnx.Param, nnx.BatchStat)

    def f(x: jax.Array) -> jax.Array:
        m = nnx.merge(graphdef, params, stats, copy=True)
        return (m(x)[:, 0] * jnp.array([1.0, 0.0])).sum()

    g = jax.grad(f)(jnp.array([[6.0], [14.0]]))
    # y0 = r (x0 - mu) / sigma + d with r = 2 fixed; d/dx of x_hat_0 through mu, sigma
    # for two samples: dxhat0/dx0 = 0, dxhat0/dx1 = 0 (x_hat is +-1 regardless) -> 0.
    np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-6)


def test_ghost_batch_norm_uses_sub_batches() -> None:
    bn = BatchRenorm(1, virtual_batch_size=2, epsilon=0.0)
    x = jnp.array([[0.0], [2.0], [10.0], [30.0]])
    y = np.asarray(bn(x))[:, 0]
    np.testing.assert_allclose(y, [-1.0, 1.0, -1.0, 1.0], rtol=1e-6)  # each pair normalised alone
    with pytest.raises(ValueError, match="does not divide"):
        BatchRenorm(1, virtual_batch_size=3)(jnp.zeros((4, 1)))


def test_dropout_only_in_training(model: nnx.Module) -> None:
    @nnx.jit
    def train_forward(model: nnx.Module, obs: jax.Array, key: jax.Array) -> jax.Array:
        model.train()
        return model.forward(obs, rngs=nnx.Rngs(dropout=key)).policy_logits

    obs = jax.random.uniform(jax.random.PRNGKey(0), (4, 3, 3, 3))
    a = train_forward(model, obs, jax.random.key(1, impl="rbg"))
    b = train_forward(model, obs, jax.random.key(2, impl="rbg"))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    (e1, _), _ = _eval_forward(model, obs)
    (e2, _), _ = _eval_forward(model, obs)
    np.testing.assert_array_equal(np.asarray(e1), np.asarray(e2))
