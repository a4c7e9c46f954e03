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

Whose move: black at even plies, white at odd ones. The swap is white's move at ply 1
and black moves again at ply 2, so parity still holds; what the swap changes is the
stones: black's first stone leaves its cell and a white stone stands on the mirror cell.

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
from zeroloop.games.hex import transpose_permutation

SELECTORS = ("all", "final", "penultimate")
AUGMENTATIONS = ("none", "random", "all")
_NEVER = np.int16(np.iinfo(np.int16).max)


@dataclass
class PositionArrays:
    """P positions of an N x N board (C = N*N cells, A = C+1 actions), mover's frame.

    board, final_board: int8 [P, C] +1 mover, -1 opponent, 0 empty.
    swap_legal: bool [P].   policy: float32 [P, A], sums to 1.
    value: float32 [P] z.   q: float32 [P] (NaN = none).   weight: float32 [P].
    game: int64 [P] index of the game in its GameBatch.   ply, game_length: int16 [P].
    action: int64 [P] the move played, mover's frame.   from_search: bool [P] policy
    came from a visit distribution (else one-hot).
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
    """The positions (game `games[i]`, before move `plies[i]`) of `batch`; shapes above."""
    n = batch.board_size
    cells = n * n
    perm = transpose_permutation(n).astype(np.int64)  # [A], an involution
    games = np.asarray(games, dtype=np.int64)
    t = np.asarray(plies, dtype=np.int64)
    local, pg = np.unique(games, return_inverse=True)
    starts = batch.offsets[local]
    lengths = batch.lengths[local]

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
    fill_ply = np.full((len(local), cells), _NEVER, dtype=np.int16)
    sign = np.zeros((len(local), cells), dtype=np.int8)
    fill_ply[lg[placed], mv[placed]] = tm[placed]
    sign[lg[placed], mv[placed]] = 1 - 2 * (tm[placed] % 2)

    board = sign[pg] * (fill_ply[pg] < t[:, None])
    final = sign * (fill_ply != _NEVER)
    first = batch.moves[starts].astype(np.int64)
    sw = np.flatnonzero(swapped)
    final[sw, perm[first[sw]]] = -1
    pos_sw = swapped[pg]
    at1 = np.flatnonzero(pos_sw & (t == 1))
    board[at1, first[pg[at1]]] = 1  # black's stone, about to be swapped
    after = np.flatnonzero(pos_sw & (t >= 2))
    board[after, perm[first[pg[after]]]] = -1  # white's mirrored stone
    final_board = final[pg]

    mover = t % 2
    white = np.flatnonzero(mover == 1)
    cell_perm = perm[:cells]
    board = board.astype(np.int8)
    board[white] = -board[white][:, cell_perm]
    final_board = final_board.astype(np.int8)
    final_board[white] = -final_board[white][:, cell_perm]

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
    )


def iter_position_blocks(
    batch: GameBatch, selector: str, block_rows: int = 65_536
) -> Iterator[PositionArrays]:
    """`build_positions` over the whole batch, in blocks of about `block_rows` positions.

    Blocks end on game boundaries, bounding memory at ~1 KB x block_rows for 11x11.
    """
    games, plies = select_plies(batch.lengths, selector)
    if len(games) == 0:
        return
    # Cut where the game index changes, at the first boundary past each block_rows.
    cuts = [0]
    while cuts[-1] < len(games):
        end = min(cuts[-1] + block_rows, len(games))
        if end < len(games):
            g_end = games[end]
            end = int(np.searchsorted(games, g_end, side="left"))
            if end <= cuts[-1]:
                end = int(np.searchsorted(games, g_end, side="right"))
        cuts.append(end)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        yield build_positions(batch, games[a:b], plies[a:b])


def rotate180(pos: PositionArrays, board_size: int) -> PositionArrays:
    """The positions turned half a turn: board, final_board, policy and action together."""
    cells = board_size * board_size
    policy = pos.policy.copy()
    policy[:, :cells] = policy[:, cells - 1 :: -1]
    return PositionArrays(
        **{
            **vars(pos),
            "board": pos.board[:, ::-1].copy(),
            "final_board": pos.final_board[:, ::-1].copy(),
            "policy": policy,
            "action": np.where(pos.action == cells, cells, cells - 1 - pos.action),
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
