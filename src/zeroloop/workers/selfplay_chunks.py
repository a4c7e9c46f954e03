"""A self-play directory's chunk files: what is there, what it holds, what to clean up.

The stage (`selfplay_stage.run_selfplay`) owns its directory while it runs; these
helpers read and tidy it: complete chunks by (worker, seq), their games, positions
and node, damaged chunks set aside, and the leftovers of killed workers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from zeroloop.data.chunks import ChunkError, read_chunk_provenance, read_game_chunk_checked
from zeroloop.data.quarantine import QUARANTINE_DIR, quarantine_file
from zeroloop.workers.selfplay_actor import chunk_stem

log = logging.getLogger(__name__)

_CHUNK_RE = re.compile(r"^chunk-(\d+)-(\d+)\.arrow$")


@dataclass
class ChunkStats:
    """What one chunk holds: games, positions, first-player wins, the node that played it."""

    games: int
    positions: int
    black_wins: int
    node: str = "unknown"


def chunk_stats(path: Path) -> ChunkStats:
    """Games, positions, black wins and node of a chunk, reading only the moves and winner columns."""
    with pa.memory_map(str(path), "r") as source:
        table = ipc.open_file(source).read_all().select(["moves", "winner"])
    lengths = pc.list_value_length(table["moves"]).to_numpy(zero_copy_only=False)
    winners = table["winner"].to_numpy(zero_copy_only=False)
    where = read_chunk_provenance(path)
    node = where.get("ray_node_id") or where.get("host") or "unknown"
    return ChunkStats(int(len(winners)), int(lengths.sum()), int((winners == 0).sum()), node)


def set_aside_damaged(chunks: dict[tuple[int, int], Path], out_dir: Path) -> dict[tuple[int, int], Path]:
    """The chunks whose content checks out; damaged ones (and their .trmph twins) go to
    `out_dir/quarantine/` with a reason, and their games are played again."""
    good = {}
    for key, path in chunks.items():
        try:
            read_game_chunk_checked(path)
        except ChunkError as exc:
            log.warning("self-play: setting aside %s", exc)
            quarantine_file(path, str(exc), out_dir / QUARANTINE_DIR, move=True)
            twin = path.with_suffix(".trmph")
            if twin.exists():
                quarantine_file(twin, f"twin of the damaged {path.name}", out_dir / QUARANTINE_DIR, move=True)
            continue
        good[key] = path
    return good


def scan_chunks(out_dir: Path) -> dict[tuple[int, int], Path]:
    """Complete chunks in `out_dir`: {(worker, seq): path}."""
    found = {}
    for p in out_dir.glob("chunk-*.arrow"):
        m = _CHUNK_RE.match(p.name)
        if m:
            found[(int(m.group(1)), int(m.group(2)))] = p
    return found


def clean_leftovers(out_dir: Path) -> int:
    """Remove temporaries and orphan .trmph files a killed worker left; returns how many.

    Only call this while no worker writes into `out_dir` (the stage owns it while running).
    """
    removed = 0
    for p in out_dir.glob(".chunk-*.tmp"):
        p.unlink(missing_ok=True)
        removed += 1
    for p in out_dir.glob("chunk-*.trmph"):
        if not p.with_suffix(".arrow").exists():
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def remove_batch_leftovers(out_dir: Path, worker: int, seq: int) -> None:
    """Temporaries of one batch whose actor died (its node may be gone), and its orphan .trmph."""
    stem = chunk_stem(worker, seq)
    for p in out_dir.glob(f".{stem}.*.tmp"):
        p.unlink(missing_ok=True)
    if not (out_dir / f"{stem}.arrow").exists():
        (out_dir / f"{stem}.trmph").unlink(missing_ok=True)
