"""Learning-rate schedules at their boundary steps, reduce-on-plateau, optimizer pieces."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from zeroloop.config.train import LrStage, ScheduleConfig, TrainConfig
from zeroloop.trainer.optim import build_optimizer, init_optimizer, plateau_scale
from zeroloop.trainer.schedules import (
    build_schedule,
    constant_schedule,
    cosine_schedule,
    exponential_sweep,
    piecewise_schedule,
    warmup_steps,
)


def at(schedule: optax.Schedule, count: int) -> float:
    return float(schedule(jnp.int32(count)))


def test_constant_with_warmup() -> None:
    s = constant_schedule(0.1, warmup=10)
    assert at(s, 0) == 0.0
    assert at(s, 5) == pytest.approx(0.05)
    assert at(s, 10) == pytest.approx(0.1)
    assert at(s, 1000) == pytest.approx(0.1)
    assert at(constant_schedule(0.1), 0) == pytest.approx(0.1)


def test_cosine_boundaries() -> None:
    s = cosine_schedule(1.0, total_steps=110, warmup=10, end_value=0.1)
    assert at(s, 0) == 0.0
    assert at(s, 10) == pytest.approx(1.0)
    assert at(s, 60) == pytest.approx(0.55)  # half-way: end + (peak - end) / 2
    assert at(s, 110) == pytest.approx(0.1)
    assert at(s, 500) == pytest.approx(0.1)


def test_warmup_fraction_overrides_steps() -> None:
    cfg = ScheduleConfig(warmup_steps=7, warmup_fraction=0.15)
    assert warmup_steps(cfg, 200) == 30
    assert warmup_steps(ScheduleConfig(warmup_steps=7), 200) == 7
    s = build_schedule(TrainConfig(learning_rate=0.2, schedule=cfg), 200)
    assert at(s, 15) == pytest.approx(0.1)
    assert at(s, 30) == pytest.approx(0.2)


def test_piecewise_stages_anchored_at_global_step() -> None:
    stages = [
        LrStage(starting_step=1000, lr=0.1, warmup_steps=100),
        LrStage(starting_step=2000, lr=0.01, warmup_steps=0),
        LrStage(starting_step=3000, lr=0.05, warmup_steps=50),
    ]
    # This optimizer starts at global step 1000 (a pretrained net's step).
    s = piecewise_schedule(stages, start_step=1000)
    assert at(s, 0) == 0.0  # global 1000: the first warmup starts from 0
    assert at(s, 50) == pytest.approx(0.05)
    assert at(s, 100) == pytest.approx(0.1)
    assert at(s, 999) == pytest.approx(0.1)
    assert at(s, 1000) == pytest.approx(0.01)  # global 2000: a drop without warmup
    assert at(s, 2000) == pytest.approx(0.01)  # global 3000: warmup from 0.01 to 0.05
    assert at(s, 2025) == pytest.approx(0.03)
    assert at(s, 2050) == pytest.approx(0.05)
    assert at(piecewise_schedule(stages, 0), 500) == 0.0  # before the first stage


def test_piecewise_config_is_validated() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ScheduleConfig(kind="piecewise")
    with pytest.raises(ValueError, match="increasing"):
        ScheduleConfig(kind="piecewise", stages=[dict(starting_step=5, lr=1), dict(starting_step=2, lr=1)])


def test_exponential_sweep_ends() -> None:
    s = exponential_sweep(1e-5, 1.0, 11)
    assert at(s, 0) == pytest.approx(1e-5)
    assert at(s, 5) == pytest.approx(1e-5 * 10**2.5, rel=1e-4)
    assert at(s, 10) == pytest.approx(1.0, rel=1e-4)


def test_reduce_on_plateau_cuts_the_lr() -> None:
    train = TrainConfig(
        optimizer="sgd",
        learning_rate=1.0,
        momentum=0.0,
        weight_decay=0.0,
        grad_clip_norm=None,
        schedule=ScheduleConfig(plateau_patience=2, plateau_factor=0.5, plateau_window=1),
    )
    params = {"w": jnp.zeros(2)}
    state = init_optimizer(build_optimizer(train, 100), params, lookahead=False)
    for _ in range(4):  # a loss that never improves
        tx = build_optimizer(train, 100, loss_value=jnp.float32(1.0))
        updates, state = tx.update({"w": jnp.ones(2)}, state, params)
    assert float(plateau_scale(state)) == pytest.approx(0.5)
    np.testing.assert_allclose(np.asarray(updates["w"]), [-0.5, -0.5])


def test_weight_decay_skips_biases_and_sgd_nesterov() -> None:
    train = TrainConfig(
        optimizer="sgd", learning_rate=0.1, momentum=0.5, weight_decay=0.1, grad_clip_norm=None
    )
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    tx = build_optimizer(train, 10)
    state = tx.init(params)
    grads = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(grads, state, params)
    # zero gradient: only decay acts, on the kernel: -lr * wd * w = -0.01
    np.testing.assert_allclose(np.asarray(updates["kernel"]), -0.01)
    np.testing.assert_allclose(np.asarray(updates["bias"]), 0.0)
    g = {"kernel": jnp.zeros((2, 2)), "bias": jnp.ones(2)}
    updates, _ = tx.update(g, tx.init(params), params)
    # Nesterov with momentum 0.5 on g = 1: m = 1, update = -lr (g + 0.5 m) = -0.15
    np.testing.assert_allclose(np.asarray(updates["bias"]), -0.15)


def test_grad_clipping_bounds_the_update() -> None:
    train = TrainConfig(
        optimizer="sgd", learning_rate=1.0, momentum=0.0, weight_decay=0.0, grad_clip_norm=1.0
    )
    params = {"w": jnp.zeros(2)}
    tx = build_optimizer(train, 10)
    updates, _ = tx.update({"w": jnp.array([3.0, 4.0])}, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), [-0.6, -0.8], rtol=1e-6)


def test_gradient_accumulation_averages_micro_batches() -> None:
    train = TrainConfig(
        optimizer="sgd", learning_rate=1.0, momentum=0.0, weight_decay=0.0, grad_clip_norm=None, accum_steps=2
    )
    params = {"w": jnp.zeros(1)}
    tx = build_optimizer(train, 10)
    state = tx.init(params)
    u1, state = tx.update({"w": jnp.array([1.0])}, state, params)
    u2, state = tx.update({"w": jnp.array([3.0])}, state, params)
    np.testing.assert_allclose(np.asarray(u1["w"]), [0.0])
    np.testing.assert_allclose(np.asarray(u2["w"]), [-2.0])
