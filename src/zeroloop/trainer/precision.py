"""Mixed precision: float32 master weights, bf16/fp16 compute, dynamic loss scaling.

Weights, optimizer state and batch-norm statistics stay float32. For each step the
trainable weights and the inputs are cast to the compute dtype, so the matmuls and
convolutions run in bf16/fp16 while the gradient flows back (through the cast) into
float32 weights (seed 000 phase I). Losses are computed in float32.

fp16 has a narrow exponent range, so small gradients underflow; the loss is scaled up
by S before differentiation and the gradients divided by S. S halves when a step
overflows (the step is skipped) and doubles after `period` finite steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

COMPUTE_DTYPES: dict[str, Any] = {"f32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}


def compute_dtype(precision: str) -> Any:
    """'f32' | 'bf16' | 'fp16' -> the jnp dtype of the forward/backward pass."""
    return COMPUTE_DTYPES[precision]


def cast_floats(tree: Any, dtype: Any) -> Any:
    """Cast every floating-point leaf of `tree` to `dtype` (integers and bools untouched)."""

    def cast(x: jax.Array) -> jax.Array:
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def all_finite(tree: Any) -> jax.Array:
    """bool []: every leaf of `tree` is free of NaN and inf."""
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.bool_(True)


def adjust_loss_scale(
    scale: jax.Array, good_steps: jax.Array, finite: jax.Array, period: int
) -> tuple[jax.Array, jax.Array]:
    """Dynamic loss scaling: (scale, good_steps) after a step that was `finite` or not.

    Overflow: scale / 2 (not below 1), counter reset. Finite: counter + 1, and after
    `period` finite steps in a row the scale doubles and the counter resets.
    """
    grow = finite & (good_steps + 1 >= period)
    new_scale = jnp.where(finite, jnp.where(grow, scale * 2.0, scale), jnp.maximum(scale * 0.5, 1.0))
    new_good = jnp.where(finite & ~grow, good_steps + 1, 0)
    return new_scale.astype(jnp.float32), new_good.astype(jnp.int32)
