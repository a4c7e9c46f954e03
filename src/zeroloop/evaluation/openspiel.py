"""OpenSpiel's `hex` game and MCTS bot as a reference opponent.

Move mapping (checked by a round-trip test, tests/test_eval_openspiel.py):

* OpenSpiel's hex action for the cell in row r, column c is `r * num_cols + c`,
  row 0 at the top, column 0 at the left; `action_to_string` writes it like TRMPH
  (`b1` = column b, row 1). That is our board-frame cell index, so on square boards
  the mapping is the identity.
* With `swap=True` OpenSpiel's action N*N is "swap" and, like ours, it swaps pieces:
  black's stone at (r, c) becomes a white stone at (c, r) and black moves again.
  Our swap action is also N*N.
* OpenSpiel's player 0 ('x') connects top to bottom (north-south) and moves first:
  our black (player 0). Player 1 ('o') connects left to right: our white.
  `returns()[p]` is +1 for the winner.

The mapping functions still check their input, so a change of convention upstream
fails loudly instead of silently playing the wrong cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

OPENSPIEL_GAME = "hex"


def load_openspiel_game(board_size: int, swap: bool = False) -> Any:
    """pyspiel's hex at our board size; the swap parameter is passed only when on."""
    import pyspiel  # optional heavy import: only reference-opponent code needs it

    params: dict[str, Any] = {"board_size": board_size}
    if swap:
        params["swap"] = True
    return pyspiel.load_game(OPENSPIEL_GAME, params)


def to_openspiel_action(move: int, board_size: int) -> int:
    """Our board-frame move (cell r*N+c, or N*N = swap) -> OpenSpiel hex action."""
    if not 0 <= move <= board_size * board_size:
        raise ValueError(f"move {move} is not an action on a {board_size}x{board_size} board")
    return int(move)


def from_openspiel_action(action: int, board_size: int) -> int:
    """OpenSpiel hex action -> our board-frame move (the inverse of `to_openspiel_action`)."""
    if not 0 <= action <= board_size * board_size:
        raise ValueError(f"OpenSpiel action {action} is not on a {board_size}x{board_size} board")
    return int(action)


def openspiel_state(game: Any, moves: Sequence[int], board_size: int) -> Any:
    """A pyspiel state after our board-frame `moves`."""
    state = game.new_initial_state()
    for move in moves:
        state.apply_action(to_openspiel_action(int(move), board_size))
    return state


def openspiel_board(state: Any, board_size: int) -> np.ndarray:
    """int8 [N, N] in our board frame (+1 black, -1 white) read from a pyspiel hex state.

    Parses the state's text picture: row r is line r, cells separated by spaces; 'x'
    is player 0 and 'o' player 1 (upper case marks in other string modes count too).
    """
    lines = [ln.split() for ln in str(state).strip("\n").splitlines() if ln.strip()]
    if len(lines) != board_size or any(len(ln) != board_size for ln in lines):
        raise ValueError(f"unexpected OpenSpiel hex picture:\n{state}")
    marks = {"x": 1, "o": -1, ".": 0}
    return np.array([[marks[c.lower()] for c in ln] for ln in lines], dtype=np.int8)


class OpenSpielMCTSAgent:
    """OpenSpiel's `MCTSBot` (UCT) with random-rollout leaf evaluation.

    It plays one game at a time (pure Python), so a batch is a loop; its strength is
    set by `simulations`. `solve=True` lets it back up proven wins and losses, as the
    bot does by default.
    """

    def __init__(
        self,
        board_size: int,
        swap: bool,
        simulations: int,
        uct_c: float = 2.0,
        rollouts: int = 1,
        seed: int = 0,
    ) -> None:
        from open_spiel.python.algorithms import mcts

        self.name = f"mcts:{simulations}:c{uct_c:g}:r{rollouts}"  # as AgentSpec.name
        self.board_size = board_size
        self.simulations = simulations
        self._game = load_openspiel_game(board_size, swap)
        self._rng = np.random.RandomState(seed)
        evaluator = mcts.RandomRolloutEvaluator(n_rollouts=rollouts, random_state=self._rng)
        self._bot = mcts.MCTSBot(
            self._game, uct_c, simulations, evaluator, solve=True, random_state=self._rng
        )

    def choose_moves(self, games: Sequence[Sequence[int]]) -> list[int]:
        """One move for each position given by its move list (board frame)."""
        out = []
        for moves in games:
            state = openspiel_state(self._game, moves, self.board_size)
            out.append(from_openspiel_action(int(self._bot.step(state)), self.board_size))
        return out
