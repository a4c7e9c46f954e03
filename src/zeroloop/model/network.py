"""The policy/value network shared by self-play, evaluation and the trainer.

Contract: obs float32 [B, N, N, 3] in the mover's frame (see `zeroloop.games.hex`)
-> (policy_logits [B, N*N+1] in the mover's frame, value [B] in [-1, 1] from the
mover's view). The net is fully convolutional, so one config serves any board size.

The trainer calls `forward`, which also returns the raw value head and the
auxiliary heads; everything else calls the net itself.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from zeroloop.config.model import ModelConfig
from zeroloop.games.hex import NUM_OBS_PLANES
from zeroloop.model.blocks import GlobalPoolBlock, ResidualBlock, make_dropout, make_norm

OWNERSHIP_CLASSES = 3  # mover, empty, opponent


class NetOutputs(NamedTuple):
    """Everything the heads produce for obs [B, N, N, 3].

    policy_logits: [B, N*N+1] (last = swap); value_out: [B, 1] tanh pre-activation or
    [B, 2] (win, loss) logits; ownership: [B, N, N, 3] logits or None;
    winning_group: [B, N, N] logits or None.
    """

    policy_logits: jax.Array
    value_out: jax.Array
    ownership: jax.Array | None = None
    winning_group: jax.Array | None = None


class PolicyValueNet(nnx.Module):
    """Residual tower with a policy head over N*N+1 actions, a value head and aux heads."""

    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        c, pc, vc = config.channels, config.policy_channels, config.value_channels
        self.config = config
        # With edge_input the stem sees the board padded by the edges (one more plane:
        # on board) and convolves it without padding, so its output is N x N again.
        stem_planes, stem_padding = (
            (NUM_OBS_PLANES + 1, "VALID") if config.edge_input else (NUM_OBS_PLANES, "SAME")
        )
        self.stem = nnx.Conv(stem_planes, c, (3, 3), padding=stem_padding, use_bias=False, rngs=rngs)
        self.stem_norm = make_norm(config, c)
        every = config.global_pool_every
        self.blocks = nnx.List(
            [
                (GlobalPoolBlock if every and (i + 1) % every == 0 else ResidualBlock)(config, rngs)
                for i in range(config.blocks)
            ]
        )
        self.policy_conv = nnx.Conv(c, pc, (1, 1), use_bias=False, rngs=rngs)
        self.policy_norm = make_norm(config, pc)
        self.policy_out = nnx.Conv(pc, 1, (1, 1), rngs=rngs)
        # Swap logit from pooled policy features: the swap is not tied to one cell.
        self.swap_head = nnx.Linear(2 * pc, 1, rngs=rngs)
        self.value_conv = nnx.Conv(c, vc, (1, 1), use_bias=False, rngs=rngs)
        self.value_norm = make_norm(config, vc)
        self.value_hidden = nnx.Linear(2 * vc, config.value_hidden, rngs=rngs)
        self.value_dropout = make_dropout(config)
        out = 1 if config.value_head == "tanh" else 2
        self.value_out = nnx.Linear(config.value_hidden, out, rngs=rngs)
        self.ownership_head = (
            nnx.Conv(c, OWNERSHIP_CLASSES, (1, 1), rngs=rngs) if "ownership" in config.aux_heads else None
        )
        self.winning_group_head = (
            nnx.Conv(c, 1, (1, 1), rngs=rngs) if "winning_group" in config.aux_heads else None
        )

    def features(self, obs: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        """obs [B, N, N, 3] -> trunk features [B, N, N, C]."""
        x = nnx.relu(self.stem_norm(self.stem(edge_padded(obs) if self.config.edge_input else obs)))
        for block in self.blocks:
            x = block(x, rngs=rngs)
        return x

    def forward(self, obs: jax.Array, rngs: nnx.Rngs | None = None) -> NetOutputs:
        """obs [B, N, N, 3] -> NetOutputs (raw heads). `rngs` feeds dropout in training."""
        x = self.features(obs, rngs=rngs)
        b = x.shape[0]
        p = nnx.relu(self.policy_norm(self.policy_conv(x)))
        cell_logits = self.policy_out(p)[..., 0].reshape(b, -1)
        pooled_p = jnp.concatenate([p.mean(axis=(1, 2)), p.max(axis=(1, 2))], axis=-1)
        logits = jnp.concatenate([cell_logits, self.swap_head(pooled_p)], axis=-1)
        v = nnx.relu(self.value_norm(self.value_conv(x)))
        v = jnp.concatenate([v.mean(axis=(1, 2)), v.max(axis=(1, 2))], axis=-1)
        v = nnx.relu(self.value_hidden(v))
        if self.value_dropout is not None:
            v = self.value_dropout(v, rngs=rngs)
        ownership = self.ownership_head(x) if self.ownership_head is not None else None
        group = self.winning_group_head(x)[..., 0] if self.winning_group_head is not None else None
        return NetOutputs(logits, self.value_out(v), ownership, group)

    def __call__(self, obs: jax.Array, rngs: nnx.Rngs | None = None) -> tuple[jax.Array, jax.Array]:
        """obs [B, N, N, 3] -> (policy logits [B, N*N+1], value [B] in [-1, 1])."""
        out = self.forward(obs, rngs=rngs)
        return out.policy_logits, value_from_head(out.value_out)


def edge_padded(obs: jax.Array) -> jax.Array:
    """obs [B, N, N, 3] -> [B, N+2, N+2, 4]: the board framed by its edges, plus an on-board plane.

    In the mover's frame the mover connects top to bottom, so the rows above and below
    the board are the mover's stones and the columns left and right the opponent's (as
    in MoHex-CNN's input); the four corners touch both edges and stay empty. The swap
    plane is constant and is extended as it is. 180-degree rotation maps the frame to
    itself, so the board's symmetry survives.
    """
    n = obs.shape[-2]
    padded = jnp.pad(obs, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = jnp.arange(n + 2)[:, None]
    cols = jnp.arange(n + 2)[None, :]
    inside_rows = (rows >= 1) & (rows <= n)
    inside_cols = (cols >= 1) & (cols <= n)
    mover_edge = (~inside_rows & inside_cols).astype(obs.dtype)  # [N+2, N+2]
    opponent_edge = (inside_rows & ~inside_cols).astype(obs.dtype)
    on_board = (inside_rows & inside_cols).astype(obs.dtype)
    swap = jnp.broadcast_to(obs[:, :1, :1, 2:3], padded.shape[:-1] + (1,))
    frame = jnp.stack([mover_edge, opponent_edge], axis=-1)[None]  # [1, N+2, N+2, 2]
    stones = padded[..., :2] + frame
    return jnp.concatenate([stones, swap, jnp.broadcast_to(on_board[None, ..., None], swap.shape)], axis=-1)


def value_from_head(value_out: jax.Array) -> jax.Array:
    """[B, 1] tanh head or [B, 2] (win, loss) logits -> expected value [B] in [-1, 1]."""
    if value_out.shape[-1] == 1:
        return jnp.tanh(value_out[..., 0].astype(jnp.float32))
    p = jax.nn.softmax(value_out.astype(jnp.float32), axis=-1)
    return p[..., 0] - p[..., 1]


def create_model(config: ModelConfig, seed: int = 0) -> PolicyValueNet:
    """A freshly initialised net (in training mode, as nnx modules start), deterministic in `seed`.

    Weights are drawn with numpy on the host rather than by the modules' JAX
    initialisers: on CPU, XLA compiles a threefry + erf_inv program for every distinct
    kernel shape (seconds each), which made building a small net take longer than
    training it. The distributions are the modules' defaults: kernels LeCun normal
    (truncated at 2 sigma, fan-in = all axes but the last), biases 0, norm scale 1,
    running means 0 and variances (renorm std) 1.
    """
    abstract = nnx.eval_shape(lambda: PolicyValueNet(config, nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(seed)
    values = jax.tree_util.tree_map_with_path(
        lambda path, leaf: _init_value(_leaf_name(path), leaf.shape, leaf.dtype, rng), nnx.to_pure_dict(state)
    )
    nnx.replace_by_pure_dict(state, values)
    return nnx.merge(graphdef, state)


_ONES = ("scale", "var", "renorm_std")


def _leaf_name(path: tuple[Any, ...]) -> str:
    last = path[-1]
    return str(getattr(last, "key", getattr(last, "name", last)))


def _init_value(name: str, shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> jax.Array:
    if name == "kernel":
        fan_in = int(np.prod(shape[:-1]))
        # LeCun normal truncated at +-2: the std of a unit normal truncated there is 0.8796.
        std = np.sqrt(1.0 / fan_in) / 0.87962566103423978
        x = rng.standard_normal(shape)
        bad = np.abs(x) > 2
        while bad.any():
            x[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(x) > 2
        return jnp.asarray(x * std, dtype)
    return jnp.asarray(np.ones(shape) if name in _ONES else np.zeros(shape), dtype)


def inference_fn(model: PolicyValueNet) -> tuple[Any, Any, Any]:
    """Split a model for pure jitted inference: returns (apply, graphdef, state).

    `apply(state, obs)` runs the net in eval mode (batch-norm running averages).
    New weights of the same structure are passed as `state` without recompiling.
    """
    model.eval()
    graphdef, state = nnx.split(model)

    def apply(state: Any, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        net = nnx.merge(graphdef, state)
        return net(obs)

    return apply, graphdef, state
