"""Batch normalisation with optional renormalisation and ghost batches.

Batch renorm (Ioffe 2017, "Batch Renormalization") corrects the batch statistics
towards moving statistics with r = sigma_B / sigma and d = (mu_B - mu) / sigma, both
clipped and treated as constants in the gradient. It keeps training and inference
consistent when batches are small or not i.i.d. (self-play positions of one game).
Like the TensorFlow implementation the seed's configs were written for, the moving
statistics used for r and d (`renorm_mean`, `renorm_std`, momentum `renorm_momentum`)
are separate from those used at inference (`mean`, `var`, momentum `momentum`).

Ghost batch norm ("virtual batch size"): statistics are taken over sub-batches of
`virtual_batch_size` positions, which regularises like a smaller batch would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class BatchRenorm(nnx.Module):
    """Normalises the last axis of x [..., C] over all other axes.

    `use_running_average` is flipped by `model.train()` / `model.eval()` like
    `nnx.BatchNorm`. Statistics are computed in float32 whatever the compute dtype,
    because bf16 means and variances lose too many bits; the output has x's dtype.
    """

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.99,
        epsilon: float = 1e-5,
        renorm: bool = False,
        renorm_momentum: float = 0.99,
        max_r: float = 3.0,
        max_d: float = 5.0,
        virtual_batch_size: int | None = None,
        use_running_average: bool = False,
    ) -> None:
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        if renorm:
            self.renorm_mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
            self.renorm_std = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        self.momentum = momentum
        self.epsilon = epsilon
        self.renorm = renorm
        self.renorm_momentum = renorm_momentum
        self.max_r = max_r
        self.max_d = max_d
        self.virtual_batch_size = virtual_batch_size
        self.use_running_average = use_running_average

    def __call__(self, x: jax.Array) -> jax.Array:
        """x [B, ..., C] -> same shape and dtype."""
        scale = self.scale[...].astype(jnp.float32)
        bias = self.bias[...].astype(jnp.float32)
        xf = x.astype(jnp.float32)
        if self.use_running_average:
            inv = jax.lax.rsqrt(self.var[...] + self.epsilon)
            return ((xf - self.mean[...]) * inv * scale + bias).astype(x.dtype)

        b = x.shape[0]
        groups = self._groups(b)
        # [G, B/G, ..., C]: statistics per ghost batch (G = 1 without a virtual batch size).
        xg = xf.reshape((groups, b // groups) + x.shape[1:])
        axes = tuple(range(1, xg.ndim - 1))
        mu = xg.mean(axis=axes, keepdims=True)
        var = jnp.square(xg - mu).mean(axis=axes, keepdims=True)
        std = jnp.sqrt(var + self.epsilon)
        xhat = (xg - mu) / std
        if self.renorm:
            r_mean, r_std = self.renorm_mean[...], self.renorm_std[...]
            r = jax.lax.stop_gradient(jnp.clip(std / r_std, 1.0 / self.max_r, self.max_r))
            d = jax.lax.stop_gradient(jnp.clip((mu - r_mean) / r_std, -self.max_d, self.max_d))
            xhat = xhat * r + d
            self.renorm_mean[...] = _ema(r_mean, _flat(mu), self.renorm_momentum)
            self.renorm_std[...] = _ema(r_std, _flat(std), self.renorm_momentum)
        self.mean[...] = _ema(self.mean[...], _flat(mu), self.momentum)
        self.var[...] = _ema(self.var[...], _flat(var), self.momentum)
        y = xhat * scale + bias
        return y.reshape(x.shape).astype(x.dtype)

    def _groups(self, batch: int) -> int:
        vbs = self.virtual_batch_size
        if not vbs or vbs >= batch:
            return 1
        if batch % vbs:
            raise ValueError(f"virtual_batch_size {vbs} does not divide the batch size {batch}")
        return batch // vbs


def _flat(stat: jax.Array) -> jax.Array:
    """[G, 1, ..., 1, C] -> [C], averaging the ghost batches; no gradient flows into running stats."""
    return jax.lax.stop_gradient(stat.reshape(-1, stat.shape[-1]).mean(axis=0))


def _ema(old: jax.Array, new: jax.Array, momentum: float) -> jax.Array:
    return momentum * old + (1.0 - momentum) * new
