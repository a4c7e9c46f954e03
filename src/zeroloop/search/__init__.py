"""Batched MCTS over the Hex env with mctx (PUCT, Gumbel), schedules and the self-play loop.

Imports only JAX, mctx, numpy and `zeroloop.games` / `zeroloop.config`: the network comes
in as a pure function `apply(params, obs) -> (logits, value)`.
"""

from zeroloop.search.mcts import (
    ApplyFn,
    SearchParams,
    SearchResult,
    add_root_noise,
    evaluate,
    make_recurrent_fn,
    qtransform_alphazero,
    root_dirichlet_alpha,
    run_search,
)
from zeroloop.search.schedules import Piecewise, game_progress, piecewise, schedule_value
from zeroloop.search.selfplay import SelfplayBatch, make_selfplay_fn, select_action

__all__ = [
    "ApplyFn",
    "Piecewise",
    "SearchParams",
    "SearchResult",
    "SelfplayBatch",
    "add_root_noise",
    "evaluate",
    "game_progress",
    "make_recurrent_fn",
    "make_selfplay_fn",
    "piecewise",
    "qtransform_alphazero",
    "root_dirichlet_alpha",
    "run_search",
    "schedule_value",
    "select_action",
]
