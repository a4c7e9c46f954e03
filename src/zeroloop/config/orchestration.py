"""Orchestration section: Ray, Prefect and the run directory."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section


class RetentionConfig(Section):
    """What the loop keeps of finished generations (applied after each one, when
    `data.cleanup` is on; `data.cleanup: false` keeps everything).

    Each key is K = how many of the newest finished generations keep that output;
    None = keep all. Models, position shards and the Elo ladder are always kept: the
    best-model pointer, the training window and a rerun's plan refer to them.
    """

    shuffled: int | None = Field(
        2, ge=0, description="Shuffled training windows (shuffled/gen-N) kept; None = all."
    )
    checkpoints: int | None = Field(
        2, ge=0, description="Trainer checkpoint directories (checkpoints/gen-N) kept; None = all."
    )
    intermediate: int | None = Field(
        0,
        ge=0,
        description="Intermediate files (_intermediate/ of finished preprocess and shuffle stages) "
        "kept; None = all.",
    )
    selfplay: int | None = Field(
        None,
        ge=0,
        description="Self-play game chunk directories (selfplay/gen-N) kept once preprocessed; "
        "None = all (the default: games are the run's raw data).",
    )


class OrchestrationConfig(Section):
    generations: int = Field(2, ge=1, description="Generations the loop runs.")
    ray_address: str | None = Field(
        None,
        description=(
            "Ray cluster to join: host:port of the head, 'auto' (the cluster `ray start` made on this "
            "machine) or 'local' (always a private local Ray); None = RAY_ADDRESS, else a cluster "
            "running on this machine, else a local Ray."
        ),
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs for local Ray; None = all.")
    selfplay: bool = Field(True, description="False = supervised training from TRMPH files.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="What is kept of finished generations."
    )
