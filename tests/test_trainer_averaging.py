"""EMA and SWA arithmetic, and the fp16 dynamic loss scale."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from zeroloop.trainer.precision import adjust_loss_scale, all_finite, cast_floats
from zeroloop.trainer.state import ema_decay_at, ema_update, swa_update


def test_ema_update() -> None:
    ema = {"w": jnp.array([1.0, 2.0])}
    new = {"w": jnp.array([3.0, 0.0])}
    out = ema_update(ema, new, 0.75)
    # 0.75 * (1, 2) + 0.25 * (3, 0)
    np.testing.assert_allclose(np.asarray(out["w"]), [1.5, 1.5])


def test_ema_decay_warmup() -> None:
    assert float(ema_decay_at(0.999, jnp.int32(0), True)) == pytest.approx(0.1)  # (1+0)/(10+0)
    assert float(ema_decay_at(0.999, jnp.int32(90), True)) == pytest.approx(91 / 100)
    assert float(ema_decay_at(0.999, jnp.int32(10**6), True)) == pytest.approx(0.999)
    assert float(ema_decay_at(0.999, jnp.int32(0), False)) == pytest.approx(0.999)


def test_swa_is_the_running_mean_then_capped() -> None:
    swa = {"w": jnp.zeros(1)}
    count = jnp.float32(0)
    for x in (2.0, 4.0, 6.0):
        swa, count = swa_update(swa, {"w": jnp.array([x])}, count, max_n=10)
    assert float(swa["w"][0]) == pytest.approx(4.0)  # mean of 2, 4, 6
    assert float(count) == 3
    # Capped at max_n = 2: after two snapshots each new one weighs 1/3.
    swa, count = {"w": jnp.zeros(1)}, jnp.float32(0)
    for x in (3.0, 3.0, 9.0):
        swa, count = swa_update(swa, {"w": jnp.array([x])}, count, max_n=2)
    assert float(count) == 2
    assert float(swa["w"][0]) == pytest.approx(3.0 * 2 / 3 + 9.0 / 3)


def test_loss_scale_halves_on_overflow_and_grows_after_period() -> None:
    s, g = adjust_loss_scale(jnp.float32(8.0), jnp.int32(5), jnp.bool_(False), period=3)
    assert (float(s), int(g)) == (4.0, 0)
    s, g = adjust_loss_scale(jnp.float32(8.0), jnp.int32(1), jnp.bool_(True), period=3)
    assert (float(s), int(g)) == (8.0, 2)
    s, g = adjust_loss_scale(jnp.float32(8.0), jnp.int32(2), jnp.bool_(True), period=3)
    assert (float(s), int(g)) == (16.0, 0)
    s, _ = adjust_loss_scale(jnp.float32(1.0), jnp.int32(0), jnp.bool_(False), period=3)
    assert float(s) == 1.0


def test_cast_and_finite_helpers() -> None:
    tree = {"a": jnp.ones(2, jnp.float32), "i": jnp.ones(2, jnp.int32)}
    out = cast_floats(tree, jnp.bfloat16)
    assert out["a"].dtype == jnp.bfloat16 and out["i"].dtype == jnp.int32
    assert bool(all_finite(tree))
    assert not bool(all_finite({"a": jnp.array([1.0, jnp.nan])}))
