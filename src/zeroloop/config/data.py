"""Data section: preprocessing, bucket shuffle, the RL window, mixing and the loader.

Each data stage has its own sub-section (as in lczero-training's loader), so a preset
says e.g. `data.window.mode: taper` or `data.loader.prefetch_batches: 8`. The stages
themselves live in `zeroloop.data`; docs/data.md explains every option.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zeroloop.config.base import Section

Compression = Literal["lz4", "zstd", "none"]


class DiffFocusConfig(Section):
    """lc0's diff-focus sampling (tf/chunkparser.py): keep surprising positions more often.

    keep probability = diff_focus_min + diff_focus_slope * total, where
    total = (q_weight * |q - z| + pol_kld) / (q_weight + pol_scale); a position with no
    search value (q is NaN) or no search policy (pol_kld = 0) is always kept.
    """

    enabled: bool = Field(False, description="Drop positions by value/policy disagreement (lc0 diff focus).")
    min: float = Field(1.0, ge=0, description="Keep probability of a position with no disagreement.")
    slope: float = Field(0.0, ge=0, description="How fast the keep probability grows with disagreement.")
    q_weight: float = Field(6.0, ge=0, description="Weight of |q - z| in the disagreement.")
    pol_scale: float = Field(3.5, gt=0, description="Normaliser of the policy term in the disagreement.")


class WindowConfig(Section):
    """Which recent data a generation trains on (RL) or the whole pool (SL)."""

    mode: Literal["all", "chunks", "positions", "taper"] = Field(
        "taper",
        description="'all': every chunk (SL, pool larger than all data); 'chunks': the newest "
        "`chunks` chunks; 'positions': the newest chunks holding `positions` positions; 'taper': "
        "KataGo's power law that grows with the total data (min_rows, expand_per_row, exponent).",
    )
    chunks: int = Field(20, ge=1, description="Window size in chunks (mode 'chunks').")
    positions: int = Field(1_000_000, ge=1, description="Window size in positions (mode 'positions').")
    min_rows: int = Field(250_000, ge=1, description="Taper: window size before data grows past it.")
    max_rows: int = Field(20_000_000, ge=1, description="Taper: the window never grows beyond this.")
    expand_per_row: float = Field(
        0.4, ge=0, description="Taper: initial window growth per new position beyond min_rows."
    )
    taper_exponent: float = Field(
        0.65, gt=0, le=1, description="Taper: the window grows as total_rows ** exponent."
    )
    chunks_per_network: int = Field(
        1,
        ge=0,
        description="New chunks needed before the next training (RL); 0 = train again at once (SL).",
    )
    max_reuse: float | None = Field(
        None,
        gt=0,
        description="Cap on training samples per generation as a multiple of the window's positions "
        "(each position is used at most about this many times); None = no cap.",
    )
    samples_per_new_position: float | None = Field(
        None,
        gt=0,
        description="Tie training to new data (KataGo trains about 4 samples per new row): steps per "
        "generation = this x the positions that are new since the last trained model / train.batch_size, "
        "at most train.steps and at least 1; None = always train.steps.",
    )


class MixConfig(Section):
    """Mix new data with existing data directories (seed 002's data mixing)."""

    existing_dirs: list[str] = Field(
        default_factory=list,
        description="Existing shuffled data directories mixed into training (--existing-shuffled-data-dir).",
    )
    skip_files: list[int] = Field(
        default_factory=list,
        description="Files to skip at the start of each data directory, new data first (--skip-files).",
    )
    weights: list[float] = Field(
        default_factory=list,
        description="Share of each batch drawn from each directory, new data first; empty = by size.",
    )


class LoaderConfig(Section):
    """How shards become training batches (zeroloop.data.loader)."""

    shuffle_buffer: int = Field(
        65_536, ge=1, description="Rows permuted together before batching (also the read block)."
    )
    prefetch_batches: int = Field(4, ge=0, description="Batches prepared ahead in a background thread.")
    epochs: int | None = Field(
        None, ge=1, description="Stop after this many passes over the data; None = loop forever."
    )
    seed: int = Field(0, description="Seed of the block permutations; resume needs the same seed.")


class RescoreConfig(Section):
    """Relabel endgame positions with the exact solver (seed 001's chunk_rescorer)."""

    enabled: bool = Field(False, description="Relabel value targets of near-final positions exactly.")
    max_empty: int = Field(8, ge=0, description="Only positions with at most this many empty cells.")
    nodes: int = Field(20_000, ge=1, description="Solver node budget per position; unknown = unchanged.")
    policy: bool = Field(
        False, description="Also move the policy target onto the winning moves when the mover wins."
    )


class DataConfig(Section):
    position_selector: Literal["all", "final", "penultimate"] = Field(
        "all",
        description="Positions taken from each game: every position, only the last position "
        "before the winning move, or the one before it.",
    )
    augmentation: Literal["none", "random", "all"] = Field(
        "all",
        description="180-degree rotation in the mover's frame: 'none', 'random' (each position "
        "rotated with probability 1/2) or 'all' (both orientations, doubles the positions).",
    )
    chunk_size: int = Field(10_000, ge=1, description="Games per preprocessed chunk.")
    max_workers: int = Field(2, ge=1, description="Parallel preprocessing workers.")
    test_fraction: float = Field(0.05, ge=0, lt=1, description="Held-out share, by game id.")
    dedupe_symmetric: bool = Field(False, description="Also drop games equal under a symmetry.")
    q_ratio: float = Field(0.0, ge=0, le=1, description="Value target = q_ratio*q + (1-q_ratio)*z.")
    trmph_dirs: list[str] = Field(default_factory=list, description="External TRMPH sources.")
    seed: int = Field(0, description="Seed of random augmentation and diff-focus sampling.")
    compression: Compression = Field(
        "lz4", description="Compression of position shards (Arrow IPC buffers): lz4, zstd or none."
    )
    cleanup: bool = Field(True, description="Remove intermediate files after a stage succeeds.")
    quarantine_dir: str | None = Field(
        None,
        description="Where damaged input files are set aside (a reason note; the file itself only "
        "when the pipeline wrote it); None = OUT/quarantine of the stage.",
    )
    diff_focus: DiffFocusConfig = Field(
        default_factory=DiffFocusConfig, description="Diff-focus sampling (lc0)."
    )
    window: WindowConfig = Field(default_factory=WindowConfig, description="The RL training window.")
    rescore: RescoreConfig = Field(default_factory=RescoreConfig, description="Exact endgame relabelling.")
    mix: MixConfig = Field(default_factory=MixConfig, description="Mixing with existing data.")
    loader: LoaderConfig = Field(default_factory=LoaderConfig, description="The training data loader.")


class ShuffleConfig(Section):
    num_buckets: int = Field(
        16,
        ge=1,
        le=1024,
        description="Buckets of the external shuffle; memory needed is about one bucket per worker "
        "(each scatter worker keeps one temporary file per bucket open).",
    )
    shard_size: int = Field(65_536, ge=1, description="Positions per output shard.")
    seed: int = Field(0, description="Seed of the bucket assignment and in-bucket permutations.")
    max_workers: int = Field(2, ge=1, description="Parallel scatter/shuffle workers.")
    temp_compression: Compression = Field(
        "none",
        description="Compression of the temporary bucket files: 'none' saves ~40% CPU, 'lz4' "
        "~5x temporary disk (see the dry run).",
    )
