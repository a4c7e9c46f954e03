"""Building blocks of the residual tower: plain and KataGo-style global-pooling blocks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from zeroloop.config.model import ModelConfig
from zeroloop.model.norm import BatchRenorm


def make_norm(config: ModelConfig, channels: int) -> BatchRenorm:
    """The tower's normalisation layer as the config asks (batch norm or renorm)."""
    return BatchRenorm(
        channels,
        momentum=config.norm_momentum,
        renorm=config.norm == "renorm",
        renorm_momentum=config.renorm_momentum,
        max_r=config.renorm_max_r,
        max_d=config.renorm_max_d,
        virtual_batch_size=config.virtual_batch_size,
    )


def make_dropout(config: ModelConfig) -> nnx.Dropout | None:
    # No rngs stored in the module: the trainer passes a fresh key per step, so the
    # model state stays weights + statistics only (what model files and checkpoints hold).
    return nnx.Dropout(config.dropout_rate) if config.dropout_rate > 0 else None


def global_pool(x: jax.Array) -> jax.Array:
    """x [B, N, N, C] -> [B, 3C]: mean, max and a board-size-scaled mean.

    The scaled mean, mean * (N - 11) / 10 (KataGo's trick, centred on 11x11 Hex),
    lets one net tell board sizes apart, since plain means are size-invariant.
    """
    n = x.shape[1]
    mean = x.mean(axis=(1, 2))
    return jnp.concatenate([mean, x.max(axis=(1, 2)), mean * ((n - 11) / 10.0)], axis=-1)


class ResidualBlock(nnx.Module):
    """conv-norm-relu-(dropout)-conv-norm, plus the input, relu. [B,N,N,C] -> same."""

    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        c = config.channels
        self.conv1 = nnx.Conv(c, c, (3, 3), use_bias=False, rngs=rngs)
        self.norm1 = make_norm(config, c)
        self.dropout = make_dropout(config)
        self.conv2 = nnx.Conv(c, c, (3, 3), use_bias=False, rngs=rngs)
        self.norm2 = make_norm(config, c)

    def __call__(self, x: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        y = nnx.relu(self.norm1(self.conv1(x)))
        if self.dropout is not None:
            y = self.dropout(y, rngs=rngs)
        y = self.norm2(self.conv2(y))
        return nnx.relu(x + y)


class GlobalPoolBlock(nnx.Module):
    """A residual block whose first conv is biased, per channel, by pooled features.

    Hex strength depends on whole-board facts (who is ahead in the race to connect,
    ladders reaching an edge) that a stack of 3x3 convolutions sees only after many
    layers; pooling G channels and feeding them back as a bias (KataGo) spreads such
    facts across the board in one block. [B,N,N,C] -> same.
    """

    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        c, g = config.channels, config.global_pool_channels
        self.conv1 = nnx.Conv(c, c, (3, 3), use_bias=False, rngs=rngs)
        self.pool_conv = nnx.Conv(c, g, (3, 3), use_bias=False, rngs=rngs)
        self.pool_norm = make_norm(config, g)
        self.pool_linear = nnx.Linear(3 * g, c, use_bias=False, rngs=rngs)
        self.norm1 = make_norm(config, c)
        self.dropout = make_dropout(config)
        self.conv2 = nnx.Conv(c, c, (3, 3), use_bias=False, rngs=rngs)
        self.norm2 = make_norm(config, c)

    def __call__(self, x: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        pooled = global_pool(nnx.relu(self.pool_norm(self.pool_conv(x))))
        bias = self.pool_linear(pooled)[:, None, None, :]
        y = nnx.relu(self.norm1(self.conv1(x) + bias))
        if self.dropout is not None:
            y = self.dropout(y, rngs=rngs)
        y = self.norm2(self.conv2(y))
        return nnx.relu(x + y)
