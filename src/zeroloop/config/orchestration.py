"""Orchestration section: Ray, Prefect and the run directory."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section


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
