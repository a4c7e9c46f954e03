"""The optimizer as one optax transformation, built from the train config.

Order of the chain (inside out):

    clip_by_global_norm -> sgd momentum (Nesterov) | adam | nadam
    -> decoupled weight decay (kernels only) -> * learning-rate schedule
    -> * reduce-on-plateau scale
    wrapped by MultiSteps (gradient accumulation) and then lookahead.

Clipping sits inside MultiSteps, so it bounds the accumulated (mean) gradient that is
actually applied. Weight decay is decoupled (AdamW-style: added after the adaptive
scaling, then multiplied by the lr), and skips biases and norm parameters.

Reduce-on-plateau needs the loss at every update; optax passes it as an extra
argument, which lookahead does not forward. Rather than forbid the combination, the
trainer rebuilds this (pure) transformation inside its jitted step with the loss
bound in (`loss_value`); the state structure does not depend on it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from optax.contrib import ReduceLROnPlateauState, reduce_on_plateau

from zeroloop.config.train import TrainConfig
from zeroloop.trainer.losses import kernel_mask
from zeroloop.trainer.schedules import build_schedule


def _bind_value(
    tx: optax.GradientTransformationExtraArgs, value: jax.Array | None
) -> optax.GradientTransformation:
    """A transformation whose update calls tx.update(..., value=value)."""

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if value is None:
            raise ValueError("reduce-on-plateau needs the loss value at every update")
        return tx.update(updates, state, params, value=value)

    return optax.GradientTransformation(tx.init, update)


def build_optimizer(
    train: TrainConfig,
    total_steps: int,
    start_step: int = 0,
    *,
    loss_value: jax.Array | None = None,
    schedule: optax.Schedule | None = None,
) -> optax.GradientTransformation:
    """The full optimizer. `schedule` overrides the config's (used by the LR finder).

    total_steps: optimizer steps of this run (cosine length, warmup fraction);
    start_step: global step at which this optimizer starts (piecewise anchoring).
    With lookahead, update() needs `optax.LookaheadParams` as params.
    """
    lr = schedule if schedule is not None else build_schedule(train, total_steps, start_step)
    parts: list[optax.GradientTransformation] = []
    if train.grad_clip_norm is not None:
        parts.append(optax.clip_by_global_norm(train.grad_clip_norm))
    if train.optimizer == "sgd":
        parts.append(optax.trace(decay=train.momentum, nesterov=train.nesterov))
    else:
        parts.append(
            optax.scale_by_adam(
                b1=train.adam_b1, b2=train.adam_b2, eps=train.adam_eps, nesterov=train.optimizer == "nadamw"
            )
        )
    if train.weight_decay > 0:
        parts.append(optax.add_decayed_weights(train.weight_decay, mask=kernel_mask))
    parts.append(optax.scale_by_learning_rate(lr))
    sc = train.schedule
    if sc.plateau_patience > 0:
        plateau = reduce_on_plateau(
            factor=sc.plateau_factor,
            patience=sc.plateau_patience,
            cooldown=sc.plateau_cooldown,
            accumulation_size=sc.plateau_window,
            min_scale=sc.plateau_min_scale,
        )
        parts.append(_bind_value(plateau, loss_value))
    tx: optax.GradientTransformation = optax.chain(*parts)
    if train.accum_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=train.accum_steps).gradient_transformation()
    if train.lookahead_steps > 0:
        # Lookahead counts every update call, micro-batches included.
        tx = optax.lookahead(tx, train.lookahead_steps * train.accum_steps, train.lookahead_alpha)
    return tx


def init_optimizer(tx: optax.GradientTransformation, params: Any, lookahead: bool) -> Any:
    """Optimizer state for `params` (fast = slow = params under lookahead)."""
    if lookahead:
        return tx.init(optax.LookaheadParams(fast=params, slow=params))
    return tx.init(params)


def plateau_scale(opt_state: Any) -> jax.Array:
    """The reduce-on-plateau multiplier in `opt_state` (1.0 when plateau is off)."""
    found = [
        s
        for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, ReduceLROnPlateauState))
        if isinstance(s, ReduceLROnPlateauState)
    ]
    return jnp.asarray(found[0].scale, jnp.float32) if found else jnp.float32(1.0)


def current_lr(
    train: TrainConfig, total_steps: int, start_step: int, count: jax.Array, opt_state: Any
) -> jax.Array:
    """Effective learning rate after `count` updates of this run: schedule * plateau scale."""
    return build_schedule(train, total_steps, start_step)(count) * plateau_scale(opt_state)
