"""Win-rate intervals and Elo arithmetic against hand-computed values."""

import math

import pytest

from zeroloop.evaluation.stats import (
    elo_from_win_rate,
    match_stats,
    wilson_interval,
    win_rate_from_elo,
    z_score,
)


def test_z_score_95() -> None:
    assert z_score(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_wilson_8_of_10() -> None:
    # p = 0.8, n = 10, z^2 = 3.841459: centre = 0.992073 / 1.384146 = 0.716741,
    # half = 1.416013 * sqrt(0.016 + 0.0096037) = 0.226578 -> (0.4902, 0.9433), the textbook value.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490163, abs=1e-5)
    assert high == pytest.approx(0.943319, abs=1e-5)


def test_wilson_at_the_edges() -> None:
    # 0 of 10: [0, z^2/n / (1 + z^2/n)] = [0, 0.384146 / 1.384146].
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.277533, abs=1e-5)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(1 - 0.277533, abs=1e-5)
    assert high == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_games() -> None:
    widths = [wilson_interval(n // 2, n)[1] - wilson_interval(n // 2, n)[0] for n in (10, 100, 1000)]
    assert widths[0] > widths[1] > widths[2]


def test_elo_from_win_rate() -> None:
    assert elo_from_win_rate(0.5) == 0.0
    assert elo_from_win_rate(0.75) == pytest.approx(400 * math.log10(3), abs=1e-9)  # 190.85
    assert elo_from_win_rate(0.75) == pytest.approx(190.848501, abs=1e-6)
    assert elo_from_win_rate(10 / 11) == pytest.approx(400.0, abs=1e-9)  # 10:1 odds is 400 points
    assert elo_from_win_rate(0.25) == pytest.approx(-190.848501, abs=1e-6)
    assert elo_from_win_rate(1.0) == math.inf
    assert elo_from_win_rate(0.0) == -math.inf


def test_elo_and_win_rate_invert() -> None:
    for d in (-600.0, -100.0, 0.0, 35.5, 400.0):
        assert elo_from_win_rate(win_rate_from_elo(d)) == pytest.approx(d, abs=1e-9)


def test_match_stats_maps_interval_through_elo() -> None:
    s = match_stats(8, 10)
    assert s.win_rate == 0.8
    assert s.elo == pytest.approx(400 * math.log10(4), abs=1e-9)  # 240.82
    assert s.elo_low == pytest.approx(elo_from_win_rate(0.490163), abs=0.05)  # about -6.9
    assert s.elo_high == pytest.approx(elo_from_win_rate(0.943319), abs=0.1)  # about +489
    perfect = match_stats(10, 10)
    assert perfect.elo is None and perfect.elo_high is None  # unbounded: JSON null
    assert perfect.elo_low == pytest.approx(elo_from_win_rate(1 - 0.277533), abs=0.05)


def test_one_sided_lower_bound() -> None:
    from zeroloop.evaluation.stats import promotion_probability, wilson_interval, wilson_lower_bound

    # One-sided at 0.95 is the lower end of the two-sided 0.90 interval.
    assert wilson_lower_bound(40, 64, 0.95) == pytest.approx(wilson_interval(40, 64, 0.90)[0])
    assert wilson_lower_bound(40, 64, 0.95) == pytest.approx(0.5223, abs=1e-4)
    assert wilson_lower_bound(36, 64, 0.5) == 36 / 64  # z = 0: the point estimate
    assert wilson_lower_bound(0, 10, 0.95) == 0.0 and wilson_lower_bound(3, 0, 0.95) == 0.0
    with pytest.raises(ValueError):
        wilson_lower_bound(1, 2, 0.4)
    # Exact promotion rates of equals at 64 games: point estimate vs 0.55, and the bound.
    assert promotion_probability(0.5, 64, 0.55, 0.5) == pytest.approx(0.1909, abs=1e-4)
    assert promotion_probability(0.5, 64, 0.5, 0.95) == pytest.approx(0.0517, abs=1e-4)
