"""Our network plus search as an arena / GTP / play agent.

The agent replays each game's move list into a `HexState` and searches all of them
in one jitted call of `zeroloop.search.mcts.run_search` (the self-play search), with
root noise off, and plays the most visited move (PUCT) or the action Gumbel's
sequential halving picks. Every call is padded to `batch_size` games so that a match
compiles the search once: on a CPU one compilation costs as much as a thousand calls,
far more than the padded tail of a match wastes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from zeroloop.config.game import GameConfig
from zeroloop.config.mcts import MctsConfig
from zeroloop.config.model import ModelConfig
from zeroloop.evaluation.agents import AgentSpec
from zeroloop.games.hex import Hex, HexState
from zeroloop.model.file import load_model_file
from zeroloop.model.network import PolicyValueNet, create_model, inference_fn
from zeroloop.search.mcts import ApplyFn, SearchParams, run_search

log = logging.getLogger(__name__)

# (env, search params) -> (graphdef, jitted select_moves). Agents of one process share
# the compiled search when their nets have the same structure (candidate and best
# model, successive generations): only the weights differ, and they are an argument.
_SELECT_CACHE: dict[tuple[Hex, SearchParams], tuple[Any, Any]] = {}


def replay_states(env: Hex, moves: jax.Array, lengths: jax.Array) -> HexState:
    """Replay padded move lists into states.

    moves:   int32 [B, L] board-frame moves, entries at t >= lengths[b] are ignored.
    lengths: int32 [B].
    Returns a HexState with batch shape [B].
    """
    batch = moves.shape[0]
    init = jax.vmap(lambda _: env.init())(jnp.arange(batch))

    def body(states: HexState, t: jax.Array) -> tuple[HexState, None]:
        stepped = jax.vmap(env.step)(states, moves[:, t])
        keep = t < lengths
        merged = jax.tree.map(
            lambda new, old: jnp.where(keep.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
            stepped,
            states,
        )
        return merged, None

    states, _ = jax.lax.scan(body, init, jnp.arange(moves.shape[1]))
    return states


def select_moves(
    env: Hex,
    apply: ApplyFn,
    sp: SearchParams,
    params: Any,
    rng_key: jax.Array,
    moves: jax.Array,
    lengths: jax.Array,
) -> jax.Array:
    """Best move for each padded move list: int32 [B] board frame (see `replay_states`)."""
    states = replay_states(env, moves, lengths)
    result = run_search(env, apply, sp, params, rng_key, states, jnp.zeros(moves.shape[0], jnp.float32))
    if sp.mode == "gumbel":
        return result.action
    # Most visits; the search policy breaks ties (it is 0 on illegal moves, so a tie at
    # zero visits cannot pick an illegal move while a legal one has visits).
    legal = jax.vmap(env.legal_mask)(states)
    score = jnp.where(legal, result.visit_counts.astype(jnp.float32) + 0.5 * result.policy, -1.0)
    return jnp.argmax(score, axis=-1).astype(jnp.int32)


def _compiled_select(env: Hex, sp: SearchParams, model: PolicyValueNet) -> tuple[Any, Any]:
    """(jitted select_moves(params, key, moves, lengths), params of `model`)."""
    apply, graphdef, params = inference_fn(model)
    hit = _SELECT_CACHE.get((env, sp))
    if hit is not None and hit[0] == graphdef:
        return hit[1], params
    select = jax.jit(partial(select_moves, env, apply, sp))
    _SELECT_CACHE[(env, sp)] = (graphdef, select)
    return select, params


class ModelAgent:
    """A policy/value network searching `sp.num_simulations` per move, noise off."""

    def __init__(
        self,
        model: PolicyValueNet,
        game: GameConfig,
        sp: SearchParams,
        name: str = "model",
        seed: int = 0,
        batch_size: int = 32,
    ) -> None:
        self.name = name
        self.game = game
        self.env = Hex(game.board_size, game.swap)
        self.search_params = sp
        self.batch_size = batch_size
        self._select, self._params = _compiled_select(self.env, sp, model)
        self._key = jax.random.PRNGKey(seed)
        self._max_len = self.env.num_cells + 1  # every cell plus a swap

    @classmethod
    def from_spec(
        cls,
        spec: AgentSpec,
        game: GameConfig,
        mcts: MctsConfig,
        simulations: int,
        model_config: ModelConfig | None = None,
        seed: int = 0,
        batch_size: int = 32,
    ) -> ModelAgent:
        """Load the spec's model file (or make a random-weights net) for `game`."""
        if spec.path is None:
            model = create_model(model_config or ModelConfig(), seed=seed)
        else:
            model, header = load_model_file(spec.path)
            if header.game.board_size != game.board_size:
                # The net is fully convolutional, so it runs; it was just not trained for it.
                log.warning(
                    "%s was trained on %dx%d, playing %dx%d",
                    spec.path,
                    header.game.board_size,
                    header.game.board_size,
                    game.board_size,
                    game.board_size,
                )
        sp = SearchParams.from_config(mcts, num_simulations=simulations)
        label = spec.label or AgentSpec("model", simulations, spec.path, digest=spec.digest).name
        return cls(model, game, sp, name=label, seed=seed, batch_size=batch_size)

    def set_params(self, params: Any) -> None:
        """New weights of the same structure (no recompilation)."""
        self._params = params

    def choose_moves(self, games: Sequence[Sequence[int]]) -> list[int]:
        out: list[int] = []
        for start in range(0, len(games), self.batch_size):
            chunk = games[start : start + self.batch_size]
            size = self.batch_size
            moves = np.zeros((size, self._max_len), np.int32)
            lengths = np.zeros(size, np.int32)
            for i, m in enumerate(chunk):
                moves[i, : len(m)] = m
                lengths[i] = len(m)
            self._key, key = jax.random.split(self._key)
            chosen = self._select(self._params, key, jnp.asarray(moves), jnp.asarray(lengths))
            out.extend(int(a) for a in np.asarray(chosen)[: len(chunk)])
        return out
