"""Piecewise-constant schedules by game progress (temperature, root noise weight).

A schedule is a list of `(progress, value)` pairs, as in `MctsConfig`: the value holds
from that fraction of the expected game length on, until the next pair. Progress is
`ply / expected_game_length` and may exceed 1 (the last value then holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Piecewise(NamedTuple):
    """A schedule as arrays, ready for use inside jit.

    starts: float32 [K] progress at which each value begins, strictly increasing, starts[0] = 0.
    values: float32 [K] the value from starts[k] on.
    """

    starts: jax.Array
    values: jax.Array


def piecewise(schedule: Sequence[tuple[float, float]]) -> Piecewise:
    """Turn `[(progress, value), ...]` into a `Piecewise` of constant arrays."""
    pairs = np.asarray(schedule, dtype=np.float32).reshape(-1, 2)
    return Piecewise(starts=jnp.asarray(pairs[:, 0]), values=jnp.asarray(pairs[:, 1]))


def schedule_value(schedule: Piecewise, progress: jax.Array) -> jax.Array:
    """Value of `schedule` at `progress` (any shape, e.g. [B]); same shape as `progress`."""
    progress = jnp.asarray(progress, jnp.float32)
    # Index of the last start <= progress; progress below 0 is clamped to the first piece.
    idx = jnp.sum(progress[..., None] >= schedule.starts, axis=-1) - 1
    return schedule.values[jnp.clip(idx, 0, schedule.values.shape[0] - 1)]


def default_expected_game_length(board_size: int) -> float:
    """Plies that count as progress 1.0 when the config leaves it unset: half the cells."""
    return board_size * board_size / 2.0


def game_progress(ply: jax.Array, expected_game_length: float) -> jax.Array:
    """float32, same shape as `ply`: `ply / expected_game_length`."""
    return jnp.asarray(ply, jnp.float32) / jnp.float32(expected_game_length)
