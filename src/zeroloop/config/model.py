"""Model section: the policy/value network shared by self-play and the trainer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zeroloop.config.base import Section


class ModelConfig(Section):
    """Residual tower; one config serves any board size (the net is fully convolutional)."""

    blocks: int = Field(4, ge=0, le=64, description="Residual blocks in the tower.")
    channels: int = Field(32, ge=4, le=1024, description="Channels in every block.")
    value_head: Literal["tanh", "wdl"] = Field(
        "tanh", description="'tanh': scalar in [-1, 1]; 'wdl': win/loss logits."
    )
    value_hidden: int = Field(64, ge=1, description="Hidden units of the value head.")
