"""Games -> training positions, vectorised over all the moves of many games at once.

A position is the board before move t of a game, seen by the player to move (the
mover's frame: transposed for white, so the mover always connects top to bottom),
with its targets:

- policy: the search's visit distribution for that move when the game has one and it
  is marked valid (playout-cap moves are not), else the move played (one-hot); both
  turned into the mover's frame.
- value z: +1 if the mover went on to win, else -1.
- q: the search root value from the mover's view, NaN when the game has none.
- final_board: the game's last position in this position's mover frame (ownership).

Whose move: `zeroloop.games.board.mover_at` (black at even plies, white at odd ones,
swap or not); what the swap changes is the stones: black's first stone leaves its cell
and a white stone stands on the mirror cell.

Boards are built without replaying: each game's cells get the ply at which they were
filled, and the board before move t is every cell filled at a ply < t. One gather and
one compare per block of positions, whatever the game lengths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from zeroloop.config.data import DiffFocusConfig
from zeroloop.data.gamebatch import GameBatch, _ranges
from zeroloop.games.board import mover_at, rotate180_cells, rotate180_move, rotate180_policy
from zeroloop.games.geometry import transpose_permutation

SELECTORS = ("all", "final", "penultimate")
AUGMENTATIONS = ("none", "random", "all")


@dataclass
class PositionArrays:
    """P positions of an N x N board (C = N*N cells, A = C+1 actions), mover's frame.

    board, final_board: int8 [P, C] +1 mover, -1 opponent, 0 empty.
    swap_legal: bool [P].   policy: float32 [P, A], sums to 1.
    value: float32 [P] z.   q: float32 [P] (NaN = none).   weight: float32 [P].
    game: int64 [P] index of the game in its GameBatch.   ply, game_length: int16 [P].
    action: int64 [P] the move played, mover's frame.   from_search: bool [P] policy
    came from a visit distribution (else one-hot).   policy_weight: float32 [P] 1 when
    the policy is a training target; 0 for a playout-capped search of a game that has
    search policies (its one-hot stands in the column but carries no loss).
    """

    board: np.ndarray
    swap_legal: np.ndarray
    policy: np.ndarray
    value: np.ndarray
    q: np.ndarray
    weight: np.ndarray
    final_board: np.ndarray
    game: np.ndarray
    ply: np.ndarray
    game_length: np.ndarray
    action: np.ndarray
    from_search: np.ndarray
    policy_weight: np.ndarray | None = None  # None: every policy is a target (ones)

    def __post_init__(self) -> None:
        if self.policy_weight is None:
            self.policy_weight = np.ones(len(self.value), np.float32)

    def __len__(self) -> int:
        return len(self.value)

    def take(self, index: np.ndarray) -> PositionArrays:
        return PositionArrays(**{k: v[index] for k, v in vars(self).items()})

    @staticmethod
    def concat(parts: list[PositionArrays]) -> PositionArrays:
        return PositionArrays(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def select_plies(lengths: np.ndarray, selector: str) -> tuple[np.ndarray, np.ndarray]:
    """(game index, ply) of the positions `selector` takes from games of these lengths.

    'all': every position with a move to learn (plies 0..T-1); 'final': the position
    before the last (winning) move, ply T-1; 'penultimate': ply T-2 (games of length 1
    have none).
    """
    g = np.arange(len(lengths))
    if selector == "all":
        games = np.repeat(g, lengths)
        return games, _ranges(np.zeros(len(lengths), np.int64), lengths)
    if selector == "final":
        ok = lengths >= 1
        return g[ok], lengths[ok] - 1
    if selector == "penultimate":
        ok = lengths >= 2
        return g[ok], lengths[ok] - 2
    raise ValueError(f"position selector {selector!r}: expected one of {SELECTORS}")


def build_positions(batch: GameBatch, games: np.ndarray, plies: np.ndarray) -> PositionArrays:
    """The positions (game `games[i]`, before move `plies[i]`) of `batch`; shapes above.

    `games` should be sorted (as `select_plies` gives them): per-game tables are built
    for the range games.min()..games.max().
    """
    n = batch.board_size
    cells = n * n
    perm = transpose_permutation(n).astype(np.int64)  # [A], an involution
    cell_perm = perm[:cells]
    games = np.asarray(games, dtype=np.int64)
    t = np.asarray(plies, dtype=np.int64)
    lo = int(games.min()) if len(games) else 0
    hi = int(games.max()) + 1 if len(games) else 0
    local = np.arange(lo, hi)
    pg = games - lo
    starts = batch.offsets[local]
    lengths = batch.lengths[local]
    # Plies fit int8 up to 11x11 (122 actions): half the bytes to gather and compare.
    ply_type = np.int8 if cells + 1 < np.iinfo(np.int8).max else np.int16
    never = np.iinfo(ply_type).max

    # Per game: the ply that filled each cell and the sign of the stone placed there.
    rows = _ranges(starts, lengths)
    lg = np.repeat(np.arange(len(local)), lengths)
    tm = rows - np.repeat(starts, lengths)
    mv = batch.moves[rows].astype(np.int64)
    swapped = np.zeros(len(local), dtype=bool)
    two = lengths >= 2
    swapped[two] = batch.moves[starts[two] + 1] == cells
    # A swapped game's first stone is handled apart: its cell may be played again later.
    placed = (mv < cells) & ~((tm == 0) & swapped[lg])
    fill = np.full((len(local), cells), never, dtype=ply_type)
    sign = np.zeros((len(local), cells), dtype=np.int8)
    fill[lg[placed], mv[placed]] = tm[placed]
    sign[lg[placed], mv[placed]] = 1 - 2 * mover_at(tm[placed])
    first = batch.moves[starts].astype(np.int64)
    final = sign * (fill != never)
    sw = np.flatnonzero(swapped)
    final[sw, perm[first[sw]]] = -1

    # Both frames per game (black's as is, white's transposed and negated), so each
    # position gathers its board straight in the mover's frame: row pg + G * mover.
    g_count = len(local)
    mover = mover_at(t)
    idx = pg + g_count * mover
    fill2 = np.concatenate([fill, fill[:, cell_perm]])
    sign2 = np.concatenate([sign, -sign[:, cell_perm]])
    board = sign2[idx] * (fill2[idx] < t.astype(ply_type)[:, None])
    final_board = np.concatenate([final, -final[:, cell_perm]])[idx]

    # The swap in the mover's frame: at ply 1 (white to move) black's stone stands on
    # `first`, seen by white at perm[first] as an opponent stone; from ply 2 on white's
    # stone stands on perm[first]: an opponent stone for black, white's own (at
    # `first`, after transposing back) for white.
    pos_sw = swapped[pg]
    at1 = np.flatnonzero(pos_sw & (t == 1))
    board[at1, perm[first[pg[at1]]]] = -1
    after_b = np.flatnonzero(pos_sw & (t >= 2) & (mover == 0))
    board[after_b, perm[first[pg[after_b]]]] = -1
    after_w = np.flatnonzero(pos_sw & (t >= 2) & (mover == 1))
    board[after_w, first[pg[after_w]]] = 1

    move_row = batch.offsets[games] + t
    played = batch.moves[move_row].astype(np.int64)
    action = np.where(mover == 1, perm[played], played)
    policy = np.zeros((len(t), cells + 1), dtype=np.float32)
    from_search = np.zeros(len(t), dtype=bool)
    if batch.policy is not None:
        cand = np.flatnonzero(batch.policy_valid[move_row])
        pr = batch.policy[move_row[cand]]
        total = pr.sum(axis=1)
        # A row that is not a distribution (all zero, negative, NaN) falls back to the move.
        good = np.isfinite(total) & (total > 0) & (pr >= 0).all(axis=1)
        cand, pr, total = cand[good], pr[good], total[good]
        pr = pr / total[:, None]
        w = mover[cand] == 1
        pr[w] = pr[w][:, perm]
        policy[cand] = pr
        from_search[cand] = True
    onehot = np.flatnonzero(~from_search)
    policy[onehot, action[onehot]] = 1.0

    winner = batch.winner[games].astype(np.int64)
    return PositionArrays(
        board=board,
        swap_legal=batch.swap[games] & (t == 1),
        policy=policy,
        value=np.where(winner == mover, 1.0, -1.0).astype(np.float32),
        q=batch.root_value[move_row].astype(np.float32),
        weight=np.ones(len(t), dtype=np.float32),
        final_board=final_board,
        game=games,
        ply=t.astype(np.int16),
        game_length=batch.lengths[games].astype(np.int16),
        action=action,
        from_search=from_search,
        # Games without search data (TRMPH) learn the move played; a cheap search of a
        # self-play game is no target at all (KataGo's playout-cap randomisation).
        policy_weight=(from_search | ~batch.has_policy[games]).astype(np.float32),
    )


def iter_position_blocks(
    batch: GameBatch, selector: str, block_rows: int = 16_384
) -> Iterator[PositionArrays]:
    """`build_positions` over the whole batch, in blocks of exactly `block_rows` positions
    (the last one fewer), bounding memory at ~1 KB x block_rows for 11x11.

    Blocks may split a game (its per-game table is then built twice, which is cheap);
    exact sizes let shard writers emit fixed-size record batches without copying.
    """
    games, plies = select_plies(batch.lengths, selector)
    for a in range(0, len(games), block_rows):
        yield build_positions(batch, games[a : a + block_rows], plies[a : a + block_rows])


def rotate180(pos: PositionArrays, board_size: int) -> PositionArrays:
    """The positions turned half a turn: board, final_board, policy and action together."""
    return PositionArrays(
        **{
            **vars(pos),
            "board": rotate180_cells(pos.board, board_size),
            "final_board": rotate180_cells(pos.final_board, board_size),
            "policy": rotate180_policy(pos.policy, board_size),
            "action": rotate180_move(pos.action, board_size),
        }
    )


def augment(pos: PositionArrays, mode: str, board_size: int, rng: np.random.Generator) -> PositionArrays:
    """Symmetry augmentation in the mover's frame: the 180-degree rotation.

    'none': unchanged; 'random': each position rotated with probability 1/2; 'all':
    every position twice, as is and rotated. The transpose is not used: in the mover's
    frame it would make the mover connect left-right, which the network never sees.
    """
    if mode == "none" or len(pos) == 0:
        return pos
    if mode == "all":
        return PositionArrays.concat([pos, rotate180(pos, board_size)])
    if mode == "random":
        flip = np.flatnonzero(rng.random(len(pos)) < 0.5)
        rotated = rotate180(pos.take(flip), board_size)
        out = PositionArrays(**{k: v.copy() for k, v in vars(pos).items()})
        for k, v in vars(rotated).items():
            getattr(out, k)[flip] = v
        return out
    raise ValueError(f"augmentation {mode!r}: expected one of {AUGMENTATIONS}")


def policy_surprise(pos: PositionArrays) -> np.ndarray:
    """float32 [P]: -log pi(move played) under the search policy; 0 without search.

    Self-play chunks do not store the network's prior, so lc0's KL(search || prior) is
    not available; how unlikely the search found the move actually played is the
    policy disagreement we can measure. Without search data there is none (0), which,
    as in lc0, means "always keep".
    """
    p = pos.policy[np.arange(len(pos)), pos.action]
    out = -np.log(np.clip(p, 1e-6, 1.0))
    return np.where(pos.from_search, out, 0.0).astype(np.float32)


def diff_focus_keep(pos: PositionArrays, cfg: DiffFocusConfig, rng: np.random.Generator) -> np.ndarray:
    """bool [P]: lc0's diff-focus sampling (tf/chunkparser.py, `sample_record`).

    total = (q_weight * |q - z| + pol_kld) / (q_weight + pol_scale);
    keep with probability diff_focus_min + diff_focus_slope * total (always when >= 1).
    Positions without a search value or without search policy are always kept.
    """
    if not cfg.enabled:
        return np.ones(len(pos), dtype=bool)
    kld = policy_surprise(pos)
    applies = ~np.isnan(pos.q) & (kld > 0)
    diff_q = np.abs(np.nan_to_num(pos.q) - pos.value)
    total = (cfg.q_weight * diff_q + kld) / (cfg.q_weight + cfg.pol_scale)
    thresh = cfg.min + cfg.slope * total
    u = rng.random(len(pos))
    return ~applies | (thresh >= 1.0) | (u <= thresh)


def is_test_game(game_ids: list[str], fraction: float) -> np.ndarray:
    """bool [G]: the game belongs to the held-out split.

    Decided by the game id (a hash of size and moves): a game lands in the same split
    in every run and every stage, and never in both. A game and its rotated twin are
    different games here; `data.dedupe_symmetric` keeps only one of them.
    """
    if fraction <= 0 or not game_ids:
        return np.zeros(len(game_ids), dtype=bool)
    head = np.array([int(g[:8], 16) for g in game_ids], dtype=np.float64)
    return head / 2.0**32 < fraction
