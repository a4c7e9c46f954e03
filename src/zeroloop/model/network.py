"""The policy/value network shared by self-play, evaluation and the trainer.

Contract: obs float32 [B, N, N, 3] in the mover's frame (see `zeroloop.games.hex`)
-> (policy_logits [B, N*N+1] in the mover's frame, value [B] in [-1, 1] from the
mover's view). The net is fully convolutional, so one config serves any board size.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zeroloop.config.model import ModelConfig
from zeroloop.games.hex import NUM_OBS_PLANES


class ResidualBlock(nnx.Module):
    def __init__(self, channels: int, rngs: nnx.Rngs) -> None:
        self.conv1 = nnx.Conv(channels, channels, (3, 3), use_bias=False, rngs=rngs)
        self.norm1 = nnx.BatchNorm(channels, rngs=rngs)
        self.conv2 = nnx.Conv(channels, channels, (3, 3), use_bias=False, rngs=rngs)
        self.norm2 = nnx.BatchNorm(channels, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return nnx.relu(x + y)


class PolicyValueNet(nnx.Module):
    """Residual tower with a policy head over N*N+1 actions and a value head."""

    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        c = config.channels
        self.config = config
        self.stem = nnx.Conv(NUM_OBS_PLANES, c, (3, 3), use_bias=False, rngs=rngs)
        self.stem_norm = nnx.BatchNorm(c, rngs=rngs)
        self.blocks = nnx.List([ResidualBlock(c, rngs) for _ in range(config.blocks)])
        self.policy_conv = nnx.Conv(c, 2, (1, 1), rngs=rngs)
        # Swap logit from globally pooled features: the swap is not tied to one cell.
        self.swap_head = nnx.Linear(c, 1, rngs=rngs)
        self.value_conv = nnx.Conv(c, 2, (1, 1), rngs=rngs)
        self.value_hidden = nnx.Linear(2 + c, config.value_hidden, rngs=rngs)
        out = 1 if config.value_head == "tanh" else 2
        self.value_out = nnx.Linear(config.value_hidden, out, rngs=rngs)

    def features(self, obs: jax.Array) -> jax.Array:
        x = nnx.relu(self.stem_norm(self.stem(obs)))
        for block in self.blocks:
            x = block(x)
        return x

    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """obs [B, N, N, 3] -> (policy_logits [B, N*N+1], value [B])."""
        logits, value_out = self.heads(self.features(obs))
        return logits, value_from_head(value_out)

    def heads(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """features [B, N, N, C] -> (policy logits [B, N*N+1], raw value head [B, 1|2])."""
        b = x.shape[0]
        pooled = x.mean(axis=(1, 2))
        cell_logits = self.policy_conv(x)[..., 0].reshape(b, -1)
        logits = jnp.concatenate([cell_logits, self.swap_head(pooled)], axis=-1)
        v = nnx.relu(self.value_conv(x)).mean(axis=(1, 2))
        v = nnx.relu(self.value_hidden(jnp.concatenate([v, pooled], axis=-1)))
        return logits, self.value_out(v)


def value_from_head(value_out: jax.Array) -> jax.Array:
    """[B, 1] tanh head or [B, 2] (win, loss) logits -> expected value [B] in [-1, 1]."""
    if value_out.shape[-1] == 1:
        return jnp.tanh(value_out[..., 0])
    p = jax.nn.softmax(value_out.astype(jnp.float32), axis=-1)
    return p[..., 0] - p[..., 1]


def create_model(config: ModelConfig, seed: int = 0) -> PolicyValueNet:
    return PolicyValueNet(config, nnx.Rngs(seed))


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
