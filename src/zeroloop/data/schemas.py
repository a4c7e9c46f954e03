"""Arrow schemas of the files stages exchange (documented in docs/data-formats.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa

GAME_CHUNK_FORMAT = "zeroloop-game-chunk/1"
POSITION_SHARD_FORMAT = "zeroloop-position-shard/1"

# One row per game. Per-move lists have one entry per move; `policy` entries have
# N*N+1 probabilities in the *board* frame (visit distribution of the search), or the
# whole column is null for games without search data (e.g. from TRMPH files).
# `resigned`: the loser resigned (the final position is not a connection);
# `resign_free`: the game was one of the share that may not resign (null: no resignation).
# Chunks written before these two columns read as nulls.
GAME_CHUNK_SCHEMA = pa.schema(
    [
        pa.field("game_id", pa.string(), nullable=False),
        pa.field("board_size", pa.int8(), nullable=False),
        pa.field("swap", pa.bool_(), nullable=False),
        pa.field("moves", pa.list_(pa.int16()), nullable=False),
        pa.field("winner", pa.int8(), nullable=False),
        pa.field("policy", pa.list_(pa.list_(pa.float32()))),
        pa.field("policy_valid", pa.list_(pa.bool_())),
        pa.field("root_value", pa.list_(pa.float32())),
        pa.field("model_id", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("search", pa.string()),
        pa.field("resigned", pa.bool_()),
        pa.field("resign_free", pa.bool_()),
    ],
    metadata={"format": GAME_CHUNK_FORMAT},
)


def position_shard_schema(board_size: int) -> pa.Schema:
    """One row per position, everything in the mover's frame (mover connects top-bottom).

    board: int8 [N*N] (+1 mover, -1 opponent, 0 empty); policy: float32 [N*N+1];
    value: outcome for the mover (+1 won); q: search value for the mover (NaN if none);
    final_board: int8 [N*N] the game's last position in this position's mover frame
    (target of the auxiliary ownership head); policy_weight: 1 when `policy` is a
    training target, 0 for a playout-capped (cheap) search, whose policy carries no loss.
    """
    cells = board_size * board_size
    return pa.schema(
        [
            pa.field("board", pa.list_(pa.int8(), cells), nullable=False),
            pa.field("swap_legal", pa.bool_(), nullable=False),
            pa.field("policy", pa.list_(pa.float32(), cells + 1), nullable=False),
            pa.field("value", pa.float32(), nullable=False),
            pa.field("q", pa.float32(), nullable=False),
            pa.field("weight", pa.float32(), nullable=False),
            pa.field("final_board", pa.list_(pa.int8(), cells), nullable=False),
            pa.field("game_id", pa.string(), nullable=False),
            pa.field("ply", pa.int16(), nullable=False),
            pa.field("game_length", pa.int16(), nullable=False),
            pa.field("policy_weight", pa.float32(), nullable=False),
        ],
        metadata={"format": POSITION_SHARD_FORMAT, "board_size": str(board_size)},
    )


def legacy_position_shard_schema(board_size: int) -> pa.Schema:
    """The shard layout before `policy_weight` (read as policy_weight = 1 everywhere)."""
    schema = position_shard_schema(board_size)
    return schema.remove(schema.get_field_index("policy_weight"))


def game_id(board_size: int, moves: Sequence[int]) -> str:
    """Stable id of a game: a hash of its size and move list (16 hex digits)."""
    text = f"{board_size}:" + ",".join(str(int(m)) for m in moves)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
