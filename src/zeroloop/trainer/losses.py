"""Loss functions of the trainer (formulas also in docs/trainer.md).

All per-sample losses return [B]; `compute_losses` averages them with the batch's
sample weights, sum(w * l) / sum(w), and mixes them with the configured weights.

The value target is `batch["value"]`, which the loader has already blended as
q_ratio * q + (1 - q_ratio) * z (seed 000 phase D's `q_ratio`); the loss does not
blend again, so a model trained with q_ratio = 0.3 sees exactly one blend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from zeroloop.config.train import LossConfig
from zeroloop.model.network import NetOutputs, value_from_head

# Finite instead of -inf so that 0 * masked logit stays 0 and gradients stay finite.
_MASKED_LOGIT = -1e9
_TINY = 1e-12


def sharpen(target: jax.Array, temperature: float) -> jax.Array:
    """target [B, A] -> p^(1/T) renormalised per row (T < 1 sharpens, T > 1 flattens)."""
    if temperature != 1.0:
        target = jnp.where(target > 0, jnp.power(jnp.maximum(target, _TINY), 1.0 / temperature), 0.0)
    return target / jnp.maximum(target.sum(axis=-1, keepdims=True), _TINY)


def policy_loss(
    logits: jax.Array,
    target: jax.Array,
    legal: jax.Array,
    kind: str = "ce",
    temperature: float = 1.0,
) -> jax.Array:
    """Cross-entropy (or KL) of the policy over legal moves.

    logits [B, A], target [B, A] (sums to 1), legal bool [B, A] -> [B].
    Illegal logits are masked out of the softmax and target mass on illegal moves is
    dropped (the target is renormalised over legal moves), so the net is never asked
    to put probability where it cannot play. 'kl' subtracts the target's entropy:
    sum t (log t - log q), which is 0 at the optimum and has the same gradient as 'ce'.
    """
    logq = jax.nn.log_softmax(jnp.where(legal, logits.astype(jnp.float32), _MASKED_LOGIT), axis=-1)
    t = sharpen(jnp.where(legal, target.astype(jnp.float32), 0.0), temperature)
    ce = -jnp.sum(jnp.where(t > 0, t * logq, 0.0), axis=-1)
    if kind == "kl":
        entropy = -jnp.sum(jnp.where(t > 0, t * jnp.log(jnp.maximum(t, _TINY)), 0.0), axis=-1)
        return ce - entropy
    return ce


def huber(diff: jax.Array, delta: float) -> jax.Array:
    """0.5 d^2 for |d| <= delta, else delta (|d| - delta / 2)."""
    a = jnp.abs(diff)
    return jnp.where(a <= delta, 0.5 * diff**2, delta * (a - 0.5 * delta))


def value_loss(
    value_out: jax.Array,
    target: jax.Array,
    kind: str = "mse",
    huber_delta: float = 1.0,
    label_smoothing: float = 0.0,
) -> jax.Array:
    """value_out [B, 1] (tanh head) or [B, 2] (win, loss logits), target [B] in [-1, 1] -> [B].

    The target is smoothed as t (1 - s) (seed 004). 'mse': (v - t)^2; 'huber': huber(v - t);
    'ce' (needs the [B, 2] head): -(p log P(win) + (1 - p) log P(loss)), p = (1 + t) / 2.
    """
    t = target.astype(jnp.float32) * (1.0 - label_smoothing)
    if kind == "ce":
        if value_out.shape[-1] != 2:
            raise ValueError("train.loss.value=ce needs model.value_head=wdl (win/loss logits)")
        logp = jax.nn.log_softmax(value_out.astype(jnp.float32), axis=-1)
        p_win = 0.5 * (1.0 + t)
        return -(p_win * logp[:, 0] + (1.0 - p_win) * logp[:, 1])
    diff = value_from_head(value_out) - t
    if kind == "huber":
        return huber(diff, huber_delta)
    return diff**2


def ownership_loss(logits: jax.Array, owner: jax.Array) -> jax.Array:
    """logits [B, N, N, 3] (mover, empty, opponent), owner [B, N, N] in {+1, 0, -1} -> [B].

    Mean over cells of the softmax cross-entropy. Empty cells at the end are a class
    of their own: Hex games stop at the first connection, so most cells stay empty.
    """
    cls = jnp.where(owner > 0, 0, jnp.where(owner < 0, 2, 1))
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), cls)
    return ce.mean(axis=(1, 2))


def _neighbours(x: jax.Array) -> jax.Array:
    """x bool [B, N, N] -> cells with a set hex neighbour.

    Neighbours of (r, c): (r-1, c) (r-1, c+1) (r, c-1) (r, c+1) (r+1, c-1) (r+1, c).
    """
    p = jnp.pad(x, ((0, 0), (1, 1), (1, 1)))
    n = x.shape[1]

    def at(dr: int, dc: int) -> jax.Array:
        return p[:, 1 + dr : 1 + dr + n, 1 + dc : 1 + dc + n]

    return at(-1, 0) | at(-1, 1) | at(0, -1) | at(0, 1) | at(1, -1) | at(1, 0)


def winning_group_mask(owner: jax.Array, z: jax.Array) -> jax.Array:
    """owner [B, N, N] (+1 mover, -1 opponent, 0 empty), z [B] -> bool [B, N, N].

    The cells of the winner's stones that belong to a group touching both of the
    winner's edges. In the mover's frame the mover joins top and bottom and the
    opponent left and right (the hex neighbourhood is symmetric under transposition).
    Found by flooding from each edge until nothing changes and intersecting.
    """
    mover_won = (z > 0)[:, None, None]
    stones = jnp.where(mover_won, owner > 0, owner < 0)
    n = owner.shape[1]
    rows = jnp.arange(n)[None, :, None]
    cols = jnp.arange(n)[None, None, :]
    first = jnp.where(mover_won, rows == 0, cols == 0) & stones
    last = jnp.where(mover_won, rows == n - 1, cols == n - 1) & stones
    init = jnp.stack([first, last])  # [2, B, N, N]

    def grow(reach: jax.Array) -> jax.Array:
        return stones[None] & (reach | jax.vmap(_neighbours)(reach))

    def cond(carry: tuple[jax.Array, jax.Array]) -> jax.Array:
        prev, cur = carry
        return jnp.any(prev != cur)

    def body(carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        _, cur = carry
        return cur, grow(cur)

    _, reach = jax.lax.while_loop(cond, body, (init, grow(init)))
    return reach[0] & reach[1]


def winning_group_loss(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """logits [B, N, N], mask bool [B, N, N] -> [B]: mean sigmoid cross-entropy over cells."""
    bce = optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), mask.astype(jnp.float32))
    return bce.mean(axis=(1, 2))


def kernel_mask(params: Any) -> Any:
    """True for weights that are regularised: kernels (ndim > 1); biases and norm scales are not."""
    return jax.tree.map(lambda x: x.ndim > 1, params)


def l2_penalty(params: Any) -> jax.Array:
    """sum(w^2) over kernels (float32 scalar)."""
    mask = jax.tree.leaves(kernel_mask(params))
    leaves = [x for x, m in zip(jax.tree.leaves(params), mask, strict=True) if m]
    return sum((jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves), jnp.float32(0.0))


def weighted_mean(x: jax.Array, weight: jax.Array) -> jax.Array:
    """x [B], weight [B] -> sum(w x) / sum(w)."""
    return jnp.sum(weight * x) / jnp.maximum(jnp.sum(weight), _TINY)


def compute_losses(
    out: NetOutputs,
    batch: Mapping[str, jax.Array],
    cfg: LossConfig,
    aux_scale: jax.Array | float = 1.0,
    params: Any = None,
) -> dict[str, jax.Array]:
    """All loss components (scalars) and the weighted total under key 'loss'.

    total = wp * policy + wv * value + aux_scale * wa * (wo * ownership + wg * winning_group)
            + l2 * sum(w^2)   (the last only when `params` is given, i.e. in training).
    Also returns monitoring metrics that are not optimised: policy_accuracy (argmax of
    the policy equals argmax of the target) and value_mse.
    """
    w = batch["weight"].astype(jnp.float32)
    logits = out.policy_logits
    m: dict[str, jax.Array] = {}
    # Rows whose policy is no target (playout-capped searches) add nothing to the policy
    # loss but still count in its denominator, as in KataGo: the policy term shrinks with
    # the share of targets instead of over-weighting the few there are.
    pw = w * batch["policy_weight"].astype(jnp.float32) if "policy_weight" in batch else w
    per_row = policy_loss(logits, batch["policy"], batch["legal"], cfg.policy, cfg.policy_temperature)
    m["policy_loss"] = jnp.sum(pw * per_row) / jnp.maximum(jnp.sum(w), _TINY)
    m["value_loss"] = weighted_mean(
        value_loss(out.value_out, batch["value"], cfg.value, cfg.huber_delta, cfg.value_label_smoothing), w
    )
    total = cfg.policy_weight * m["policy_loss"] + cfg.value_weight * m["value_loss"]
    aux = jnp.float32(0.0)
    if out.ownership is not None and cfg.ownership_weight > 0:
        m["ownership_loss"] = weighted_mean(ownership_loss(out.ownership, batch["owner"]), w)
        aux = aux + cfg.ownership_weight * m["ownership_loss"]
    if out.winning_group is not None and cfg.winning_group_weight > 0:
        mask = winning_group_mask(batch["owner"], batch["z"])
        m["winning_group_loss"] = weighted_mean(winning_group_loss(out.winning_group, mask), w)
        aux = aux + cfg.winning_group_weight * m["winning_group_loss"]
    total = total + aux_scale * cfg.aux_weight * aux
    if params is not None and cfg.l2 > 0:
        m["l2"] = l2_penalty(params)
        total = total + cfg.l2 * m["l2"]
    m["loss"] = total
    legal_logits = jnp.where(batch["legal"], logits.astype(jnp.float32), _MASKED_LOGIT)
    hit = jnp.argmax(legal_logits, axis=-1) == jnp.argmax(batch["policy"], axis=-1)
    m["policy_accuracy"] = weighted_mean(hit.astype(jnp.float32), pw)
    m["value_mse"] = weighted_mean((value_from_head(out.value_out) - batch["value"]) ** 2, w)
    return m


def aux_warmup_scale(step: jax.Array, warmup_steps: int) -> jax.Array:
    """Linear ramp of the auxiliary weight: min(1, step / warmup_steps) (1 when no warmup)."""
    if warmup_steps <= 0:
        return jnp.float32(1.0)
    return jnp.minimum(1.0, step.astype(jnp.float32) / warmup_steps)
