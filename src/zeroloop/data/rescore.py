"""Exact endgame relabelling of position targets (seed 001's chunk_rescorer).

lc0 rescores value targets with endgame tablebases; Hex has none, but a position with
few empty cells is solved exactly in milliseconds by `zeroloop.solver`. The game's
result z says who won *this game*, which in an endgame is often not who wins with
perfect play (the loser blundered later); the solver's result is the true value.

`rescore_positions` replaces, for positions with at most `max_empty` empty cells:
- value: +1 when the mover wins with perfect play, else -1;
- policy (optional, when the mover wins): the target's mass on winning moves,
  renormalised, or uniform over the winning moves when it has none there.
Positions where the swap is legal, or where the solver's budget ran out, and every
other array (board, q, weight, ...) are left exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from zeroloop.config.data import RescoreConfig
from zeroloop.data.positions import PositionArrays
from zeroloop.solver import Budget, Solver


@dataclass
class RescoreStats:
    """Counts of one call: candidates (few enough empty cells), solved, changed targets."""

    candidates: int = 0
    solved: int = 0
    value_changed: int = 0
    policy_changed: int = 0


def winning_moves(solver: Solver, board: np.ndarray, budget: Budget) -> np.ndarray | None:
    """bool [C]: the cells where the mover (+1, top to bottom) wins; None if unknown.

    board: int8 [N, N] mover's frame (+1 mover, -1 opponent).
    """
    flat = board.reshape(-1)
    mover = sum(1 << int(i) for i in np.flatnonzero(flat == 1))
    opponent = sum(1 << int(i) for i in np.flatnonzero(flat == -1))
    out = np.zeros(flat.size, bool)
    for cell in np.flatnonzero(flat == 0):
        bit = 1 << int(cell)
        if solver.geo.connected(mover | bit, 0):
            out[cell] = True
            continue
        r = solver.solve_masks(mover | bit, opponent, 1, budget)
        if r.winner is None:
            return None
        out[cell] = r.winner == 0
    return out


def rescore_positions(
    pos: PositionArrays, board_size: int, cfg: RescoreConfig, solver: Solver | None = None
) -> tuple[PositionArrays, RescoreStats]:
    """Relabel the targets of near-final positions with their exact values (see module doc).

    pos: P positions, mover's frame (board int8 [P, C], policy float32 [P, C+1],
    value float32 [P]). Returns new arrays (the input is not modified) and counts.
    """
    stats = RescoreStats()
    if not cfg.enabled or len(pos) == 0:
        return pos, stats
    empty = (pos.board == 0).sum(axis=1)
    rows = np.flatnonzero((empty <= cfg.max_empty) & ~pos.swap_legal)
    stats.candidates = len(rows)
    if not len(rows):
        return pos, stats
    solver = solver or Solver(board_size)
    budget = Budget(nodes=cfg.nodes)
    value = pos.value.copy()
    policy = pos.policy.copy() if cfg.policy else pos.policy
    n = board_size
    for row in rows:
        board = pos.board[row].reshape(n, n)
        r = solver.solve(board, 0, budget)
        if r.winner is None:
            continue
        stats.solved += 1
        exact = np.float32(1.0 if r.winner == 0 else -1.0)
        if value[row] != exact:
            value[row] = exact
            stats.value_changed += 1
        if cfg.policy and r.winner == 0:
            wins = winning_moves(solver, board, budget)
            if wins is None:
                continue
            target = np.zeros_like(policy[row])
            target[: n * n] = np.where(wins, policy[row, : n * n], 0.0)
            total = target.sum()
            if total > 0:
                target /= total
            else:  # the search put nothing on a winning move: uniform over them
                target[: n * n] = wins / wins.sum()
            if not np.array_equal(target, policy[row]):
                policy[row] = target
                stats.policy_changed += 1
    return replace(pos, value=value, policy=policy), stats
