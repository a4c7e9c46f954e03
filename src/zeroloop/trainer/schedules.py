"""Learning-rate schedules: count (optimizer updates) -> learning rate.

Conventions at the boundaries (tested): a linear warmup of W steps gives lr 0 at
count 0 and the peak at count W; cosine reaches its end value at `total_steps` and
stays there. Piecewise stages are anchored at *global* steps (seed 000 phase B):
`start_step` (the global step this optimizer was created at, e.g. a pretrained
net's step) is added to the count, so a stage starting at global step 50 000
warms up from there whatever the run's own count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import optax

from zeroloop.config.train import LrStage, ScheduleConfig, TrainConfig


def warmup_steps(cfg: ScheduleConfig, total_steps: int) -> int:
    """The warmup length in steps: warmup_fraction * total_steps when set, else warmup_steps."""
    if cfg.warmup_fraction is not None:
        return int(round(cfg.warmup_fraction * total_steps))
    return cfg.warmup_steps


def _ramp(count: jnp.ndarray, steps: int) -> jnp.ndarray:
    """0 -> 1 linearly over `steps` counts (1 at once when steps == 0)."""
    if steps <= 0:
        return jnp.ones_like(count, dtype=jnp.float32)
    return jnp.clip(count.astype(jnp.float32) / steps, 0.0, 1.0)


def constant_schedule(peak: float, warmup: int = 0) -> optax.Schedule:
    """Linear warmup from 0 to `peak` over `warmup` steps, then `peak`."""
    return lambda count: peak * _ramp(jnp.asarray(count), warmup)


def cosine_schedule(peak: float, total_steps: int, warmup: int = 0, end_value: float = 0.0) -> optax.Schedule:
    """Linear warmup to `peak`, then half a cosine down to `end_value` at `total_steps`."""
    decay = max(total_steps - warmup, 1)

    def schedule(count: jnp.ndarray) -> jnp.ndarray:
        c = jnp.asarray(count).astype(jnp.float32)
        progress = jnp.clip((c - warmup) / decay, 0.0, 1.0)
        cos = end_value + (peak - end_value) * 0.5 * (1.0 + jnp.cos(math.pi * progress))
        return jnp.where(c < warmup, peak * _ramp(c, warmup), cos)

    return schedule


def piecewise_schedule(stages: Sequence[LrStage], start_step: int = 0) -> optax.Schedule:
    """Stages anchored at global steps; before the first stage the lr is 0.

    In stage i (starting_step S_i <= s < S_{i+1}) the lr goes linearly from the
    previous stage's lr (0 for the first) to lr_i over warmup_steps_i, then holds.
    A stage with a lower lr and a warmup therefore also serves as a linear decay.
    """
    stages = sorted(stages, key=lambda s: s.starting_step)

    def schedule(count: jnp.ndarray) -> jnp.ndarray:
        s = jnp.asarray(count) + start_step
        lr = jnp.float32(0.0)
        prev = 0.0
        for st in stages:
            value = prev + (st.lr - prev) * _ramp(s - st.starting_step, st.warmup_steps)
            lr = jnp.where(s >= st.starting_step, value, lr)
            prev = st.lr
        return lr

    return schedule


def exponential_sweep(lr_min: float, lr_max: float, steps: int) -> optax.Schedule:
    """lr_min at count 0 to lr_max at count steps - 1, geometrically (the LR finder)."""
    ratio = math.log(lr_max / lr_min) / max(steps - 1, 1)
    return lambda count: lr_min * jnp.exp(ratio * jnp.asarray(count).astype(jnp.float32))


def build_schedule(train: TrainConfig, total_steps: int, start_step: int = 0) -> optax.Schedule:
    """The schedule the config asks for; `total_steps` = optimizer steps in this run."""
    cfg = train.schedule
    warm = warmup_steps(cfg, total_steps)
    if cfg.kind == "cosine":
        end = train.learning_rate * cfg.final_lr_fraction
        return cosine_schedule(train.learning_rate, total_steps, warm, end)
    if cfg.kind == "piecewise":
        return piecewise_schedule(cfg.stages, start_step)
    return constant_schedule(train.learning_rate, warm)
