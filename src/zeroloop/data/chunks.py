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
from zeroloop.data.checksum import (
    ChecksumError,
    is_checksummed,
    read_all_checked,
    sniff_format,
    write_table_checked,
)
from zeroloop.data.schemas import GAME_CHUNK_FORMAT, GAME_CHUNK_SCHEMA, game_id

CHUNK_SUFFIX = ".arrow"
# Columns added after the first chunk format; older chunks read them as nulls.
OPTIONAL_COLUMNS = ("resigned", "resign_free")


class ChunkError(ValueError):
    """A game chunk is unreadable or does not follow the schema."""


class ChunkCorrupt(ChunkError):
    """A game chunk is damaged: unreadable structure, undecodable body, checksum mismatch."""


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


def write_chunk_table(
    path: str | os.PathLike[str], table: pa.Table, provenance: dict[str, str] | None = None
) -> Path:
    """Write a table in the game chunk schema as one checksummed Arrow IPC file, atomically.

    provenance: who played the chunk (e.g. Ray node id, worker), kept in the file's schema
    metadata under `provenance.<key>` (read back with `read_chunk_provenance`).
    """
    schema = table.schema
    if provenance:
        extra = {f"provenance.{k}".encode(): str(v).encode() for k, v in provenance.items()}
        schema = schema.with_metadata((schema.metadata or {}) | extra)
        table = table.replace_schema_metadata(schema.metadata)
    with atomic_path(path) as tmp:
        write_table_checked(str(tmp), table, schema)
    return Path(path)


def write_game_chunk(
    path: str | os.PathLike[str], games: Sequence[GameRecord], provenance: dict[str, str] | None = None
) -> Path:
    """Write `games` as one Arrow IPC file, atomically, each batch with its checksum."""
    return write_chunk_table(path, games_to_table(games), provenance)


def read_game_chunk_table(path: str | os.PathLike[str]) -> pa.Table:
    """Read and check a chunk; see `read_game_chunk_checked`."""
    return read_game_chunk_checked(path)[0]


def read_game_chunk_checked(path: str | os.PathLike[str]) -> tuple[pa.Table, bool]:
    """Read and check a chunk: structure, schema and (unless legacy) content checksums.

    Returns (table, whether its content was verified: False for a chunk written before
    checksums existed, read with structure checks only). Raises ChunkError naming the
    file and the problem: `ChunkCorrupt` when the file is damaged, plain ChunkError when
    it is sound but not a game chunk (Parquet, another Arrow file).
    """
    kind = sniff_format(str(path))
    if kind != "arrow":
        # Parquet or an Arrow stream is another kind of file (skipped); anything else
        # with our suffix is taken for a damaged one (set aside).
        cls = ChunkCorrupt if kind == "unknown" else ChunkError
        raise cls(f"{path}: not a game chunk (file looks like {kind}, expected Arrow IPC)")
    try:
        with pa.memory_map(str(path), "r") as source:
            reader = ipc.open_file(source)
            fmt = (reader.schema.metadata or {}).get(b"format", b"").decode(errors="replace")
            if fmt != GAME_CHUNK_FORMAT:
                raise ChunkError(f"{path}: not a game chunk (format {fmt!r}, expected {GAME_CHUNK_FORMAT!r})")
            if not _known_layout(reader.schema):
                raise ChunkError(f"{path}: game chunk schema differs from {GAME_CHUNK_FORMAT}")
            table = with_current_columns(read_all_checked(reader, str(path)), path)
            return table, is_checksummed(reader.schema)
    except ChecksumError as exc:
        raise ChunkCorrupt(str(exc)) from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChunkCorrupt(f"{path}: unreadable game chunk: {exc}") from None


def chunk_is_checksummed(path: str | os.PathLike[str]) -> bool:
    """Whether a chunk carries content checksums (False: written before they existed)."""
    try:
        with pa.memory_map(str(path), "r") as source:
            return is_checksummed(ipc.open_file(source).schema)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChunkCorrupt(f"{path}: unreadable game chunk: {exc}") from None


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


def _known_layout(schema: pa.Schema) -> bool:
    """The current chunk schema, or an older one that lacks only OPTIONAL_COLUMNS."""
    names = [n for n in GAME_CHUNK_SCHEMA.names if n in schema.names or n not in OPTIONAL_COLUMNS]
    if schema.names != names:
        return False
    return all(schema.field(n).type == GAME_CHUNK_SCHEMA.field(n).type for n in names)


def read_game_chunk(path: str | os.PathLike[str]) -> list[GameRecord]:
    return table_to_games(read_game_chunk_table(path))


def read_chunk_provenance(path: str | os.PathLike[str]) -> dict[str, str]:
    """The `provenance` a chunk was written with (reads the footer only); {} when none."""
    try:
        with pa.memory_map(str(path), "r") as source:
            metadata = ipc.open_file(source).schema.metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChunkError(f"{path}: unreadable game chunk: {exc}") from None
    prefix = b"provenance."
    return {k[len(prefix) :].decode(): v.decode() for k, v in metadata.items() if k.startswith(prefix)}
