"""Self-play section: how many games, by whom, on what."""

from __future__ import annotations

from pydantic import Field

from zeroloop.config.base import Section


class SelfplayConfig(Section):
    """The self-play stage: Ray actors, each playing `batch_size` games at a time."""

    num_games: int = Field(256, ge=1, description="Games per generation (games already on disk count).")
    num_workers: int = Field(2, ge=1, description="Ray self-play actors.")
    batch_size: int = Field(
        64, ge=1, description="Game slots each worker plays at once; also the games per chunk."
    )
    continuous: bool = Field(
        True,
        description="A finished game's slot starts a new game at once (no search spent on finished "
        "games); false = the batch plays in lock-step until its longest game ends.",
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves for each self-play actor.")
    gpus_per_worker: float = Field(
        0.0, ge=0, description="GPU share Ray reserves for each actor (e.g. 0.5 = two actors per GPU)."
    )
    gpu_memory_fraction: float | None = Field(
        None,
        gt=0,
        le=1,
        description="With a fractional gpus_per_worker: the share of GPU memory each actor may use "
        "(XLA_PYTHON_CLIENT_MEM_FRACTION, preallocation off); null = 0.9 x gpus_per_worker.",
    )
    seed: int = Field(0, description="Base seed; each batch derives its own from (seed, worker, sequence).")
    resign_threshold: float | None = Field(
        None,
        ge=-1,
        le=0,
        description="Resignation (continuous self-play): a player resigns when its root value stays "
        "below this for resign_consecutive own moves; the starting value when resign_adapt; null = off.",
    )
    resign_consecutive: int = Field(3, ge=1, description="Own moves in a row below the threshold to resign.")
    resign_free_share: float = Field(
        0.1, ge=0, le=1, description="Share of games that never resign; they measure false resignations."
    )
    resign_false_target: float = Field(
        0.05,
        ge=0,
        le=1,
        description="resign_adapt keeps the false-resignation rate (resign-free games whose winner "
        "would have resigned) at or below this.",
    )
    resign_adapt: bool = Field(
        True, description="Adapt the threshold after each chunk from the resign-free games (minigo)."
    )
    compilation_cache_dir: str | None = Field(
        "auto",
        description="Persistent XLA compilation cache shared by the actors, so a new or restarted "
        "actor loads the compiled search instead of compiling it again: 'auto' = "
        "$XDG_CACHE_HOME/zeroloop/jax (~/.cache/zeroloop/jax), a path, or null = off.",
    )
    keep_workers: bool = Field(
        True,
        description="Keep the Ray actors (and their compiled search) alive after the stage, for the "
        "next generation in the same process; they load the new model without recompiling.",
    )
    max_worker_restarts: int = Field(
        8, ge=0, description="Dead actors the stage replaces before giving up (per stage call)."
    )
