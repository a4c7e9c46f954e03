"""The training state (one pytree, what a checkpoint holds) and weight averaging.

EMA (seed 003) and SWA (seed 000 phase H) average the *model state*: trainable
weights and batch-norm statistics alike, so either average is a complete model that
can be exported or validated as is.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

Weights = dict[str, Any]  # {"params": nnx.State, "batch_stats": nnx.State}


@struct.dataclass
class TrainState:
    """Everything that changes during training; restoring it continues a run exactly.

    step: int32 [] global optimizer steps (continues a model file's step when asked);
    micro: int32 [] micro-batches consumed in this run (accumulation phase = micro % k);
    params: float32 weights (the fast weights under lookahead); batch_stats: norm stats;
    opt_state: optax state; slow: lookahead slow weights or None;
    ema, swa: averaged Weights or None; swa_count: float32 [] snapshots in the SWA average;
    rng: uint32 [4] dropout key (raw RBG key data); loss_scale, good_steps: fp16 dynamic loss scale;
    skipped: int32 [] steps whose loss or gradient was not finite.
    """

    step: jax.Array
    micro: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    slow: Any
    ema: Weights | None
    swa: Weights | None
    swa_count: jax.Array
    rng: jax.Array
    loss_scale: jax.Array
    good_steps: jax.Array
    skipped: jax.Array


def ema_decay_at(decay: float, updates: jax.Array, warmup: bool) -> jax.Array:
    """Decay for the n-th EMA update: min(decay, (1 + n) / (10 + n)) with warmup, else decay.

    The warmup (TensorFlow's num_updates rule) keeps the EMA of a short run from
    being dominated by the initial weights.
    """
    if not warmup:
        return jnp.float32(decay)
    n = updates.astype(jnp.float32)
    return jnp.minimum(jnp.float32(decay), (1.0 + n) / (10.0 + n))


def ema_update(ema: Any, new: Any, decay: jax.Array | float) -> Any:
    """ema <- decay * ema + (1 - decay) * new, leaf by leaf."""
    return jax.tree.map(lambda e, x: decay * e + (1.0 - decay) * x, ema, new)


def swa_update(swa: Any, new: Any, count: jax.Array, max_n: int) -> tuple[Any, jax.Array]:
    """swa <- swa * n / (n + 1) + new / (n + 1); n <- min(n + 1, max_n).

    Capping n (lczero's swa_max_n) turns the plain average into a slow running average
    once max_n snapshots are in, so old weights from early training fade out.
    """
    n = count.astype(jnp.float32)
    out = jax.tree.map(lambda s, x: s * (n / (n + 1.0)) + x / (n + 1.0), swa, new)
    return out, jnp.minimum(n + 1.0, float(max_n))


def tree_where(cond: jax.Array, a: Any, b: Any) -> Any:
    """Leafwise jnp.where(cond, a, b) for two trees of the same structure."""
    return jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)


def select_weights(state: TrainState, which: str) -> tuple[Weights, str]:
    """The model weights to export or validate: ('raw' | 'ema' | 'swa') -> (weights, used).

    'raw' is the slow weights under lookahead (the paper evaluates those). SWA before
    its first snapshot falls back to raw, and says so in `used`.
    """
    raw = {"params": state.slow if state.slow is not None else state.params, "batch_stats": state.batch_stats}
    if which == "ema":
        if state.ema is None:
            raise ValueError("export_weights=ema but the run keeps no EMA (set train.ema_decay)")
        return state.ema, "ema"
    if which == "swa":
        if state.swa is None:
            raise ValueError("export_weights=swa but the run keeps no SWA (set train.swa_every)")
        if float(state.swa_count) == 0:
            return raw, "raw (no SWA snapshot yet)"
        return state.swa, "swa"
    return raw, "raw"
