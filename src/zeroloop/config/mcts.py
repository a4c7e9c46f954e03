"""MCTS section: how a move is searched (mctx). See docs/selfplay.md for the options."""

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

    mode: Literal["puct", "gumbel"] = Field(
        "puct",
        description="Search algorithm: 'puct' (AlphaZero, mctx.muzero_policy) or 'gumbel' "
        "(mctx.gumbel_muzero_policy, better with few simulations).",
    )
    num_simulations: int = Field(32, ge=1, le=100_000, description="Simulations per move (full search).")
    c_puct: float = Field(
        3.0,
        gt=0,
        description="PUCT exploration constant (seed default 3.0); passed to mctx as pb_c_init.",
    )
    c_puct_base: float | None = Field(
        None,
        gt=0,
        description="MuZero's c_2 (mctx pb_c_base): c grows as c_puct + log((N + base + 1) / base). "
        "None = constant c_puct, as in AlphaZero.",
    )
    q_transform: Literal["alphazero", "minmax"] = Field(
        "alphazero",
        description="How PUCT sees Q: 'alphazero' = raw Q in [-1, 1] with unvisited children at "
        "unvisited_value (c_puct keeps AlphaZero's meaning); 'minmax' = mctx's "
        "qtransform_by_parent_and_siblings (Q min-max normalised to [0, 1], unvisited at the minimum; "
        "unvisited_value is ignored).",
    )
    dirichlet_alpha: float = Field(
        0.3, gt=0, description="Root Dirichlet noise alpha (over legal moves); see dirichlet_total."
    )
    dirichlet_total: float | None = Field(
        None,
        gt=0,
        description="Total Dirichlet concentration: when set, each root's alpha is dirichlet_total / "
        "its number of legal moves (KataGo: 0.03 x 361 = 10.83), so the noise is as spread on a "
        "nearly full board as on an empty one; dirichlet_alpha is then ignored. None = fixed alpha. "
        "PUCT only: an error with mode 'gumbel'.",
    )
    noise_weight: Schedule = Field(
        default_factory=lambda: [(0.0, 0.25), (0.5, 0.1), (0.8, 0.0)],
        description="Root noise weight by game progress: [(progress, weight), ...]; PUCT only.",
    )
    unvisited_value: float = Field(
        0.0,
        ge=-1,
        le=1,
        description="Value assumed for children never visited, from the view of the player choosing "
        "('alphazero' q_transform). With unvisited_mode 'parent' or 'reduction' it is an offset to the "
        "parent's value (negative: a first-play reduction).",
    )
    unvisited_mode: Literal["absolute", "parent", "reduction"] = Field(
        "absolute",
        description="'absolute': unvisited children are worth unvisited_value; 'parent': the parent's "
        "current value plus unvisited_value (first-play urgency relative to the parent, e.g. -0.2); "
        "'reduction': the parent's value plus unvisited_value x sqrt(prior mass of the children "
        "already visited) (KataGo's and lc0's FPU reduction, e.g. -0.2). PUCT only: 'parent' or "
        "'reduction' is an error with mode 'gumbel', whose completed Q fills unvisited children.",
    )
    forced_playouts: float | None = Field(
        None,
        gt=0,
        description="KataGo's forced playouts with policy-target pruning: k in n_forced = "
        "sqrt(k * P * N) (KataGo: 2). Root children visited but below n_forced are searched first; the "
        "policy (target and move choice) drops the forced visits that did not make the child look "
        "better. PUCT only (an error with mode 'gumbel'), and only where root noise is on (self-play's "
        "full searches). None = off.",
    )
    temperature: Schedule = Field(
        default_factory=lambda: [(0.0, 1.0), (0.2, 0.8), (0.4, 0.5), (0.6, 0.2), (0.8, 0.1)],
        description="Move-sampling temperature by game progress (seed default); 0 = most visited. "
        "PUCT only: Gumbel plays the action its sequential halving picks.",
    )
    expected_game_length: float | None = Field(
        None,
        gt=0,
        description="Plies that count as progress 1.0; default: half the cells of the board.",
    )
    gumbel_scale: float = Field(
        1.0, ge=0, description="Gumbel mode: scale of the root Gumbel noise (0 = deterministic)."
    )
    max_num_considered_actions: int = Field(
        16, ge=1, description="Gumbel mode: actions sampled at the root for sequential halving."
    )
    playout_cap_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Playout-cap randomisation (KataGo): share of moves that get a cheap search "
        "(cheap_simulations, no root noise) and are not policy targets; 0 = off.",
    )
    cheap_simulations: int = Field(8, ge=1, description="Simulations for a cheap search.")
    random_opening_plies: int = Field(
        0,
        ge=0,
        description="Self-play opening diversity: the first K plies of every game are uniformly "
        "random legal moves (searched for their value, but no policy target); 0 = off.",
    )

    @model_validator(mode="after")
    def _schedules_are_ordered(self) -> MctsConfig:
        _check_schedule("mcts.noise_weight", self.noise_weight)
        _check_schedule("mcts.temperature", self.temperature)
        if any(v < 0 or v > 1 for _, v in self.noise_weight):
            raise ValueError("mcts.noise_weight: weights must lie in [0, 1]")
        if any(v < 0 for _, v in self.temperature):
            raise ValueError("mcts.temperature: temperatures must be >= 0")
        if self.mode == "gumbel":
            # mctx's Gumbel search has no Dirichlet noise, forced playouts or first-play value
            # (completed Q fills unvisited children), so these would be silently ignored.
            puct_only = {
                "mcts.forced_playouts": self.forced_playouts is not None,
                "mcts.dirichlet_total": self.dirichlet_total is not None,
                "mcts.unvisited_mode": self.unvisited_mode != "absolute",
            }
            named = [key for key, is_set in puct_only.items() if is_set]
            if named:
                raise ValueError(
                    f"{', '.join(named)}: PUCT search only, but mcts.mode is 'gumbel'; "
                    "set mcts.mode=puct or leave them at their defaults"
                )
        return self
