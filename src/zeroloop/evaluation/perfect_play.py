"""How far a model is from perfect play, measured with the exact solver.

Two figures per model (docs/solver.md):

- Conversion: for every one-move opening, the solver names the side that wins with
  perfect play; the model takes that side and plays it out against the solver (which
  answers with a winning move when it has one, else with its longest-resisting move,
  see `solver_move`). A won position converted is a game the model wins.
- Exact accuracy on endgames: on self-play positions with at most `max_empty` empty
  cells, how often the sign of the value head matches the exact result, and how often
  the top policy move (raw network, no search) is a winning move when one exists.

Openings or positions the solver cannot prove within its budget are counted as
unknown and left out, never guessed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from zeroloop.config import ZeroloopConfig
from zeroloop.config.game import GameConfig
from zeroloop.data.chunks import read_game_chunk_table
from zeroloop.data.gamebatch import from_chunk_table
from zeroloop.data.positions import PositionArrays, iter_position_blocks
from zeroloop.evaluation.agents import AgentSpec
from zeroloop.evaluation.model_agent import ModelAgent
from zeroloop.games.board import mover_at
from zeroloop.model.file import load_model_file
from zeroloop.model.network import inference_fn
from zeroloop.solver import Budget, Solver


@dataclass
class PerfectPlaySummary:
    """Figures of one model; fractions are None when there was nothing to count."""

    board_size: int
    openings: int
    openings_unknown: int
    black_won: int
    black_converted: int
    white_won: int
    white_converted: int
    endgame_positions: int
    value_accuracy: float | None
    policy_positions: int
    policy_winning: float | None
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _masks(moves: list[int], n: int) -> tuple[int, int]:
    """(black, white) bitboards after a swap-free move list."""
    black = white = 0
    for ply, m in enumerate(moves):
        if mover_at(ply) == 0:
            black |= 1 << m
        else:
            white |= 1 << m
    return black, white


def solver_move(solver: Solver, black: int, white: int, to_play: int, budget: Budget) -> int:
    """The solver's move: a winning one when it has one, else the longest-resisting one.

    "Longest-resisting" is approximated by the reply whose proof (for the opponent)
    costs the most nodes, an unprovable one (within a twentieth of the budget)
    counting as the hardest: exact
    distance-to-loss would need a full depth-bounded search of every reply.
    """
    r = solver.solve_masks(black, white, to_play, budget)
    if r.winner == to_play and r.move is not None:
        return r.move
    # Each reply gets a twentieth of the budget: a losing move costs every reply a solve.
    per_reply = Budget(
        nodes=None if budget.nodes is None else max(100, budget.nodes // 20), seconds=budget.seconds
    )
    empty = solver.geo.full & ~(black | white)
    best, best_cost = -1, -1.0
    for cell in solver.geo.centre_order:
        if not empty >> cell & 1:
            continue
        bit = 1 << cell
        if to_play == 0:
            child = solver.solve_masks(black | bit, white, 1, per_reply)
        else:
            child = solver.solve_masks(black, white | bit, 0, per_reply)
        cost = float("inf") if child.winner is None else float(child.nodes)
        if child.winner == to_play:  # a win the first search missed within its budget
            return cell
        if cost > best_cost:
            best, best_cost = cell, cost
    return best


def solve_openings(solver: Solver, budget: Budget) -> list[int | None]:
    """Per opening cell (black's first move), the perfect-play winner; None = unknown."""
    n = solver.n
    return [solver.solve_masks(*_masks([cell], n), 1, budget).winner for cell in range(n * n)]


def play_openings(
    agent: ModelAgent, solver: Solver, winners: list[int | None], budget: Budget
) -> list[bool | None]:
    """Per opening cell: did the model, playing the perfect-play winner `winners[cell]`
    against the solver, win? None where the opening is unknown."""
    n = solver.n
    cells = n * n
    games = {cell: [cell] for cell in range(cells) if winners[cell] is not None}
    converted: list[bool | None] = [None] * cells
    geo = solver.geo
    while games:
        model_turn = [c for c, m in games.items() if mover_at(len(m)) == winners[c]]
        if model_turn:
            chosen = agent.choose_moves([games[c] for c in model_turn])
            for c, move in zip(model_turn, chosen, strict=True):
                games[c].append(int(move))
        for c in [c for c in games if c not in model_turn]:
            black, white = _masks(games[c], n)
            games[c].append(solver_move(solver, black, white, mover_at(len(games[c])), budget))
        for c in list(games):
            black, white = _masks(games[c], n)
            for player, own in ((0, black), (1, white)):
                if geo.connected(own, player):
                    converted[c] = player == winners[c]
                    del games[c]
                    break
    return converted


def endgame_positions(
    run_dir: str | Path, n: int, max_empty: int, limit: int, seed: int = 0
) -> PositionArrays | None:
    """Up to `limit` self-play positions of the run with at most `max_empty` empty cells
    (no swap-legal ones), sampled with `seed`: the same sample for every generation."""
    parts = []
    for path in sorted(Path(run_dir).glob("selfplay/gen-*/*.arrow")):
        batch, _, _ = from_chunk_table(read_game_chunk_table(path), n, str(path), check=False)
        for pos in iter_position_blocks(batch, "all"):
            keep = ((pos.board == 0).sum(axis=1) <= max_empty) & ~pos.swap_legal
            if keep.any():
                parts.append(pos.take(np.flatnonzero(keep)))
    if not parts:
        return None
    pos = PositionArrays.concat(parts)
    if len(pos) > limit:
        pos = pos.take(np.sort(np.random.default_rng(seed).choice(len(pos), limit, replace=False)))
    return pos


def endgame_accuracy(
    model_path: str | Path, pos: PositionArrays, solver: Solver, budget: Budget
) -> tuple[int, float | None, int, float | None]:
    """(positions solved, value-sign accuracy, positions with a win, top-move-wins rate)."""
    model, _ = load_model_file(model_path)
    apply, _, state = inference_fn(model)
    n = solver.n
    p = len(pos)
    board = pos.board.reshape(p, n, n)
    obs = np.zeros((p, n, n, 3), np.float32)
    obs[..., 0] = board == 1
    obs[..., 1] = board == -1
    logits, value = jax.jit(apply)(state, obs)
    logits = np.asarray(logits)[:, : n * n]
    value = np.asarray(value)
    solved = right = winning_positions = top_wins = 0
    for i in range(p):
        flat = pos.board[i]
        mover = sum(1 << int(c) for c in np.flatnonzero(flat == 1))
        opp = sum(1 << int(c) for c in np.flatnonzero(flat == -1))
        r = solver.solve_masks(mover, opp, 0, budget)
        if r.winner is None:
            continue
        solved += 1
        right += (value[i] > 0) == (r.winner == 0)
        if r.winner != 0:
            continue
        top = int(np.argmax(np.where(flat == 0, logits[i], -np.inf)))
        bit = 1 << top
        child_wins = solver.geo.connected(mover | bit, 0)
        if not child_wins:
            child = solver.solve_masks(mover | bit, opp, 1, budget)
            if child.winner is None:
                continue
            child_wins = child.winner == 0
        winning_positions += 1
        top_wins += child_wins
    return (
        solved,
        right / solved if solved else None,
        winning_positions,
        top_wins / winning_positions if winning_positions else None,
    )


def perfect_play(
    config: ZeroloopConfig,
    model_path: str | Path,
    run_dir: str | Path | None = None,
    *,
    nodes: int = 200_000,
    simulations: int | None = None,
    max_empty: int = 8,
    positions: int = 200,
    endgames: PositionArrays | None = None,
    solver: Solver | None = None,
    winners: list[int | None] | None = None,
) -> PerfectPlaySummary:
    """All figures of one model file (see the module docstring).

    run_dir: where the self-play positions come from (None: no endgame figures).
    nodes: solver budget per solve. simulations: the model's search per move
    (default eval.num_simulations). endgames: a ready sample (overrides run_dir).
    solver, winners: a solver (its table of proven results) and the openings' results
    (`solve_openings`) to reuse across models.
    """
    start = time.perf_counter()
    n = config.game.board_size
    solver = solver or Solver(n)
    budget = Budget(nodes=nodes)
    if winners is None:
        winners = solve_openings(solver, budget)
    sims = simulations or config.eval.num_simulations
    game = GameConfig(board_size=n, swap=False)
    agent = ModelAgent.from_spec(AgentSpec("model", sims, str(model_path)), game, config.mcts, sims)
    converted = play_openings(agent, solver, winners, budget)
    if endgames is None and run_dir is not None:
        endgames = endgame_positions(run_dir, n, max_empty, positions)
    solved, value_acc, win_pos, top_rate = (0, None, 0, None)
    if endgames is not None:
        solved, value_acc, win_pos, top_rate = endgame_accuracy(model_path, endgames, solver, budget)
    return PerfectPlaySummary(
        board_size=n,
        openings=len(winners),
        openings_unknown=sum(w is None for w in winners),
        black_won=sum(w == 0 for w in winners),
        black_converted=sum(bool(c) for w, c in zip(winners, converted, strict=True) if w == 0),
        white_won=sum(w == 1 for w in winners),
        white_converted=sum(bool(c) for w, c in zip(winners, converted, strict=True) if w == 1),
        endgame_positions=solved,
        value_accuracy=value_acc,
        policy_positions=win_pos,
        policy_winning=top_rate,
        seconds=time.perf_counter() - start,
    )


class _Merged:
    """A stage summary with extra keys (what `tasks.stages` needs: `to_dict()`)."""

    def __init__(self, data: dict) -> None:
        self._data = data

    def to_dict(self) -> dict:
        return dict(self._data)


def run_evaluation_with_perfect_play(
    config: ZeroloopConfig,
    candidate: str | Path,
    opponent: str | Path | None,
    out_path: str | Path,
    **kwargs: Any,
) -> Any:
    """`arena.run_evaluation`, then, when `eval.perfect_play.enabled` and the board is
    small enough, the candidate's perfect-play figures joined to its summary as
    `perfect_play_<figure>` keys (the dashboard's per-generation summary table)."""
    from zeroloop.evaluation.arena import run_evaluation

    summary = run_evaluation(config, candidate, opponent, out_path, **kwargs)
    cfg = config.eval.perfect_play
    if not cfg.enabled or config.game.board_size > cfg.max_board_size:
        return summary
    figures = perfect_play(
        config,
        candidate,
        kwargs.get("run_dir"),
        nodes=cfg.nodes,
        max_empty=cfg.max_empty,
        positions=cfg.positions,
    ).to_dict()
    return _Merged(summary.to_dict() | {f"perfect_play_{k}": v for k, v in figures.items()})
