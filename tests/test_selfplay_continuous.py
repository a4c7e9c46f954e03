"""Continuous self-play: slots restart at once, never search a terminal state, never mix games."""

from __future__ import annotations

import numpy as np
import pytest

from zeroloop.config import load_config
from zeroloop.games import board
from zeroloop.search.selfplay import full_search_count
from zeroloop.workers.selfplay_actor import SelfplayWorker

TINY = [
    "model.blocks=1",
    "model.channels=8",
    "model.value_hidden=8",
    "mcts.num_simulations=8",
    "mcts.cheap_simulations=2",
    "selfplay.compilation_cache_dir=null",
]


@pytest.fixture(scope="module")
def worker() -> SelfplayWorker:
    """3x3 with swap, playout-cap randomisation and the edge input.

    Games of 3-10 plies, so slots restart often.
    """
    config = load_config(
        None,
        [
            *TINY,
            "game.board_size=3",
            "game.swap=true",
            "mcts.playout_cap_fraction=0.5",
            "model.edge_input=true",
        ],
    )
    return SelfplayWorker(config, worker=0, batch_size=8)


@pytest.fixture(scope="module")
def calls(worker: SelfplayWorker) -> list[tuple[object, dict[str, int]]]:
    return [worker.play_continuous(seed, games) for seed, games in ((1, 8), (2, 3), (3, 8), (4, 5))]


def test_returns_exactly_the_games_asked_for(calls) -> None:
    for (batch, stats), wanted in zip(calls, (8, 3, 8, 5), strict=True):
        finished = int((batch.winner >= 0).sum())
        assert finished == stats["finished"] == wanted
        assert stats["searched_rows"] == stats["plies"] * 8


def test_never_searches_a_terminal_state(calls) -> None:
    assert [s["terminal_searched"] for _, s in calls] == [0, 0, 0, 0]


def test_each_record_is_one_whole_game(worker: SelfplayWorker, calls) -> None:
    n = worker.env.board_size
    a = n * n + 1
    for batch, _ in calls:
        for i in np.flatnonzero(batch.winner >= 0):
            t = int(batch.length[i])
            moves = batch.actions[i, :t]
            boards = board.replay(n, moves, swap=True)  # raises on an illegal move
            assert board.winner(boards[-1]) == int(batch.winner[i])
            assert board.winner(boards[-2]) is None  # ended on its last move, began on an empty board
            # Nothing of the slot's previous game is left behind this one.
            assert np.all(batch.actions[i, t:] == -1)
            assert not batch.policy[i, t:].any() and not batch.policy_valid[i, t:].any()
            for ply in range(t):
                legal = np.zeros(a, bool)
                legal[: n * n] = boards[ply].reshape(-1) == 0
                legal[n * n] = ply == 1
                p = batch.policy[i, ply]
                assert np.all(p[~legal] == 0) and p.sum() == pytest.approx(1.0, abs=1e-5)
                assert legal[moves[ply]]


def test_games_in_flight_carry_over(worker: SelfplayWorker, calls) -> None:
    # The second call wanted 3 games: the 5+ slots still playing went on into the third call,
    # so the third call needed fewer plies than a batch started from scratch.
    assert all(s["plies"] >= 1 for _, s in calls)
    worker.set_weights(None)  # new weights start fresh games
    assert worker._slots is None


def test_no_searched_row_is_lost_between_calls() -> None:
    # Every row searched since the slots were made belongs to a game handed out or one
    # still in its slot: games that end beyond a call's target are held, not dropped.
    # 8 slots and calls of 1-2 games on 3x3, so several games often end at a call's last ply.
    w = SelfplayWorker(load_config(None, [*TINY, "game.board_size=3"]), batch_size=8)
    searched = written = held_over = 0
    for seed in range(1, 25):
        batch, stats = w.play_continuous(seed, 1 + seed % 2)
        assert stats["terminal_searched"] == 0 and stats["finished"] == 1 + seed % 2
        searched += stats["searched_rows"]
        written += int(batch.length[batch.winner >= 0].sum())
        held_over += int(np.asarray(w._slots.held).sum())
    in_slots = int(np.asarray(w._slots.states.ply).sum())  # a held game's plies included
    assert held_over > 0  # the case this test is about happened
    assert searched == written + in_slots


def test_playout_cap_splits_each_ply_exactly_and_openings_are_random() -> None:
    config = load_config(
        None,
        [*TINY, "game.board_size=4", "mcts.playout_cap_fraction=0.75", "mcts.random_opening_plies=1"],
    )
    w = SelfplayWorker(config, batch_size=8)
    lock = w.play(seed=5)
    k = full_search_count(8, 0.75)
    assert k == 2
    live = np.arange(lock.actions.shape[1])[None, :] < lock.length[:, None]
    everyone = np.flatnonzero(live.all(axis=0))
    assert len(everyone) > 3
    # Ply 0 is a random opening move: no policy target; then exactly k full searches a ply.
    assert lock.policy_valid[:, 0].sum() == 0
    assert len(set(lock.actions[:, 0].tolist())) > 1
    for t in everyone[1:]:
        assert lock.policy_valid[:, t].sum() == k
    # Over the whole batch each game's plies are full at rate ~k/B, not all-or-nothing per ply.
    assert 0 < lock.policy_valid[live].mean() < 1
    assert full_search_count(8, 0.0) == 8 and full_search_count(8, 1.0) == 0


def test_resignation_ends_games_and_spares_resign_free_ones() -> None:
    # Threshold 0 and one move: a player resigns at its first move with a negative root value.
    config = load_config(
        None,
        [
            *TINY,
            "game.board_size=3",
            "selfplay.resign_threshold=0.0",
            "selfplay.resign_consecutive=1",
            "selfplay.resign_free_share=0.5",
        ],
    )
    w = SelfplayWorker(config, batch_size=8)
    resigned = free = 0
    for seed in range(1, 4):
        batch, stats = w.play_continuous(seed, 8)
        assert stats["terminal_searched"] == 0
        for i in np.flatnonzero(batch.winner >= 0):
            t = int(batch.length[i])
            boards = board.replay(3, batch.actions[i, :t], swap=False, check_end=False)
            if batch.resigned[i]:
                resigned += 1
                assert not batch.resign_free[i]  # resign-free games never resign
                assert board.winner(boards[-1]) is None  # nobody had connected yet
                assert int(batch.winner[i]) == 1 - t % 2  # the player to move at ply t gave up
                assert batch.actions[i, t] == -1 and not batch.policy[i, t].any()
            else:
                assert board.winner(boards[-1]) == int(batch.winner[i])
            free += int(batch.resign_free[i])
        assert stats["resigned"] == int(batch.resigned[batch.winner >= 0].sum())
    assert resigned > 0 and free > 0
