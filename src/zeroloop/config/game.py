"""Game section: which Hex is played."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section


class GameConfig(Section):
    """The board and rules every stage agrees on."""

    board_size: int = Field(7, ge=2, le=19, description="Board is N x N, N in 2..19.")
    swap: bool = Field(False, description="Pie rule: second player may swap at move 2.")

    @property
    def num_cells(self) -> int:
        return self.board_size * self.board_size

    @property
    def num_actions(self) -> int:
        """N*N cells plus the swap action (always present so shapes do not depend on rules)."""
        return self.num_cells + 1
