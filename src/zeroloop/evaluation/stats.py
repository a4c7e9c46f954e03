"""Win-rate and Elo arithmetic: Wilson score interval, logistic Elo difference.

Hex has no draws, so a match is `wins` out of `games` and every formula here is the
binomial one. Elo follows the logistic model: a player rated D points above another
wins with probability p = 1 / (1 + 10^(-D/400)), so D = 400 * log10(p / (1 - p)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

ELO_SCALE = 400.0


def z_score(confidence: float) -> float:
    """Two-sided normal quantile: 0.95 -> 1.95996..."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(wins: float, games: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

        p = wins / n,  z = z_score(confidence)
        centre = (p + z^2 / (2n)) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not empty at
    p = 0 or 1, which matters for short matches against weak opponents. With no
    games the interval is the whole of [0, 1].
    """
    if games <= 0:
        return 0.0, 1.0
    if not 0 <= wins <= games:
        raise ValueError(f"wins must be in 0..{games}, got {wins}")
    n = float(games)
    p = wins / n
    z = z_score(confidence)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At p = 0 (or 1) the bound is exactly 0 (or 1); say so instead of leaving rounding noise.
    low = 0.0 if wins == 0 else max(0.0, centre - half)
    high = 1.0 if wins == games else min(1.0, centre + half)
    return low, high


def wilson_lower_bound(wins: float, games: int, confidence: float = 0.95) -> float:
    """One-sided Wilson lower confidence bound of a win rate (what gating compares).

    The true rate lies above the bound with probability about `confidence`: z is the
    one-sided normal quantile (1.645 at 0.95), so the bound is the lower end of the
    two-sided Wilson interval at level 2 * confidence - 1. `confidence = 0.5` gives
    z = 0, i.e. the point estimate wins / games. No games: 0.
    """
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"gating confidence must be in [0.5, 1), got {confidence}")
    if games <= 0:
        return 0.0
    if not 0 <= wins <= games:
        raise ValueError(f"wins must be in 0..{games}, got {wins}")
    n = float(games)
    p = wins / n
    z = NormalDist().inv_cdf(confidence)
    if z == 0.0:
        return p
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 0.0 if wins == 0 else max(0.0, centre - half)


def promotion_probability(true_rate: float, games: int, threshold: float, confidence: float) -> float:
    """P(wilson_lower_bound(W, games, confidence) >= threshold) for W ~ Binomial(games, true_rate).

    Exact (a sum over the games + 1 outcomes): with true_rate = 0.5 it is the rate at
    which gating promotes a candidate no stronger than the best model.
    """
    total = 0.0
    for w in range(games + 1):
        if wilson_lower_bound(w, games, confidence) >= threshold:
            total += math.comb(games, w) * true_rate**w * (1 - true_rate) ** (games - w)
    return total


def elo_from_win_rate(p: float) -> float:
    """Elo difference D with expected score p: D = 400 log10(p / (1 - p)); +-inf at 1 and 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"win rate must be in [0, 1], got {p}")
    if p == 1.0:
        return math.inf
    if p == 0.0:
        return -math.inf
    return ELO_SCALE * math.log10(p / (1.0 - p))


def win_rate_from_elo(diff: float) -> float:
    """Expected score of the player rated `diff` points higher: 1 / (1 + 10^(-diff/400))."""
    return 1.0 / (1.0 + 10.0 ** (-diff / ELO_SCALE))


def finite_or_none(x: float) -> float | None:
    """JSON has no infinity: an unbounded Elo is written as null."""
    return None if math.isinf(x) or math.isnan(x) else x


@dataclass(frozen=True)
class MatchStats:
    """The strength a match shows: win rate and Elo difference, each with its interval.

    The Elo interval is the Wilson interval mapped through `elo_from_win_rate`
    (monotone, so the bounds carry over); it is unbounded (None) on the side where
    the Wilson bound reaches 0 or 1, e.g. only at zero games.
    """

    wins: int
    games: int
    win_rate: float
    win_rate_low: float
    win_rate_high: float
    elo: float | None
    elo_low: float | None
    elo_high: float | None
    confidence: float

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def match_stats(wins: int, games: int, confidence: float = 0.95) -> MatchStats:
    """Summarise `wins` out of `games` (no games: win rate 0.5, Elo 0, intervals unbounded)."""
    low, high = wilson_interval(wins, games, confidence)
    rate = wins / games if games else 0.5
    return MatchStats(
        wins=wins,
        games=games,
        win_rate=rate,
        win_rate_low=low,
        win_rate_high=high,
        elo=finite_or_none(elo_from_win_rate(rate)),
        elo_low=finite_or_none(elo_from_win_rate(low)),
        elo_high=finite_or_none(elo_from_win_rate(high)),
        confidence=confidence,
    )
