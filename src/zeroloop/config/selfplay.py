"""Self-play section: how many games, by whom, on what."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section


class SelfplayConfig(Section):
    num_games: int = Field(256, ge=1, description="Games per generation.")
    num_workers: int = Field(2, ge=1, description="Ray self-play actors.")
    batch_size: int = Field(64, ge=1, description="Games played in lock-step per worker batch.")
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    seed: int = Field(0, description="Base seed; worker w of generation g derives its own.")
