"""Perfect-play figures: the game loop against the solver, and the endgame accuracy.

A solver-backed agent (perfect play) must convert every won opening; a tiny random
network must not convert all of them, and its endgame figures are counted right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zeroloop.config import ZeroloopConfig
from zeroloop.config.game import GameConfig
from zeroloop.config.model import ModelConfig
from zeroloop.evaluation.perfect_play import (
    endgame_accuracy,
    perfect_play,
    play_openings,
    solve_openings,
)
from zeroloop.model.file import save_model_file
from zeroloop.model.network import create_model
from zeroloop.solver import Budget, Solver, position_after

N = 4


class SolverAgent:
    """Plays the solver's winning move (perfect play for the winning side)."""

    def __init__(self) -> None:
        self.solver = Solver(N)

    def choose_moves(self, games):
        out = []
        for moves in games:
            board, to_play = position_after(N, list(moves))
            r = self.solver.solve(board, to_play, Budget(nodes=None))
            assert r.move is not None, moves  # the agent plays the side that wins
            out.append(r.move)
        return out


def test_perfect_agent_converts_every_won_opening() -> None:
    solver = Solver(N)
    winners = solve_openings(solver, Budget(nodes=None))
    assert [c for c in range(16) if winners[c] == 0] == [3, 6, 9, 12]
    converted = play_openings(SolverAgent(), solver, winners, Budget(nodes=None))
    assert converted == [True] * 16


class FirstEmptyAgent:
    """Plays the lowest empty cell: a weak player that cannot convert everything."""

    def choose_moves(self, games):
        return [min(set(range(N * N)) - set(m)) for m in games]


def test_weak_agent_loses_won_openings() -> None:
    solver = Solver(N)
    winners = solve_openings(solver, Budget(nodes=None))
    converted = play_openings(FirstEmptyAgent(), solver, winners, Budget(nodes=None))
    assert None not in converted and not all(converted)


@pytest.mark.slow  # compiles the model's search: minutes on a loaded CPU
def test_perfect_play_figures_of_a_random_network(tmp_path: Path) -> None:
    config = ZeroloopConfig.model_validate(
        {"game": {"board_size": N}, "model": {"blocks": 1, "channels": 8}, "eval": {"num_simulations": 2}}
    )
    model_path = save_model_file(
        tmp_path / "m.zlm", create_model(ModelConfig(blocks=1, channels=8), seed=0), GameConfig(board_size=N)
    )
    s = perfect_play(config, model_path, nodes=None)
    assert s.openings == 16 and s.openings_unknown == 0
    assert (s.black_won, s.white_won) == (4, 12)
    assert 0 <= s.black_converted <= 4 and 0 <= s.white_converted <= 12
    assert s.endgame_positions == 0 and s.value_accuracy is None

    # Endgame figures against a brute-force truth (tests/test_rescore.py's negamax).
    import jax

    from tests.test_rescore import mover_wins, positions
    from zeroloop.model.file import load_model_file
    from zeroloop.model.network import inference_fn

    pos = positions(games=10, seed=4)
    pos = pos.take(np.flatnonzero((pos.board == 0).sum(axis=1) <= 6))
    solved, value_acc, win_pos, top_rate = endgame_accuracy(model_path, pos, Solver(N), Budget(nodes=None))
    assert solved == len(pos) > 10
    model, _ = load_model_file(model_path)
    apply, _, state = inference_fn(model)
    board = pos.board.reshape(-1, N, N)
    obs = np.stack([board == 1, board == -1, np.zeros_like(board, bool)], axis=-1).astype(np.float32)
    logits, value = (np.asarray(x) for x in jax.jit(apply)(state, obs))
    truth = np.array([mover_wins(tuple(b.tolist())) for b in pos.board])
    assert value_acc == np.mean((value > 0) == truth)
    assert win_pos == int(truth.sum())
    top = np.argmax(np.where(pos.board == 0, logits[:, : N * N], -np.inf), axis=1)
    top_wins = []
    for b, t, won in zip(pos.board, top, truth, strict=True):
        if won:
            child = b.copy()
            child[t] = 1
            from zeroloop.games import board as hexboard

            finished = hexboard.winner(child.reshape(N, N)) == 0
            top_wins.append(finished or not mover_wins(tuple((-child.reshape(N, N).T).reshape(-1).tolist())))
    assert top_rate == np.mean(top_wins)


@pytest.mark.slow  # compiles the model's search
def test_evaluate_stage_summary_gets_perfect_play_figures(tmp_path: Path) -> None:
    from zeroloop.evaluation.perfect_play import run_evaluation_with_perfect_play

    base = {"game": {"board_size": N}, "model": {"blocks": 1, "channels": 8}}
    model_path = save_model_file(
        tmp_path / "m.zlm", create_model(ModelConfig(blocks=1, channels=8), seed=0), GameConfig(board_size=N)
    )
    off = ZeroloopConfig.model_validate(base | {"eval": {"num_simulations": 2}})
    plain = run_evaluation_with_perfect_play(off, model_path, None, tmp_path / "e0.json").to_dict()
    assert not any(k.startswith("perfect_play_") for k in plain)
    on = ZeroloopConfig.model_validate(
        base | {"eval": {"num_simulations": 2, "perfect_play": {"enabled": True, "max_board_size": N}}}
    )
    merged = run_evaluation_with_perfect_play(on, model_path, None, tmp_path / "e1.json").to_dict()
    assert merged["perfect_play_black_won"] == 4 and merged["perfect_play_white_won"] == 12
    assert {k: v for k, v in merged.items() if not k.startswith("perfect_play_") and k != "seconds"} == {
        k: v for k, v in plain.items() if k != "seconds" and k != "out_path"
    } | {"out_path": str(tmp_path / "e1.json")}
    small = ZeroloopConfig.model_validate(
        base | {"eval": {"num_simulations": 2, "perfect_play": {"enabled": True, "max_board_size": N - 1}}}
    )
    skipped = run_evaluation_with_perfect_play(small, model_path, None, tmp_path / "e2.json").to_dict()
    assert not any(k.startswith("perfect_play_") for k in skipped)
