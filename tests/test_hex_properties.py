"""Properties of the Hex rules (hypothesis): the numpy helpers against the JAX env,
the mover's frame, the symmetries, and illegal moves.

The JAX env itself is checked against OpenSpiel and pgx in test_hex_oracles.py; here
the numpy helpers in `zeroloop.games.board` are checked against the JAX env, so both
end up tied to the oracles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroloop.games import board
from zeroloop.games.hex import BLACK, NO_WINNER, WHITE, Hex, HexState

SIZES = (2, 3, 4, 5, 7, 11)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- drawing games with the JAX env --------------------------------------------------


@functools.cache
def _env_fns(board_size: int, swap: bool):
    """(env, jitted step, jitted view) for one size and swap rule, compiled once."""
    env = Hex(board_size, swap)

    def view(state: HexState):
        return (
            env.legal_mask(state),
            env.observation(state),
            env.stones(state),
            state.to_play,
            state.winner,
            state.ply,
        )

    return env, jax.jit(env.step), jax.jit(view)


@dataclass
class Trace:
    """A game played by the JAX env; per position t = 0..T (before move t, then final).

    legal [T+1, N*N+1], obs [T+1, N, N, 3], stones [T+1, N, N], to_play/winner/ply [T+1].
    """

    board_size: int
    swap: bool
    moves: list[int]
    legal: np.ndarray
    obs: np.ndarray
    stones: np.ndarray
    to_play: np.ndarray
    winner: np.ndarray
    ply: np.ndarray
    states: list[HexState]


def play(board_size: int, swap: bool, choices: list[int], take_swap: bool) -> Trace:
    """Play one legal move per entry of `choices` (an index into the legal moves, modulo
    their number), playing the swap whenever it is legal and `take_swap`; stop at the end."""
    env, step, view = _env_fns(board_size, swap)
    state = env.init()
    moves: list[int] = []
    states = [state]
    views = [jax.device_get(view(state))]
    for choice in choices:
        legal = np.flatnonzero(views[-1][0])
        if legal.size == 0:
            break
        move = (
            env.swap_action if take_swap and legal[-1] == env.swap_action else int(legal[choice % legal.size])
        )
        moves.append(move)
        state = step(state, move)
        states.append(state)
        views.append(jax.device_get(view(state)))
    legal, obs, stones, to_play, winner, ply = (np.stack(x) for x in zip(*views, strict=True))
    return Trace(board_size, swap, moves, legal, obs, stones, to_play, winner, ply, states)


@st.composite
def traces(draw: st.DrawFn, swap: bool | None = None, finished: bool = False) -> Trace:
    """A random legal game (or a prefix of one, unless `finished`) played by the JAX env."""
    n = draw(st.sampled_from(SIZES))
    swap = draw(st.booleans()) if swap is None else swap
    take_swap = draw(st.booleans())
    max_moves = n * n + 1
    # Half the games are played to the end; the rest stop after a random number of
    # moves. The choices come from a drawn seed: a drawn list would be short most of
    # the time, and long games are where connections happen.
    length = max_moves if finished else draw(st.one_of(st.just(max_moves), st.integers(0, max_moves)))
    seed = draw(st.integers(0, 2**32 - 1))
    choices = np.random.default_rng(seed).integers(0, 1 << 20, size=length).tolist()
    return play(n, swap, choices, take_swap)


def _one_hot(index: int, size: int) -> np.ndarray:
    v = np.zeros(size, dtype=np.float32)
    v[index] = 1.0
    return v


# ---- numpy replay against the JAX env --------------------------------------------------


@pytest.mark.parametrize("swap", [False, True])
@SETTINGS
@given(data=st.data())
def test_numpy_replay_matches_jax_env_step_by_step(swap: bool, data: st.DataObject) -> None:
    trace = data.draw(traces(swap=swap))
    n, cells = trace.board_size, trace.board_size**2
    boards = board.replay(n, trace.moves, swap=trace.swap)
    movers = board.players_to_move(trace.moves, cells)
    assert boards.shape == (len(trace.moves) + 1, n, n) and boards.dtype == np.int8
    for t in range(len(trace.moves) + 1):
        np.testing.assert_array_equal(boards[t], trace.stones[t], err_msg=f"board before move {t + 1}")
        w = board.winner(boards[t])
        assert (NO_WINNER if w is None else w) == trace.winner[t], f"winner at position {t}"
        # The legal moves by hand from the numpy board: empty cells, plus the swap at
        # move 2 with the rule on, nothing once somebody has won.
        expected = np.zeros(cells + 1, dtype=bool)
        if w is None:
            expected[:cells] = boards[t].reshape(-1) == 0
            expected[cells] = trace.swap and t == 1
        np.testing.assert_array_equal(trace.legal[t], expected, err_msg=f"legal mask at position {t}")
        assert trace.ply[t] == t
        if t < len(trace.moves):
            assert movers[t] == trace.to_play[t], f"player to make move {t + 1}"
    # replay's own end detection (incremental, not the board search above): a move
    # after the win is refused, and not before.
    empty = np.flatnonzero(boards[-1].reshape(-1) == 0)
    if trace.winner[-1] != NO_WINNER and empty.size:
        with pytest.raises(board.IllegalMoveError, match="already over") as err:
            board.replay(n, [*trace.moves, int(empty[0])], swap=trace.swap)
        assert err.value.ply == len(trace.moves)


@SETTINGS
@given(traces(swap=True))
def test_swap_is_the_colour_transpose_of_the_first_stone(trace: Trace) -> None:
    cells = trace.board_size**2
    if len(trace.moves) < 2 or trace.moves[1] != cells:
        return
    # "Swap pieces": the black stone at (r, c) becomes a white stone at (c, r) -- the
    # board after the swap is the colour-swapped transpose of the board before it --
    # and black moves again.
    np.testing.assert_array_equal(trace.stones[2], board.transpose_swap_board(trace.stones[1]))
    assert trace.to_play[1] == WHITE and trace.to_play[2] == BLACK
    assert not trace.legal[2, cells], "a second swap must not be legal"


@SETTINGS
@given(traces(finished=True))
def test_finished_games_have_one_winner_who_connected(trace: Trace) -> None:
    w = int(trace.winner[-1])
    assert w in (0, 1)
    assert trace.to_play[-1] == 1 - w, "the loser would be the next to move"
    assert not trace.legal[-1].any(), "nothing is legal after the end"
    # Every position before the end was still open.
    assert (trace.winner[:-1] == NO_WINNER).all()
    # In the winner's own frame the winner connects top to bottom: one goal for both.
    assert board.winner(board.mover_view(trace.stones[-1], w)) == 0


# ---- the mover's frame -----------------------------------------------------------------


@SETTINGS
@given(traces())
def test_observation_is_the_movers_view(trace: Trace) -> None:
    n, cells = trace.board_size, trace.board_size**2
    for t in range(len(trace.moves) + 1):
        stones, mover, obs = trace.stones[t], int(trace.to_play[t]), trace.obs[t]
        view = board.mover_view(stones, mover)
        np.testing.assert_array_equal(obs[..., 0], view == 1)
        np.testing.assert_array_equal(obs[..., 1], view == -1)
        np.testing.assert_array_equal(obs[..., 2], np.full((n, n), trace.legal[t, cells]))
        # Spelled out: black sees the board as it is; white sees it transposed, so a
        # white stone at (r, c) is the mover's stone at (c, r).
        mine = stones == (1 if mover == BLACK else -1)
        np.testing.assert_array_equal(obs[..., 0], mine if mover == BLACK else mine.T)


@SETTINGS
@given(traces(), st.data())
def test_frame_to_board_maps_actions_and_policies(trace: Trace, data: st.DataObject) -> None:
    n, cells = trace.board_size, trace.board_size**2
    env, _, _ = _env_fns(n, trace.swap)
    t = data.draw(st.integers(0, len(trace.moves)))
    state, mover = trace.states[t], int(trace.to_play[t])
    r, c = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    # A frame action at (r, c) is the board cell (r, c) for black, (c, r) for white.
    target = r * n + c if mover == BLACK else c * n + r
    mapped = np.asarray(env.frame_to_board(state, jnp.asarray(_one_hot(r * n + c, cells + 1))))
    np.testing.assert_array_equal(mapped, _one_hot(target, cells + 1))
    swap = np.asarray(env.frame_to_board(state, jnp.asarray(_one_hot(cells, cells + 1))))
    np.testing.assert_array_equal(swap, _one_hot(cells, cells + 1))
    # The observation planes and the legal mask agree with the mapping: the mover's
    # stones in the frame land on the mover's stones on the board; frame-legal cells
    # map to board-legal cells. numpy's policy_to_mover_frame is the inverse.
    frame_mine = np.append(trace.obs[t][..., 0].reshape(-1), 0.0)
    board_mine = np.asarray(env.frame_to_board(state, jnp.asarray(frame_mine)))[:cells]
    own = 1 if mover == BLACK else -1
    np.testing.assert_array_equal(board_mine, (trace.stones[t].reshape(-1) == own).astype(np.float32))
    policy = data.draw(st.lists(st.floats(0, 1), min_size=cells + 1, max_size=cells + 1))
    policy = np.asarray(policy, dtype=np.float32)
    in_board = np.asarray(env.frame_to_board(state, jnp.asarray(policy)))
    np.testing.assert_array_equal(board.policy_to_mover_frame(in_board, mover, n), policy)


# ---- symmetries ------------------------------------------------------------------------


@SETTINGS
@given(traces())
def test_rotation_maps_games_to_games(trace: Trace) -> None:
    n, cells = trace.board_size, trace.board_size**2
    rotated_moves = [board.rotate180_move(m, n) for m in trace.moves]
    rotated = board.replay(n, rotated_moves, swap=trace.swap)
    for t in range(len(trace.moves) + 1):
        # Playing the rotated moves gives the rotated positions, swap included.
        np.testing.assert_array_equal(rotated[t], board.rotate180_board(trace.stones[t]))
        assert board.winner(rotated[t]) == board.winner(trace.stones[t])
        # The legal mask turns with the board (the swap entry stays put).
        legal_rot = board.rotate180_policy(trace.legal[t].astype(np.float32), n)
        expected = np.zeros(cells + 1, dtype=bool)
        if board.winner(rotated[t]) is None:
            expected[:cells] = rotated[t].reshape(-1) == 0
            expected[cells] = trace.legal[t, cells]
        np.testing.assert_array_equal(legal_rot.astype(bool), expected)
    for m, rm in zip(trace.moves, rotated_moves, strict=True):
        # The move, as a policy vector, turns like the move itself.
        np.testing.assert_array_equal(
            board.rotate180_policy(_one_hot(m, cells + 1), n), _one_hot(rm, cells + 1)
        )
    # The array forms are the same map: a move list at once (dtype kept), flat boards.
    as_array = board.rotate180_move(np.asarray(trace.moves, dtype=np.int16), n)
    assert as_array.dtype == np.int16 and as_array.tolist() == rotated_moves
    flat = trace.stones.reshape(len(trace.stones), cells)
    np.testing.assert_array_equal(board.rotate180_cells(flat, n), rotated.reshape(len(rotated), cells))


@pytest.mark.parametrize("n", SIZES)
def test_rotation_is_the_half_turn(n: int) -> None:
    for r in range(n):
        for c in range(n):
            assert board.rotate180_move(r * n + c, n) == (n - 1 - r) * n + (n - 1 - c)
    grid = np.arange(n * n).reshape(n, n)
    np.testing.assert_array_equal(board.rotate180_board(grid), np.rot90(grid, 2))


def test_players_alternate_through_a_swap() -> None:
    env = Hex(3, swap=True)
    # Black b1 (cell 1); white swaps (the stone becomes white's at a2 = cell 3); black moves
    # again and wins down c1 (2) - b2 (4) - b3 (7).
    moves = [1, 9, 4, 0, 2, 5, 7]
    state, to_play = env.init(), []
    for m in moves:
        to_play.append(int(state.to_play))
        state = env.step(state, m)
    assert int(state.winner) == 0 and to_play == [0, 1, 0, 1, 0, 1, 0]
    movers = board.players_to_move(moves, swap_action=9)
    assert movers.dtype == np.int8 and movers.tolist() == to_play
    assert [board.mover_at(t) for t in range(len(moves) + 1)] == [*to_play, int(state.to_play)]
    np.testing.assert_array_equal(board.mover_at(np.arange(len(moves))), to_play)
    with pytest.raises(ValueError, match="second move"):
        board.players_to_move([0, 1, 9], swap_action=9)


@SETTINGS
@given(traces())
def test_transpose_with_colours_swapped(trace: Trace) -> None:
    n, cells = trace.board_size, trace.board_size**2
    for t in range(len(trace.moves) + 1):
        stones = trace.stones[t]
        mirrored = board.transpose_swap_board(stones)
        w = board.winner(stones)
        # Black's top-bottom chain becomes white's left-right chain and vice versa.
        assert board.winner(mirrored) == (None if w is None else 1 - w)
        # Either player sees the same thing in the mirrored game with roles swapped:
        # this is why one network serves both colours.
        for p in (BLACK, WHITE):
            np.testing.assert_array_equal(board.mover_view(stones, p), board.mover_view(mirrored, 1 - p))
    for t, m in enumerate(trace.moves):
        if m == cells:
            continue
        # The move played on the mirrored board is the mirrored move, by the other colour.
        before = board.transpose_swap_board(trace.stones[t]).reshape(-1).copy()
        tm = board.transpose_move(m, n)
        assert before[tm] == 0
        before[tm] = -1 if trace.to_play[t] == BLACK else 1
        np.testing.assert_array_equal(before, board.transpose_swap_board(trace.stones[t + 1]).reshape(-1))
        np.testing.assert_array_equal(
            board.transpose_policy(_one_hot(m, cells + 1), n), _one_hot(tm, cells + 1)
        )


@given(st.sampled_from(SIZES), st.data())
@settings(max_examples=30, deadline=None)
def test_move_maps_are_involutions(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(0, n * n))
    assert board.rotate180_move(board.rotate180_move(m, n), n) == m
    assert board.transpose_move(board.transpose_move(m, n), n) == m
    assert board.transpose_move(n * n, n) == n * n and board.rotate180_move(n * n, n) == n * n


# ---- illegal moves ---------------------------------------------------------------------


def _same_state(a: HexState, b: HexState) -> bool:
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(a, b, strict=True))


@SETTINGS
@given(traces(), st.data())
def test_illegal_moves(trace: Trace, data: st.DataObject) -> None:
    """numpy raises IllegalMoveError with a clear reason; JAX masks the move and ignores it."""
    n, cells = trace.board_size, trace.board_size**2
    env, step, _ = _env_fns(n, trace.swap)
    t = data.draw(st.integers(0, len(trace.moves)))
    prefix, state, legal = trace.moves[:t], trace.states[t], trace.legal[t]
    over = trace.winner[t] != NO_WINNER

    candidates: list[tuple[int, str]] = [
        (data.draw(st.integers(cells + 1, 10_000)), "off the"),
        (data.draw(st.integers(-10_000, -1)), "off the"),
    ]
    occupied = np.flatnonzero(trace.stones[t].reshape(-1))
    if occupied.size:
        candidates.append((int(data.draw(st.sampled_from(occupied))), "already occupied"))
    if not legal[cells]:
        reason = "swap is not allowed" if not trace.swap else "only allowed as the second move"
        candidates.append((cells, reason))
    if over:
        empty = np.flatnonzero(trace.stones[t].reshape(-1) == 0)
        if empty.size:
            candidates.append((int(data.draw(st.sampled_from(empty))), "already over"))
    move, reason = data.draw(st.sampled_from(candidates))
    if over and reason != "already over":
        reason = "already over"  # with check_end on, the end is reported first

    with pytest.raises(board.IllegalMoveError) as err:
        board.replay(n, [*prefix, move], swap=trace.swap)
    assert err.value.ply == t and err.value.move == move
    assert reason in str(err.value), str(err.value)
    assert str(err.value).startswith(f"move {t + 1} ({move}): ")
    if 0 <= move < cells:
        r, c = divmod(move, n)
        if reason == "already occupied":
            assert f"(row {r}, col {c})" in str(err.value)

    # JAX: masked, and stepping with it changes nothing (no exception under jit/vmap).
    if 0 <= move <= cells:
        assert not legal[move]
    assert _same_state(step(state, move), state)


def test_illegal_move_messages_are_specific() -> None:
    cases = [
        (3, [4, 4], False, "move 2 (4): cell 4 (row 1, col 1) is already occupied"),
        (3, [0, 9], False, "move 2 (9): swap is not allowed (the swap rule is off)"),
        (3, [9], True, "move 1 (9): swap is only allowed as the second move"),
        (3, [0, 1, 9], True, "move 3 (9): swap is only allowed as the second move"),
        (3, [0, 10], True, "move 2 (10): action 10 is off the 3x3 board (cells are 0..8, swap is 9)"),
        (3, [0, 1, 3, 2, 6, 5], False, "move 6 (5): the game was already over (a player had connected)"),
    ]
    for n, moves, swap, message in cases:
        with pytest.raises(board.IllegalMoveError) as err:
            board.replay(n, moves, swap=swap)
        assert str(err.value) == message
    # check_end=False lets a record run past the end (as TRMPH tools need).
    assert board.replay(3, [0, 1, 3, 2, 6, 5], check_end=False).shape == (7, 3, 3)


def test_jax_out_of_range_actions_are_no_ops_under_vmap() -> None:
    # jnp indexing wraps negative and clamps large indices; neither may turn an
    # off-board action into the swap or a cell.
    env = Hex(3, swap=True)
    state = env.step(env.init(), 4)  # ply 1: the swap is legal
    batch = jax.tree.map(lambda x: jnp.stack([x] * 5), state)
    actions = jnp.array([-1, -10, 10, 99, 9])
    out = jax.jit(jax.vmap(env.step))(batch, actions)
    for i in range(4):
        assert _same_state(jax.tree.map(lambda x, i=i: x[i], out), state)
    swapped = jax.tree.map(lambda x: x[4], out)
    assert int(swapped.ply) == 2 and int(swapped.to_play) == BLACK
    np.testing.assert_array_equal(np.asarray(env.stones(swapped)), [[0, 0, 0], [0, -1, 0], [0, 0, 0]])


def test_constructor_and_shapes() -> None:
    with pytest.raises(ValueError, match="board_size"):
        Hex(1)
    with pytest.raises(ValueError, match="board_size"):
        Hex(20)
    env = Hex(5, swap=True)
    s = env.init()
    assert env.num_actions == 26 and env.swap_action == 25
    assert env.legal_mask(s).shape == (26,) and env.observation(s).shape == (5, 5, 3)
    assert s.labels.dtype == jnp.int16 and s.to_play.dtype == jnp.int8
    assert float(env.reward(s, 0)) == 0.0
