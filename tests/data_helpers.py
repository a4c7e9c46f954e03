"""Shared helpers of the data-stage tests: small configs, game files, shard contents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from zeroloop.config import ZeroloopConfig, load_config
from zeroloop.data.chunks import GameRecord, write_game_chunk
from zeroloop.data.shards import fixed_column, read_shard
from zeroloop.data.sources import expand_shards
from zeroloop.games.trmph_file import write_trmph_file


def small_config(*sets: str, board_size: int = 5, swap: bool = True) -> ZeroloopConfig:
    base = [
        f"game.board_size={board_size}",
        f"game.swap={str(swap).lower()}",
        "data.max_workers=1",
        "shuffle.max_workers=1",
        "data.augmentation=none",
        "data.chunk_size=40",
    ]
    return load_config(None, base + list(sets))


def write_chunk(path: Path, games: list[GameRecord]) -> Path:
    return write_game_chunk(path, games)


def write_trmph(path: Path, games: list[GameRecord], extra_lines: str = "") -> Path:
    write_trmph_file(path, games)
    if extra_lines:
        with open(path, "a") as f:
            f.write(extra_lines)
    return path


def load_rows(paths: list[Path] | list[str] | Path) -> pa.Table:
    """Every row of the shards under `paths`, concatenated in path order."""
    shards = expand_shards(paths if isinstance(paths, list) else [paths])
    return pa.concat_tables([read_shard(p) for p in shards])


def row_keys(table: pa.Table, board_size: int) -> list[tuple]:
    """A hashable key per row covering every column (to compare multisets of rows)."""
    c = board_size * board_size
    board = fixed_column(table, "board", c, np.int8)
    policy = fixed_column(table, "policy", c + 1, np.float32)
    final = fixed_column(table, "final_board", c, np.int8)
    cols = [table.column(k).to_pylist() for k in ("game_id", "ply", "value", "swap_legal", "game_length")]
    q = np.nan_to_num(table.column("q").to_numpy(zero_copy_only=False), nan=9.0)
    return [
        (*(col[i] for col in cols), float(q[i]), board[i].tobytes(), policy[i].tobytes(), final[i].tobytes())
        for i in range(table.num_rows)
    ]
