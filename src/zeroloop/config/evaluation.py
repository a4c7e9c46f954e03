"""Eval section: arena, gating and reference opponents."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section


class EvalConfig(Section):
    num_games: int = Field(64, ge=0, description="Arena games per evaluation (0 = skip).")
    num_simulations: int = Field(32, ge=1, description="Search budget of both sides.")
    gating: bool = Field(False, description="Promote only when the win rate reaches threshold.")
    gating_threshold: float = Field(0.55, gt=0, lt=1)
