"""Hex rules as a jittable, vmappable JAX environment.

Conventions (see docs/hex.md):

* Board N x N, cell index = row * N + col, row 0 at the top, col 0 at the left.
  Action N*N is the swap (pie) move; the action space is always N*N + 1 so that
  array shapes do not depend on whether the swap rule is on (it is masked off).
* Player 0 ("black", moves first) connects the top row to the bottom row;
  player 1 ("white") connects the left column to the right column.
* Neighbours of (r, c): (r-1, c), (r-1, c+1), (r, c-1), (r, c+1), (r+1, c-1), (r+1, c).
* Swap is "swap pieces": black's first stone at (r, c) is replaced by a white stone
  at (c, r) and black moves again.
* Observations are from the mover's view and *transposed for white*, so the mover
  always connects top to bottom. The network therefore learns one goal only; search
  code maps policies between the mover's frame and the board with `frame_to_board`.

State is compact (one int16 per cell plus three scalars) because mctx keeps one
state per tree node. Each cell holds a connected-component label: 0 empty, +k a
black group, -k a white group, where k-1 is the index of a cell of the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# The numpy-only geometry lives in its own module so the data workers need no JAX;
# re-exported here because the environment and its users know it by these names.
from zeroloop.games.geometry import (  # noqa: F401
    BLACK,
    NO_WINNER,
    NUM_OBS_PLANES,
    WHITE,
    neighbour_table,
    transpose_permutation,
)


class HexState(NamedTuple):
    """One game (add a leading batch axis with vmap).

    labels:  int16 [N*N]  component labels: 0 empty, >0 black group, <0 white group.
    to_play: int8  []     0 black, 1 white.
    ply:     int16 []     moves made so far (the swap counts as a move).
    winner:  int8  []     -1 while the game goes on, else 0 or 1.
    """

    labels: jax.Array
    to_play: jax.Array
    ply: jax.Array
    winner: jax.Array


@dataclass(frozen=True)
class Hex:
    """Hex of a fixed size; all methods are pure and jittable (the instance is static)."""

    board_size: int
    swap: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.board_size <= 19:
            raise ValueError(f"board_size must be in 2..19, got {self.board_size}")

    @property
    def num_cells(self) -> int:
        """N*N."""
        return self.board_size * self.board_size

    @property
    def num_actions(self) -> int:
        """N*N + 1: every cell plus the swap, whether or not the swap rule is on."""
        return self.num_cells + 1

    @property
    def swap_action(self) -> int:
        """N*N."""
        return self.num_cells

    @cached_property
    def _neighbours(self) -> np.ndarray:
        return neighbour_table(self.board_size)

    @cached_property
    def _transpose(self) -> np.ndarray:
        return transpose_permutation(self.board_size)

    # ---- core rules -------------------------------------------------------------------

    def init(self) -> HexState:
        """The empty board, black to play."""
        return HexState(
            labels=jnp.zeros(self.num_cells, jnp.int16),
            to_play=jnp.array(BLACK, jnp.int8),
            ply=jnp.array(0, jnp.int16),
            winner=jnp.array(NO_WINNER, jnp.int8),
        )

    def is_terminal(self, state: HexState) -> jax.Array:
        """bool []: somebody has connected (Hex has no draws)."""
        return state.winner != NO_WINNER

    def legal_mask(self, state: HexState) -> jax.Array:
        """bool [N*N+1]: empty cells, plus swap at ply 1 when the rule is on; none at the end."""
        live = ~self.is_terminal(state)
        cells = (state.labels == 0) & live
        swap_ok = jnp.asarray(self.swap) & (state.ply == 1) & live
        return jnp.concatenate([cells, swap_ok[None]])

    def step(self, state: HexState, action: jax.Array) -> HexState:
        """Play `action` (int [], board frame) and return the next state.

        An illegal action (off the board, an occupied cell, a swap where none is
        allowed, any move after the end) leaves the state unchanged: under `vmap` there
        is no way to raise, and search masks illegal actions anyway. Callers that need
        to know should check `legal_mask(state)[action]` first.
        """
        action = jnp.asarray(action, jnp.int32)
        # jnp indexing wraps negative indices and clamps large ones, so an
        # out-of-range action must be rejected before it is used as an index.
        in_range = (action >= 0) & (action < self.num_actions)
        safe = jnp.where(in_range, action, 0)
        legal = in_range & self.legal_mask(state)[safe]
        is_swap = safe == self.swap_action
        placed = self._place(state, jnp.minimum(safe, self.num_cells - 1))
        if self.swap:
            swapped = self._swap(state)
            new = jax.tree.map(lambda s, p: jnp.where(is_swap, s, p), swapped, placed)
        else:
            new = placed  # the swap is never legal; skip computing it
        return jax.tree.map(lambda n, o: jnp.where(legal, n, o), new, state)

    def _place(self, state: HexState, cell: jax.Array) -> HexState:
        sign = jnp.where(state.to_play == BLACK, 1, -1).astype(jnp.int16)
        new_label = (cell.astype(jnp.int16) + 1) * sign
        neighbour_labels = state.labels[jnp.asarray(self._neighbours)[cell]]  # [6]
        # Same-coloured neighbour groups merge into the new one. Other slots get
        # `new_label` as a filler that matches no cell: labels name a cell of their
        # group and `cell` is still empty, so no group carries that label yet.
        merging = jnp.where(neighbour_labels * sign > 0, neighbour_labels, new_label)
        joins = (state.labels[:, None] == merging[None, :]).any(-1)
        labels = jnp.where(joins, new_label, state.labels).at[cell].set(new_label)
        won = self._connects(labels, new_label, state.to_play)
        return HexState(
            labels=labels,
            to_play=(1 - state.to_play).astype(jnp.int8),
            ply=state.ply + 1,
            winner=jnp.where(won, state.to_play, NO_WINNER).astype(jnp.int8),
        )

    def _swap(self, state: HexState) -> HexState:
        # At ply 1 exactly one black stone stands, labelled (its cell + 1); it becomes
        # a white stone on the mirrored cell, labelled -(that cell + 1).
        first = state.labels.max().astype(jnp.int32) - 1
        mirrored = jnp.asarray(self._transpose)[first]
        cells = jnp.arange(self.num_cells, dtype=jnp.int32)
        labels = jnp.where(cells == mirrored, -(mirrored + 1), 0).astype(jnp.int16)
        return HexState(
            labels=labels,
            to_play=jnp.array(BLACK, jnp.int8),
            ply=state.ply + 1,
            winner=state.winner,
        )

    def _connects(self, labels: jax.Array, group: jax.Array, player: jax.Array) -> jax.Array:
        """Does `group` (the label of the stone just placed) touch both of `player`'s edges?

        Only the group that grew can have made a new connection, so checking its label
        on the two edges is enough (O(N) instead of comparing every edge pair).
        """
        n = self.board_size
        grid = labels.reshape(n, n)
        first = jnp.where(player == BLACK, grid[0, :], grid[:, 0])
        last = jnp.where(player == BLACK, grid[n - 1, :], grid[:, n - 1])
        return (first == group).any() & (last == group).any()

    # ---- views ------------------------------------------------------------------------

    def stones(self, state: HexState) -> jax.Array:
        """int8 [N, N] board frame: +1 black, -1 white, 0 empty."""
        return jnp.sign(state.labels).astype(jnp.int8).reshape(self.board_size, self.board_size)

    def observation(self, state: HexState) -> jax.Array:
        """float32 [N, N, 3], mover's frame: mover's stones, opponent's, swap legal.

        For white the board is transposed so the mover always connects top to bottom.
        """
        board = self.stones(state)
        mover = jnp.where(state.to_play == BLACK, board, -board.T)
        swap_plane = jnp.broadcast_to(self.legal_mask(state)[-1], mover.shape)
        return jnp.stack([mover == 1, mover == -1, swap_plane], axis=-1).astype(jnp.float32)

    def frame_to_board(self, state: HexState, values: jax.Array) -> jax.Array:
        """Map a per-action vector [N*N+1] from the mover's frame to the board frame.

        The transpose is an involution, so the same call maps board -> frame.
        """
        return jnp.where(state.to_play == BLACK, values, values[jnp.asarray(self._transpose)])

    def reward(self, state: HexState, player: jax.Array) -> jax.Array:
        """float32 []: +1 if `player` (0 or 1) has won, -1 if lost, 0 while the game goes on."""
        return jnp.where(state.winner == NO_WINNER, 0.0, jnp.where(state.winner == player, 1.0, -1.0))
