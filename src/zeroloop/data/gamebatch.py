"""Games as flat numpy columns: the form preprocessing works in.

`data.chunks.read_game_chunk` builds one Python object per game through `to_pylist`,
which turns a chunk's visit distributions into hundreds of millions of Python floats.
The data stages instead keep a chunk's columns flat (moves of all games end to end,
with offsets), check them with array operations and hand them to `positions` as is.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zeroloop.data.records import BadRecord
from zeroloop.data.schemas import GAME_CHUNK_SCHEMA
from zeroloop.games.geometry import transpose_permutation


@dataclass
class GameBatch:
    """G games of one board size N, columns flat over all M moves (A = N*N+1 actions).

    offsets:      int64 [G+1] game g's moves are moves[offsets[g]:offsets[g+1]].
    moves:        int16 [M] board-frame actions (N*N = swap).
    winner:       int8 [G] 0 first player, 1 second player.
    swap:         bool [G] the swap rule was on (swap legal at ply 1).
    policy:       float32 [M, A] board-frame visit distribution, or None if no game has
                  one; rows of games without search data are zero.
    policy_valid: bool [M] the move's policy is a training target (False: use the move).
    root_value:   float32 [M] search value from the mover's view; NaN where unknown.
    has_policy, has_root_value: bool [G] whether the game carried those columns.
    game_ids:     str [G] `schemas.game_id` of each game.
    origins:      [G] where each game came from, for reports (`path:line`, `path#row`).
    model_id, seed, search: [G] metadata carried from self-play chunks (None for TRMPH).
    """

    board_size: int
    offsets: np.ndarray
    moves: np.ndarray
    winner: np.ndarray
    swap: np.ndarray
    policy: np.ndarray | None
    policy_valid: np.ndarray
    root_value: np.ndarray
    has_policy: np.ndarray
    has_root_value: np.ndarray
    game_ids: list[str]
    origins: list[str]
    model_id: list[str | None]
    seed: list[int | None]
    search: list[str | None]

    @property
    def num_games(self) -> int:
        return len(self.winner)

    @property
    def num_moves(self) -> int:
        return len(self.moves)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def game_moves(self, g: int) -> np.ndarray:
        return self.moves[self.offsets[g] : self.offsets[g + 1]]

    def take(self, index: Sequence[int] | np.ndarray) -> GameBatch:
        """The games at `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        rows = _ranges(self.offsets[index], lengths)
        return GameBatch(
            board_size=self.board_size,
            offsets=offsets,
            moves=self.moves[rows],
            winner=self.winner[index],
            swap=self.swap[index],
            policy=None if self.policy is None else self.policy[rows],
            policy_valid=self.policy_valid[rows],
            root_value=self.root_value[rows],
            has_policy=self.has_policy[index],
            has_root_value=self.has_root_value[index],
            game_ids=[self.game_ids[i] for i in index],
            origins=[self.origins[i] for i in index],
            model_id=[self.model_id[i] for i in index],
            seed=[self.seed[i] for i in index],
            search=[self.search[i] for i in index],
        )

    def to_table(self) -> pa.Table:
        """The games as a GAME_CHUNK_SCHEMA table (the intermediate combined chunks)."""
        n = self.board_size
        g = self.num_games
        lengths = self.lengths
        move_offsets = pa.array(self.offsets.astype(np.int32))

        def per_move(values: pa.Array, present: np.ndarray) -> pa.Array:
            # Games without the column get a null entry (zero-length range + mask).
            offs = np.zeros(g + 1, dtype=np.int32)
            np.cumsum(np.where(present, lengths, 0), out=offs[1:])
            return pa.ListArray.from_arrays(pa.array(offs), values, mask=pa.array(~present))

        move_rows_p = np.repeat(self.has_policy, lengths)
        if self.policy is not None and self.has_policy.any():
            flat = self.policy[move_rows_p]
            inner_offs = np.arange(0, flat.size + 1, n * n + 1, dtype=np.int32)
            inner = pa.ListArray.from_arrays(pa.array(inner_offs), pa.array(flat.reshape(-1)))
        else:
            inner = pa.array([], type=pa.list_(pa.float32()))
        move_rows_r = np.repeat(self.has_root_value, lengths)
        columns = {
            "game_id": pa.array(self.game_ids, pa.string()),
            "board_size": pa.array(np.full(g, n, dtype=np.int8)),
            "swap": pa.array(self.swap),
            "moves": pa.ListArray.from_arrays(move_offsets, pa.array(self.moves.astype(np.int16))),
            "winner": pa.array(self.winner.astype(np.int8)),
            "policy": per_move(inner, self.has_policy),
            "policy_valid": per_move(pa.array(self.policy_valid[move_rows_p]), self.has_policy),
            "root_value": per_move(pa.array(self.root_value[move_rows_r]), self.has_root_value),
            "model_id": pa.array(self.model_id, pa.string()),
            "seed": pa.array(self.seed, pa.int64()),
            "search": pa.array(self.search, pa.string()),
            # Training needs no resignation flags; the self-play summary reads the chunks.
            "resigned": pa.nulls(g, pa.bool_()),
            "resign_free": pa.nulls(g, pa.bool_()),
        }
        return pa.table(columns, schema=GAME_CHUNK_SCHEMA)


def game_ids(board_size: int, offsets: np.ndarray, moves: np.ndarray) -> list[str]:
    """`schemas.game_id` of every game of a flat move list, without per-move Python calls."""
    flat = moves.tolist()
    offs = offsets.tolist()
    prefix = f"{board_size}:"
    return [
        hashlib.blake2b((prefix + ",".join(map(str, flat[a:b]))).encode(), digest_size=8).hexdigest()
        for a, b in zip(offs[:-1], offs[1:], strict=True)
    ]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [starts[i], starts[i] + lengths[i]) without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    base = np.repeat(starts - (ends - lengths), lengths)
    return base + np.arange(total, dtype=np.int64)


def concat(batches: Sequence[GameBatch]) -> GameBatch:
    """One batch holding the games of `batches` in order (all of one board size)."""
    if not batches:
        raise ValueError("concat of no batches")
    n = batches[0].board_size
    a = n * n + 1
    lengths = np.concatenate([b.lengths for b in batches])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if any(b.policy is not None for b in batches):
        policy = np.concatenate(
            [b.policy if b.policy is not None else np.zeros((b.num_moves, a), np.float32) for b in batches]
        )
    else:
        policy = None

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in batches])

    def join(name: str) -> list:
        return list(itertools.chain.from_iterable(getattr(b, name) for b in batches))

    return GameBatch(
        board_size=n,
        offsets=offsets,
        moves=cat("moves"),
        winner=cat("winner"),
        swap=cat("swap"),
        policy=policy,
        policy_valid=cat("policy_valid"),
        root_value=cat("root_value"),
        has_policy=cat("has_policy"),
        has_root_value=cat("has_root_value"),
        game_ids=join("game_ids"),
        origins=join("origins"),
        model_id=join("model_id"),
        seed=join("seed"),
        search=join("search"),
    )


def empty_batch(board_size: int) -> GameBatch:
    return GameBatch(
        board_size=board_size,
        offsets=np.zeros(1, np.int64),
        moves=np.zeros(0, np.int16),
        winner=np.zeros(0, np.int8),
        swap=np.zeros(0, bool),
        policy=None,
        policy_valid=np.zeros(0, bool),
        root_value=np.zeros(0, np.float32),
        has_policy=np.zeros(0, bool),
        has_root_value=np.zeros(0, bool),
        game_ids=[],
        origins=[],
        model_id=[],
        seed=[],
        search=[],
    )


# ---- legality checks -----------------------------------------------------------------


def illegal_games(
    board_size: int, offsets: np.ndarray, moves: np.ndarray, swap: np.ndarray
) -> dict[int, str]:
    """{game index: reason} for move lists that break the rules; checked with array ops.

    Catches: no moves, actions off the board, a swap other than at move 2 or with the
    rule off, and a cell played twice (after a swap the first stone stands mirrored,
    so its mirror cell is taken and its own cell is free again). Whether the game was
    over before its last move is not checked here: that needs connectivity, and chunks
    come from our own self-play while TRMPH files are checked by the parser.
    """
    n = board_size
    cells = n * n
    lengths = np.diff(offsets)
    g_of = np.repeat(np.arange(len(lengths)), lengths)
    t = np.arange(len(moves)) - offsets[g_of]
    m = moves.astype(np.int64)
    reasons: dict[int, str] = {}

    def mark(mask: np.ndarray, reason: str) -> None:
        for g in np.unique(g_of[mask]) if mask.size else []:
            reasons.setdefault(int(g), reason)

    for g in np.flatnonzero(lengths == 0):
        reasons[int(g)] = "game has no moves"
    mark((m < 0) | (m > cells), f"action off the {n}x{n} board")
    is_swap = m == cells
    mark(is_swap & (t != 1), "swap anywhere but move 2")
    mark(is_swap & ~swap[g_of], "swap played but the swap rule is off")
    # The cells occupied, with a swapped first stone moved to its mirror cell.
    swapped_game = np.zeros(len(lengths), dtype=bool)
    second = offsets[:-1] + 1
    has_two = lengths >= 2
    swapped_game[has_two] = m[second[has_two]] == cells
    occupied = m.copy()
    first_of_swapped = offsets[:-1][swapped_game]
    if first_of_swapped.size:
        perm = transpose_permutation(n)
        occupied[first_of_swapped] = perm[np.clip(m[first_of_swapped], 0, cells)]
    ok = (occupied >= 0) & (occupied < cells)
    key = g_of[ok] * (cells + 1) + occupied[ok]
    order = np.argsort(key, kind="stable")
    dup = np.zeros(len(key), dtype=bool)
    dup[order[1:]] = key[order[1:]] == key[order[:-1]]
    mark_idx = np.flatnonzero(ok)[dup]
    mark_mask = np.zeros(len(m), dtype=bool)
    mark_mask[mark_idx] = True
    mark(mark_mask, "a cell is played twice")
    return reasons


# ---- readers -------------------------------------------------------------------------


def _list_lengths(col: pa.Array) -> np.ndarray:
    """int64 [rows]: list lengths, -1 for null entries."""
    lens = pc.list_value_length(col).fill_null(-1)
    return lens.to_numpy(zero_copy_only=False).astype(np.int64)


def check_chunk_rows(table: pa.Table, board_size: int) -> tuple[dict[int, str], list[str]]:
    """({row: reason} for bad rows, recomputed game ids) of a game chunk table.

    Rows are checked column-wise: board size, winner, per-move list lengths, policy
    width, the stored game id against the moves, and the rules (`illegal_games`).
    """
    rows = table.num_rows
    a = board_size * board_size + 1
    reasons: dict[int, str] = {}

    def mark(mask: np.ndarray, reason: str) -> None:
        for r in np.flatnonzero(mask):
            reasons.setdefault(int(r), reason)

    sizes = table.column("board_size").to_numpy(zero_copy_only=False).astype(np.int64)
    mark(sizes != board_size, f"board size differs from the run's {board_size}")
    winners = table.column("winner").to_numpy(zero_copy_only=False).astype(np.int64)
    mark((winners != 0) & (winners != 1), "winner is not 0 or 1")
    moves_col = table.column("moves").combine_chunks()
    lengths = _list_lengths(moves_col)
    for name in ("policy", "policy_valid", "root_value"):
        lens = _list_lengths(table.column(name).combine_chunks())
        mark((lens != -1) & (lens != lengths), f"{name} has a different length than moves")
    policy_col = table.column("policy").combine_chunks()
    inner_lens = _list_lengths(policy_col.flatten())
    owner = np.repeat(np.arange(rows), np.maximum(_list_lengths(policy_col), 0))
    if len(owner) == len(inner_lens):
        mark(np.bincount(owner[inner_lens != a], minlength=rows) > 0, f"policy rows are not {a} wide")

    flat_moves = moves_col.flatten().to_numpy(zero_copy_only=False).astype(np.int16)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.maximum(lengths, 0), out=offsets[1:])
    swap = table.column("swap").to_numpy(zero_copy_only=False).astype(bool)
    size_ok = sizes == board_size
    for g, reason in illegal_games(board_size, offsets, flat_moves, swap).items():
        if size_ok[g]:
            reasons.setdefault(g, reason)
    stored_ids = table.column("game_id").to_pylist()
    ids = game_ids(board_size, offsets, flat_moves)
    for r in range(rows):
        if r not in reasons and stored_ids[r] != ids[r]:
            reasons[r] = "game_id does not match the moves (corrupt row?)"
    return reasons, ids


def from_chunk_table(
    table: pa.Table, board_size: int, path: str, check: bool = True
) -> tuple[GameBatch, int, list[BadRecord]]:
    """A game chunk's good rows as a batch: (games, rows read, bad records).

    `check=False` trusts the table (our own intermediate chunks, checked when they were
    made) and skips `check_chunk_rows`, which costs about as much as the conversion.
    """
    rows = table.num_rows
    a = board_size * board_size + 1
    if check:
        reasons, ids = check_chunk_rows(table, board_size)
    else:
        reasons, ids = {}, table.column("game_id").to_pylist()
    bad = [BadRecord(f"{path}#{r}", reasons[r]) for r in sorted(reasons)]
    keep = np.arange(rows, dtype=np.int64)
    if reasons:
        keep = np.array([r for r in range(rows) if r not in reasons], dtype=np.int64)
        table = table.take(pa.array(keep))
        ids = [ids[r] for r in keep]
    g = table.num_rows
    moves_col = table.column("moves").combine_chunks()
    flat_moves = moves_col.flatten().to_numpy(zero_copy_only=False).astype(np.int16)
    lengths = _list_lengths(moves_col)
    offsets = np.zeros(g + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    m = int(offsets[-1])

    policy_col = table.column("policy").combine_chunks()
    has_policy = policy_col.is_valid().to_numpy(zero_copy_only=False)
    policy = None
    if has_policy.any():
        policy = np.zeros((m, a), dtype=np.float32)
        values = policy_col.flatten().flatten().to_numpy(zero_copy_only=False)
        policy[np.repeat(has_policy, lengths)] = values.reshape(-1, a)
    valid_col = table.column("policy_valid").combine_chunks()
    has_valid = valid_col.is_valid().to_numpy(zero_copy_only=False)
    policy_valid = np.repeat(has_policy, lengths)  # no policy_valid list: every policy counts
    if has_valid.any():
        policy_valid[np.repeat(has_valid, lengths)] = valid_col.flatten().to_numpy(zero_copy_only=False)
        policy_valid &= np.repeat(has_policy, lengths)
    root_col = table.column("root_value").combine_chunks()
    has_root = root_col.is_valid().to_numpy(zero_copy_only=False)
    root_value = np.full(m, np.nan, dtype=np.float32)
    if has_root.any():
        root_value[np.repeat(has_root, lengths)] = root_col.flatten().to_numpy(zero_copy_only=False)
    batch = GameBatch(
        board_size=board_size,
        offsets=offsets,
        moves=flat_moves,
        winner=table.column("winner").to_numpy(zero_copy_only=False).astype(np.int8),
        swap=table.column("swap").to_numpy(zero_copy_only=False).astype(bool),
        policy=policy,
        policy_valid=policy_valid,
        root_value=root_value,
        has_policy=has_policy,
        has_root_value=has_root,
        game_ids=ids,
        origins=[f"{path}#{r}" for r in keep],
        model_id=table.column("model_id").to_pylist(),
        seed=table.column("seed").to_pylist(),
        search=table.column("search").to_pylist(),
    )
    return batch, rows, bad


def from_trmph_games(
    games: Sequence, board_size: int, swap_rule: bool, path: str
) -> tuple[GameBatch, list[BadRecord]]:
    """TRMPH games (`zeroloop.games.trmph.TrmphGame`) of the run's size as a batch.

    TRMPH records only show the swap when it was played, so a game without one is
    taken to follow the run's rule (`swap_rule`): its positions at ply 1 say the swap
    was legal exactly when the run's games allow it. Games of another size are bad records.
    """
    bad = [
        BadRecord(f"{path}:{g.line}", f"board size {g.board_size} differs from the run's {board_size}")
        for g in games
        if g.board_size != board_size
    ]
    games = [g for g in games if g.board_size == board_size]
    if not games:
        return empty_batch(board_size), bad
    lengths = np.fromiter((len(g.moves) for g in games), dtype=np.int64, count=len(games))
    offsets = np.zeros(len(games) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    moves = np.fromiter(
        itertools.chain.from_iterable(g.moves for g in games), dtype=np.int16, count=int(offsets[-1])
    )
    m = len(moves)
    batch = GameBatch(
        board_size=board_size,
        offsets=offsets,
        moves=moves,
        winner=np.fromiter((g.winner for g in games), dtype=np.int8, count=len(games)),
        swap=np.fromiter((g.swap or swap_rule for g in games), dtype=bool, count=len(games)),
        policy=None,
        policy_valid=np.zeros(m, dtype=bool),
        root_value=np.full(m, np.nan, dtype=np.float32),
        has_policy=np.zeros(len(games), dtype=bool),
        has_root_value=np.zeros(len(games), dtype=bool),
        game_ids=game_ids(board_size, offsets, moves),
        origins=[f"{path}:{g.line}" for g in games],
        model_id=[None] * len(games),
        seed=[None] * len(games),
        search=[None] * len(games),
    )
    return batch, bad
