"""Resignation calibration (pure numpy): worst windows, resign plies, the adapted threshold."""

from __future__ import annotations

import numpy as np
import pytest

from zeroloop.search.resign import ResignCalibration, resign_ply, worst_window


def test_worst_window_is_the_resign_point() -> None:
    values = np.array([0.5, -0.8, -0.95, -0.7, 0.2], np.float32)
    # Runs of 2: maxima 0.5, -0.8, -0.7, 0.2 -> resigns at any threshold above -0.8.
    assert worst_window(values, 2) == pytest.approx(-0.8)
    assert worst_window(values[:1], 2) == float("inf")


def test_resign_ply_counts_own_moves_only() -> None:
    # Black moves at even plies. Black's values: 0.1, -0.9, -0.95 -> resigns at ply 4 (2 in a row).
    root = np.array([0.1, 0.9, -0.9, 0.9, -0.95, 0.9], np.float32)
    assert resign_ply(root, 0, -0.5, 2) == 4
    assert resign_ply(root, 1, -0.5, 2) is None


def test_adapted_threshold_keeps_false_rate_at_target() -> None:
    rng = np.random.default_rng(0)
    calib = ResignCalibration(threshold=-0.5, consecutive=1)
    for _ in range(400):
        # Winner is black (player 0); its lowest own value spreads over [-1, 0].
        root = np.zeros(10, np.float32)
        root[0::2] = rng.uniform(-1, 0, 5)
        calib.add_game(root, winner=0, resigned=False, resign_free=True)
    t = calib.adapted(0.05)
    assert calib.false_rate(t) <= 0.05
    assert calib.false_rate(t + 0.02) > 0.05  # the highest such threshold, not any
    assert calib.resign_free_games == 400


def test_too_few_games_keep_the_threshold() -> None:
    calib = ResignCalibration(threshold=-0.8, consecutive=3)
    calib.add_game(np.zeros(8, np.float32), winner=1, resigned=False, resign_free=True)
    assert calib.adapted(0.05) == -0.8
