"""Bookkeeping records shared by the data stages: bad records and stage summaries.

Nothing is dropped silently: every skipped game says where it was (`path:line` for
TRMPH, `path#row` for a chunk row) and why, and every stage returns a summary that is
written as JSON beside its outputs and printed as a table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BadRecord:
    """A skipped game: `where` is `path:line` (TRMPH) or `path#row` (chunk row, 0-based)."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


# Summaries keep at most this many bad records in full; the count is always exact.
MAX_LISTED_BAD_RECORDS = 1000


@dataclass
class StageSummary:
    """Base of the stage summaries: `to_dict()` is JSON-able and small."""

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in list(out.items()):
            if isinstance(value, list) and len(value) > MAX_LISTED_BAD_RECORDS:
                out[key] = value[:MAX_LISTED_BAD_RECORDS]
                out[f"{key}_truncated"] = len(value) - MAX_LISTED_BAD_RECORDS
        return out

    def table_rows(self) -> list[tuple[str, str]]:
        """(name, value) rows for the printed table: scalars only, lists as counts."""
        rows = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                rows.append((f.name, str(len(value))))
            elif isinstance(value, float):
                rows.append((f.name, f"{value:,.3f}"))
            elif isinstance(value, int) and not isinstance(value, bool):
                rows.append((f.name, f"{value:,}"))
            elif isinstance(value, dict):
                continue
            else:
                rows.append((f.name, str(value)))
        return rows


@dataclass
class PreprocessSummary(StageSummary):
    """What `run_preprocess` read, kept and wrote.

    games_in counts every record read from readable sources, bad ones included, so
    games_out = games_in - bad_games - duplicates. `bad_records` lists `where: why`.
    quarantined: damaged files set aside; skipped: files not for this stage, left
    alone; twins_read: damaged chunks whose games came from their `.trmph` twin;
    unverified_files: chunks written before checksums existed. rescored_values: value
    targets the solver relabelled (data.rescore).
    """

    out_dir: str = ""
    sources: int = 0
    chunk_files: int = 0
    trmph_files: int = 0
    skipped_companion_trmph: int = 0
    twins_read: int = 0
    unverified_files: int = 0
    games_in: int = 0
    bad_games: int = 0
    duplicates: int = 0
    games_out: int = 0
    train_games: int = 0
    test_games: int = 0
    chunks: int = 0
    positions_train: int = 0
    positions_test: int = 0
    positions_dropped_diff_focus: int = 0
    rescored_values: int = 0
    seconds: float = 0.0
    positions_per_second: float = 0.0
    resumed_chunks: int = 0
    bad_records: list[str] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    train_shards: list[str] = field(default_factory=list)
    test_shards: list[str] = field(default_factory=list)

    @property
    def positions(self) -> int:
        return self.positions_train + self.positions_test


@dataclass
class ShuffleSummary(StageSummary):
    """What `run_shuffle` read and wrote; `resumed` says whether it went on from a manifest.

    skipped_inputs = len(quarantined) (damaged, set aside) + len(skipped) (not for this
    stage: another format or board size; left alone). unverified_inputs: shards written
    before checksums existed (read with structure checks only). rebuilt_temporaries:
    damaged temporary bucket files of pass 1 that were rebuilt from their input.
    """

    out_dir: str = ""
    inputs: int = 0
    positions_in: int = 0
    positions_out: int = 0
    buckets: int = 0
    shards: int = 0
    seconds: float = 0.0
    positions_per_second: float = 0.0
    peak_bucket_rows: int = 0
    resumed: bool = False
    skipped_inputs: int = 0
    unverified_inputs: int = 0
    quarantined: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    shard_paths: list[str] = field(default_factory=list)
    rebuilt_temporaries: list[str] = field(default_factory=list)
