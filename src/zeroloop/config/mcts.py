"""MCTS section: how a move is searched (mctx)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from zeroloop.config.base import Section

# (progress, value) pairs: the value holds from that fraction of the expected game length on.
Schedule = list[tuple[float, float]]


def _check_schedule(name: str, schedule: Schedule) -> None:
    if not schedule:
        raise ValueError(f"{name}: schedule must have at least one (progress, value) pair")
    starts = [p for p, _ in schedule]
    if starts[0] != 0.0:
        raise ValueError(f"{name}: first pair must start at progress 0.0, got {starts[0]}")
    if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise ValueError(f"{name}: progress values must strictly increase, got {starts}")


class MctsConfig(Section):
    """PUCT (AlphaZero) or Gumbel MuZero search settings."""

    mode: Literal["puct", "gumbel"] = Field("puct", description="Search algorithm.")
    num_simulations: int = Field(32, ge=1, le=100_000)
    c_puct: float = Field(3.0, gt=0, description="PUCT exploration constant (seed default 3.0).")
    dirichlet_alpha: float = Field(0.3, gt=0, description="Root Dirichlet noise alpha.")
    noise_weight: Schedule = Field(
        default_factory=lambda: [(0.0, 0.25), (0.5, 0.1), (0.8, 0.0)],
        description="Root noise weight by game progress: [(progress, weight), ...].",
    )
    unvisited_value: float = Field(
        0.0, ge=-1, le=1, description="Value assumed for children never visited (mover's view)."
    )
    temperature: Schedule = Field(
        default_factory=lambda: [(0.0, 1.0), (0.2, 0.8), (0.4, 0.5), (0.6, 0.2), (0.8, 0.1)],
        description="Move-sampling temperature by game progress (seed default).",
    )
    expected_game_length: float | None = Field(
        None,
        gt=0,
        description="Plies that count as progress 1.0; default: half the cells of the board.",
    )
    gumbel_scale: float = Field(1.0, ge=0)
    max_num_considered_actions: int = Field(16, ge=1)
    playout_cap_fraction: float = Field(
        0.0, ge=0, le=1, description="Share of moves that get a cheap search (0 = off)."
    )
    cheap_simulations: int = Field(8, ge=1, description="Simulations for a cheap search.")

    @model_validator(mode="after")
    def _schedules_are_ordered(self) -> MctsConfig:
        _check_schedule("mcts.noise_weight", self.noise_weight)
        _check_schedule("mcts.temperature", self.temperature)
        return self
