"""Data section: preprocessing, bucket shuffle and the RL window."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zeroloop.config.base import Section


class DataConfig(Section):
    position_selector: Literal["all", "final", "penultimate"] = "all"
    augmentation: Literal["none", "random", "all"] = "all"
    chunk_size: int = Field(10_000, ge=1, description="Games per preprocessed chunk.")
    max_workers: int = Field(2, ge=1, description="Parallel preprocessing workers.")
    test_fraction: float = Field(0.05, ge=0, lt=1, description="Held-out share, by game id.")
    dedupe_symmetric: bool = Field(False, description="Also drop games equal under a symmetry.")
    q_ratio: float = Field(0.0, ge=0, le=1, description="Value target = q_ratio*q + (1-q_ratio)*z.")
    trmph_dirs: list[str] = Field(default_factory=list, description="External TRMPH sources.")


class ShuffleConfig(Section):
    num_buckets: int = Field(16, ge=1, description="Buckets of the external shuffle.")
    shard_size: int = Field(65_536, ge=1, description="Positions per output shard.")
    seed: int = 0
