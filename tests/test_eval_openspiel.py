"""OpenSpiel's hex and ours agree on cells, colours, edges, swap and winners (round trip)."""

import numpy as np
import pytest

from zeroloop.evaluation.agents import legal_moves
from zeroloop.evaluation.openspiel import (
    OpenSpielMCTSAgent,
    from_openspiel_action,
    load_openspiel_game,
    openspiel_board,
    openspiel_state,
    to_openspiel_action,
)
from zeroloop.games.board import players_to_move, replay, winner
from zeroloop.games.trmph import cell_name


@pytest.mark.parametrize("n", [2, 3, 5, 7, 11])
def test_action_mapping_round_trip_and_cell_names(n: int) -> None:
    game = load_openspiel_game(n, swap=True)
    state = game.new_initial_state()
    for move in range(n * n + 1):
        action = to_openspiel_action(move, n)
        assert from_openspiel_action(action, n) == move
        if move < n * n:
            # OpenSpiel names its actions the TRMPH way: column letter, row number.
            assert state.action_to_string(0, action) == cell_name(move, n)
    with pytest.raises(ValueError):
        to_openspiel_action(n * n + 1, n)
    with pytest.raises(ValueError):
        from_openspiel_action(-1, n)


def test_first_player_connects_top_to_bottom() -> None:
    # Column a, rows 1..3: black (player 0, OpenSpiel 'x') wins by joining top and bottom.
    n = 3
    game = load_openspiel_game(n)
    moves = [0, 1, 3, 2, 6]  # a1 (b) b1 (w) a2 (b) c1 (w) a3 (b)
    state = openspiel_state(game, moves, n)
    assert state.is_terminal() and state.returns() == [1.0, -1.0]
    assert winner(replay(n, moves)[-1]) == 0
    # Row 2, columns a..c: white (player 1, 'o') joins left and right.
    moves = [0, 3, 1, 4, 8, 5]
    state = openspiel_state(game, moves, n)
    assert state.is_terminal() and state.returns() == [-1.0, 1.0]
    assert winner(replay(n, moves)[-1]) == 1


@pytest.mark.parametrize("n,swap", [(3, False), (4, True), (5, True), (7, False), (8, True)])
def test_random_games_agree_move_by_move(n: int, swap: bool) -> None:
    """Play random games in both: boards, legal moves, turn and winner agree at every ply."""
    rng = np.random.default_rng(n)
    game = load_openspiel_game(n, swap)
    for _ in range(40):
        state = game.new_initial_state()
        moves: list[int] = []
        while True:
            ours = replay(n, moves, swap=swap)[-1]
            np.testing.assert_array_equal(openspiel_board(state, n), ours)
            w = winner(ours)
            assert state.is_terminal() == (w is not None)
            if w is not None:
                assert state.returns()[w] == 1.0
                break
            legal = sorted(from_openspiel_action(a, n) for a in state.legal_actions())
            assert legal == sorted(legal_moves(moves, n, swap).tolist())
            assert state.current_player() == players_to_move([*moves, 0], n * n)[-1]
            # Swap at move 2 half of the time it is legal, to cover the swap mapping.
            swap_now = swap and len(moves) == 1 and rng.random() < 0.5
            move = n * n if swap_now else int(rng.choice(legal))
            state.apply_action(to_openspiel_action(move, n))
            moves.append(move)


def test_swap_pieces_mirrors_the_stone() -> None:
    # Black b1 = (row 0, col 1); after the swap white owns (row 1, col 0) = a2; black to move.
    n = 3
    game = load_openspiel_game(n, swap=True)
    state = openspiel_state(game, [1, n * n], n)
    board = openspiel_board(state, n)
    assert board[1, 0] == -1 and np.count_nonzero(board) == 1
    assert state.current_player() == 0
    np.testing.assert_array_equal(board, replay(n, [1, n * n], swap=True)[-1])


def test_mcts_agent_plays_legal_moves_and_wins_in_one() -> None:
    n = 3
    agent = OpenSpielMCTSAgent(n, swap=False, simulations=50, seed=0)
    assert agent.name == "mcts:50:c2:r1"
    # Black has a1, a2; a3 wins at once (white to move elsewhere first).
    moves = [0, 4, 3, 8]
    assert agent.choose_moves([moves])[0] == 6
    for move in agent.choose_moves([[], [4], [0, 1]]):
        assert 0 <= move < n * n
