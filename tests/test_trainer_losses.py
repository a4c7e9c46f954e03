"""Each loss against a value computed by hand (numbers in the comments)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from zeroloop.config.train import LossConfig
from zeroloop.model.network import NetOutputs
from zeroloop.trainer.losses import (
    aux_warmup_scale,
    compute_losses,
    huber,
    l2_penalty,
    ownership_loss,
    policy_loss,
    sharpen,
    value_loss,
    winning_group_loss,
    winning_group_mask,
)


def test_policy_ce_masks_illegal_moves() -> None:
    # Logits (0, ln 2, 5); move 2 is illegal, so q = (1/3, 2/3) over the legal two.
    logits = jnp.array([[0.0, math.log(2.0), 5.0]])
    legal = jnp.array([[True, True, False]])
    target = jnp.array([[0.5, 0.5, 0.0]])
    # ce = -(0.5 ln 1/3 + 0.5 ln 2/3)
    want = -(0.5 * math.log(1 / 3) + 0.5 * math.log(2 / 3))
    assert float(policy_loss(logits, target, legal, "ce")[0]) == pytest.approx(want, rel=1e-6)


def test_policy_target_mass_on_illegal_moves_is_dropped() -> None:
    logits = jnp.array([[0.0, 0.0, 0.0]])
    legal = jnp.array([[True, True, False]])
    target = jnp.array([[0.25, 0.25, 0.5]])  # -> (0.5, 0.5, 0) after masking
    assert float(policy_loss(logits, target, legal)[0]) == pytest.approx(math.log(2.0), rel=1e-6)


def test_policy_kl_subtracts_target_entropy() -> None:
    logits = jnp.array([[0.0, math.log(3.0)]])  # q = (1/4, 3/4)
    legal = jnp.ones((1, 2), bool)
    target = jnp.array([[0.5, 0.5]])
    # KL = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75)
    want = 0.5 * math.log(2.0) + 0.5 * math.log(2 / 3)
    assert float(policy_loss(logits, target, legal, "kl")[0]) == pytest.approx(want, rel=1e-5)
    # At the optimum KL is 0 while CE is the entropy ln 2.
    same = jnp.log(target)
    assert float(policy_loss(same, target, legal, "kl")[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(policy_loss(same, target, legal, "ce")[0]) == pytest.approx(math.log(2.0), rel=1e-6)


def test_policy_target_temperature() -> None:
    # (0.8, 0.2) at T = 0.5 -> (0.64, 0.04) / 0.68
    got = np.asarray(sharpen(jnp.array([[0.8, 0.2, 0.0]]), 0.5))[0]
    np.testing.assert_allclose(got, [0.64 / 0.68, 0.04 / 0.68, 0.0], rtol=1e-6)


def test_value_mse_and_label_smoothing() -> None:
    out = jnp.array([[math.atanh(0.5)]])  # tanh head: v = 0.5
    # target 1 smoothed by 0.1 -> 0.9; (0.5 - 0.9)^2 = 0.16
    assert float(value_loss(out, jnp.array([1.0]), "mse", label_smoothing=0.1)[0]) == pytest.approx(
        0.16, rel=1e-5
    )


def test_value_huber_matches_seed_formula() -> None:
    # Seed 004: smoothed = t (1 - s); |d| <= delta: 0.5 d^2, else delta (|d| - delta / 2)
    out = jnp.array([[math.atanh(-0.8)], [math.atanh(0.6)]])
    t = jnp.array([1.0, 1.0])
    got = np.asarray(value_loss(out, t, "huber", huber_delta=0.5, label_smoothing=0.2))
    # d = -0.8 - 0.8 = -1.6 -> 0.5 (1.6 - 0.25) = 0.675; d = 0.6 - 0.8 = -0.2 -> 0.02
    np.testing.assert_allclose(got, [0.675, 0.02], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(huber(jnp.array([2.0]), 1.0)), [1.5])


def test_value_cross_entropy_for_win_loss_head() -> None:
    out = jnp.array([[0.0, math.log(3.0)]])  # P(win) = 1/4, P(loss) = 3/4
    # target 0.5 -> p = 0.75: -(0.75 ln 0.25 + 0.25 ln 0.75)
    want = -(0.75 * math.log(0.25) + 0.25 * math.log(0.75))
    assert float(value_loss(out, jnp.array([0.5]), "ce")[0]) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="value_head=wdl"):
        value_loss(jnp.zeros((1, 1)), jnp.array([0.5]), "ce")


def test_ownership_loss() -> None:
    logits = jnp.zeros((1, 2, 2, 3))  # uniform: every cell costs ln 3
    owner = jnp.array([[[1.0, -1.0], [0.0, 1.0]]])
    assert float(ownership_loss(logits, owner)[0]) == pytest.approx(math.log(3.0), rel=1e-6)
    sure = jnp.array([[[[9.0, 0, 0], [0, 0, 9.0]], [[0, 9.0, 0], [9.0, 0, 0]]]])
    assert float(ownership_loss(sure, owner)[0]) < 1e-3


def test_winning_group_mask_mover_and_opponent() -> None:
    # 3x3, mover (+1) won top to bottom along column 1; a stray mover stone at (0, 0)
    # touches the chain, one at (2, 2) does not (neighbours of (2,2): (1,2) (2,1)).
    owner = np.zeros((2, 3, 3), np.float32)
    owner[0, :, 1] = 1
    owner[0, 0, 0] = 1
    owner[0, 1, 2] = -1
    # Opponent (-1) won left to right along row 2 (in the mover's frame).
    owner[1, 2, :] = -1
    owner[1, 0, 0] = -1  # isolated
    owner[1, 1, 1] = 1
    mask = np.asarray(winning_group_mask(jnp.asarray(owner), jnp.array([1.0, -1.0])))
    want0 = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 0]], bool)
    want1 = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1]], bool)
    np.testing.assert_array_equal(mask[0], want0)
    np.testing.assert_array_equal(mask[1], want1)


def test_winning_group_follows_hex_diagonals() -> None:
    # (0,1) -> (1,0) is a hex neighbour (r+1, c-1); (0,0) -> (1,1) is not.
    owner = np.zeros((1, 2, 2), np.float32)
    owner[0, 0, 1] = owner[0, 1, 0] = 1
    assert np.asarray(winning_group_mask(jnp.asarray(owner), jnp.array([1.0]))).sum() == 2
    owner = np.zeros((1, 2, 2), np.float32)
    owner[0, 0, 0] = owner[0, 1, 1] = 1
    assert np.asarray(winning_group_mask(jnp.asarray(owner), jnp.array([1.0]))).sum() == 0


def test_winning_group_loss() -> None:
    # sigmoid(0) = 0.5 everywhere: ln 2 per cell whatever the mask.
    mask = jnp.array([[[True, False], [False, False]]])
    assert float(winning_group_loss(jnp.zeros((1, 2, 2)), mask)[0]) == pytest.approx(math.log(2.0), rel=1e-6)


def test_l2_skips_biases_and_norm_scales() -> None:
    params = {"conv": {"kernel": jnp.full((2, 2), 2.0), "bias": jnp.ones(2)}, "norm": {"scale": jnp.ones(3)}}
    assert float(l2_penalty(params)) == pytest.approx(16.0)


def test_compute_losses_weights_and_mixing() -> None:
    b, n = 2, 2
    a = n * n + 1
    out = NetOutputs(
        policy_logits=jnp.zeros((b, a)),
        value_out=jnp.array([[0.0], [0.0]]),
        ownership=jnp.zeros((b, n, n, 3)),
        winning_group=jnp.zeros((b, n, n)),
    )
    batch = {
        "policy": jnp.full((b, a), 1.0 / a),
        "legal": jnp.ones((b, a), bool),
        "value": jnp.array([1.0, 0.0]),
        "weight": jnp.array([3.0, 1.0]),
        "owner": jnp.zeros((b, n, n)),
        "z": jnp.array([1.0, -1.0]),
    }
    cfg = LossConfig(
        policy_weight=2.0, value_weight=0.5, aux_weight=0.1, ownership_weight=1.0, winning_group_weight=2.0
    )
    m = compute_losses(out, batch, cfg, aux_scale=0.5)
    # policy ln 5 each; value (0-1)^2 = 1 and 0 -> weighted (3*1 + 0) / 4 = 0.75
    assert float(m["policy_loss"]) == pytest.approx(math.log(5.0), rel=1e-6)
    assert float(m["value_loss"]) == pytest.approx(0.75, rel=1e-6)
    want = 2 * math.log(5.0) + 0.5 * 0.75 + 0.5 * 0.1 * (math.log(3.0) + 2 * math.log(2.0))
    assert float(m["loss"]) == pytest.approx(want, rel=1e-6)


def test_aux_warmup_scale() -> None:
    assert float(aux_warmup_scale(jnp.int32(0), 100)) == 0.0
    assert float(aux_warmup_scale(jnp.int32(50), 100)) == pytest.approx(0.5)
    assert float(aux_warmup_scale(jnp.int32(500), 100)) == 1.0
    assert float(aux_warmup_scale(jnp.int32(0), 0)) == 1.0


def test_playout_capped_rows_carry_no_policy_loss() -> None:
    # Four rows, uniform logits over 5 moves: each row's ce is ln 5 against any one-hot.
    # Rows 2 and 3 are capped searches (policy_weight 0): their (junk) targets must not
    # count, and the policy term is sum over targets / all rows = 2 ln 5 / 4.
    out = NetOutputs(policy_logits=jnp.zeros((4, 5)), value_out=jnp.zeros((4, 1)))
    target = np.zeros((4, 5), np.float32)
    target[:, 0] = 1.0
    batch = {
        "policy": jnp.asarray(target),
        "legal": jnp.ones((4, 5), bool),
        "value": jnp.zeros(4),
        "weight": jnp.ones(4),
        "policy_weight": jnp.array([1.0, 1.0, 0.0, 0.0]),
    }
    m = compute_losses(out, batch, LossConfig())
    assert float(m["policy_loss"]) == pytest.approx(2 * math.log(5.0) / 4, rel=1e-6)
    # Changing the capped rows' targets changes nothing.
    other = target.copy()
    other[2:] = np.roll(target[2:], 2, axis=1)
    junk = dict(batch, policy=jnp.asarray(other))
    junk_m = compute_losses(out, junk, LossConfig())
    assert float(junk_m["policy_loss"]) == pytest.approx(float(m["policy_loss"]), rel=1e-6)
    # Without the column every row is a target (older shards).
    del batch["policy_weight"]
    assert float(compute_losses(out, batch, LossConfig())["policy_loss"]) == pytest.approx(math.log(5.0))
