"""Game chunks: one Arrow IPC file per self-play batch, with a .trmph file beside it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from zeroloop.data.atomic import atomic_path
from zeroloop.data.schemas import GAME_CHUNK_FORMAT, GAME_CHUNK_SCHEMA, game_id

CHUNK_SUFFIX = ".arrow"
# Columns added after the first chunk format; older chunks read them as nulls.
OPTIONAL_COLUMNS = ("resigned", "resign_free")


class ChunkError(ValueError):
    """A game chunk is unreadable or does not follow the schema."""


@dataclass
class GameRecord:
    """One finished game.

    moves:        int [T] actions in the board frame (N*N = swap).
    winner:       0 (black) or 1 (white).
    policy:       float32 [T, N*N+1] search visit distribution per move (board frame), or None.
    policy_valid: bool [T] whether each policy is a training target (playout cap), or None.
    root_value:   float32 [T] search root value from the mover's view, or None.
    resigned:     the loser resigned after move T (the last position is not a connection).
    resign_free:  the game could not resign (it measures false resignations), or None
                  where resignation was off.
    """

    board_size: int
    moves: np.ndarray
    winner: int
    swap: bool = False
    policy: np.ndarray | None = None
    policy_valid: np.ndarray | None = None
    root_value: np.ndarray | None = None
    model_id: str | None = None
    seed: int | None = None
    search: str | None = None
    resigned: bool | None = None
    resign_free: bool | None = None

    @property
    def game_id(self) -> str:
        return game_id(self.board_size, self.moves)


def games_to_table(games: Sequence[GameRecord]) -> pa.Table:
    def per_move(name: str) -> list:
        return [None if getattr(g, name) is None else np.asarray(getattr(g, name)).tolist() for g in games]

    columns = {
        "game_id": [g.game_id for g in games],
        "board_size": [g.board_size for g in games],
        "swap": [g.swap for g in games],
        "moves": [np.asarray(g.moves, dtype=np.int16).tolist() for g in games],
        "winner": [g.winner for g in games],
        "policy": per_move("policy"),
        "policy_valid": per_move("policy_valid"),
        "root_value": per_move("root_value"),
        "model_id": [g.model_id for g in games],
        "seed": [g.seed for g in games],
        "search": [g.search for g in games],
        "resigned": [g.resigned for g in games],
        "resign_free": [g.resign_free for g in games],
    }
    return pa.table(columns, schema=GAME_CHUNK_SCHEMA)


def table_to_games(table: pa.Table) -> list[GameRecord]:
    rows = table.to_pylist()
    games = []
    for r in rows:
        policy = r["policy"]
        games.append(
            GameRecord(
                board_size=r["board_size"],
                moves=np.asarray(r["moves"], dtype=np.int16),
                winner=r["winner"],
                swap=r["swap"],
                policy=None if policy is None else np.asarray(policy, dtype=np.float32),
                policy_valid=None if r["policy_valid"] is None else np.asarray(r["policy_valid"], dtype=bool),
                root_value=None if r["root_value"] is None else np.asarray(r["root_value"], dtype=np.float32),
                model_id=r["model_id"],
                seed=r["seed"],
                search=r["search"],
                resigned=r.get("resigned"),
                resign_free=r.get("resign_free"),
            )
        )
    return games


def write_game_chunk(path: str | os.PathLike[str], games: Sequence[GameRecord]) -> Path:
    """Write `games` as one Arrow IPC file, atomically."""
    table = games_to_table(games)
    with atomic_path(path) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, GAME_CHUNK_SCHEMA) as writer:
            writer.write_table(table)
    return Path(path)


def read_game_chunk_table(path: str | os.PathLike[str]) -> pa.Table:
    """Read and check a chunk; raises ChunkError naming the file and the problem."""
    try:
        with pa.memory_map(str(path), "r") as source:
            table = ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChunkError(f"{path}: unreadable game chunk: {exc}") from None
    fmt = (table.schema.metadata or {}).get(b"format", b"").decode()
    if fmt != GAME_CHUNK_FORMAT:
        raise ChunkError(f"{path}: not a game chunk (format {fmt!r}, expected {GAME_CHUNK_FORMAT!r})")
    return with_current_columns(table, path)


def with_current_columns(table: pa.Table, path: str | os.PathLike[str]) -> pa.Table:
    """`table` in the current chunk layout: columns added since it was written become nulls.

    Raises ChunkError when a column is missing that was always there, or a type differs.
    """
    for field in GAME_CHUNK_SCHEMA:
        if field.name not in table.schema.names:
            if field.name not in OPTIONAL_COLUMNS:
                raise ChunkError(f"{path}: game chunk lacks column {field.name!r}")
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    table = table.select(GAME_CHUNK_SCHEMA.names)
    if not table.schema.equals(GAME_CHUNK_SCHEMA, check_metadata=False):
        raise ChunkError(f"{path}: game chunk schema differs from {GAME_CHUNK_FORMAT}")
    return table


def read_game_chunk(path: str | os.PathLike[str]) -> list[GameRecord]:
    return table_to_games(read_game_chunk_table(path))
