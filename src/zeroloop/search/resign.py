"""Resignation calibration from the games that may not resign (minigo, lc0).

A player resigns when its root value stays below the threshold for `consecutive` of
its own moves in a row. Games drawn as resign-free play on, and show what the
threshold would have done: a *false resignation* is a resign-free game whose eventual
winner would have resigned. For each such game the winner's "worst window" (the
lowest, over every run of `consecutive` own moves, of the highest root value in the
run) is the threshold above which that winner would have resigned, so the threshold
that keeps the false-resignation rate at a target is a quantile of those values.

Movers alternate from black at ply 0, with or without the swap (docs/hex.md).
Pure numpy: runs in the stage's driver over finished chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Fewer resign-free games than this give no usable quantile: keep the threshold.
MIN_GAMES_TO_ADAPT = 10


def own_values(root_value: np.ndarray, player: int) -> np.ndarray:
    """float32 [K]: root values (mover's view) at the plies where `player` moved."""
    return np.asarray(root_value, np.float32)[player::2]


def worst_window(values: np.ndarray, consecutive: int) -> float:
    """min over runs of `consecutive` values of the run's max (+inf when the game is shorter).

    The player would have resigned exactly when the threshold exceeds this.
    """
    if len(values) < consecutive:
        return float("inf")
    windows = np.lib.stride_tricks.sliding_window_view(values, consecutive)
    return float(windows.max(axis=1).min())


def resign_ply(root_value: np.ndarray, player: int, threshold: float, consecutive: int) -> int | None:
    """The ply at which `player` would have resigned under `threshold` (None: never)."""
    below = own_values(root_value, player) < threshold
    run = 0
    for k, b in enumerate(below):
        run = run + 1 if b else 0
        if run >= consecutive:
            return player + 2 * k
    return None


@dataclass
class ResignCalibration:
    """What the resign-free (and resigned) games of a stage say about the threshold."""

    threshold: float
    consecutive: int
    winner_worst: list[float] = field(default_factory=list)
    remaining_plies: list[int] = field(default_factory=list)
    resigned_games: int = 0
    games: int = 0

    def add_game(self, root_value: np.ndarray, winner: int, resigned: bool, resign_free: bool) -> None:
        """Count one finished game; resign-free games feed the false-resignation estimate."""
        self.games += 1
        self.resigned_games += int(resigned)
        if not resign_free or root_value is None:
            return
        self.winner_worst.append(worst_window(own_values(root_value, winner), self.consecutive))
        loser_at = resign_ply(root_value, 1 - winner, self.threshold, self.consecutive)
        if loser_at is not None:
            self.remaining_plies.append(len(root_value) - loser_at)

    @property
    def resign_free_games(self) -> int:
        return len(self.winner_worst)

    def false_rate(self, threshold: float | None = None) -> float:
        """Share of resign-free games whose winner would have resigned at `threshold`."""
        if not self.winner_worst:
            return 0.0
        t = self.threshold if threshold is None else threshold
        return float(np.mean(np.asarray(self.winner_worst) < t))

    def adapted(self, target: float, low: float = -1.0, high: float = 0.0) -> float:
        """The highest threshold whose false-resignation rate is at most `target`, in [low, high].

        With fewer than MIN_GAMES_TO_ADAPT resign-free games, the current threshold.
        """
        if self.resign_free_games < MIN_GAMES_TO_ADAPT:
            return self.threshold
        worst = np.sort(np.asarray(self.winner_worst, np.float64))
        allowed = int(np.floor(target * len(worst)))  # winners that may fall below
        t = worst[allowed] if allowed < len(worst) else high
        return float(np.clip(t, low, high))

    def plies_saved(self) -> float:
        """Estimated plies saved: resigned games x the plies resign-free losers played on."""
        if not self.remaining_plies:
            return 0.0
        return float(self.resigned_games * np.mean(self.remaining_plies))
