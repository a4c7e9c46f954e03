"""Train section: optimisation and the training loop."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zeroloop.config.base import Section


class TrainConfig(Section):
    batch_size: int = Field(256, ge=1)
    steps: int = Field(1000, ge=1, description="Optimizer steps per generation.")
    optimizer: Literal["sgd", "adamw", "nadamw"] = "adamw"
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    grad_clip_norm: float | None = Field(1.0, gt=0)
    seed: int = 0
