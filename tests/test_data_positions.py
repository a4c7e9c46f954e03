"""Games -> positions: boards, targets, selectors, augmentation, diff focus, split."""

from __future__ import annotations

import numpy as np
import pytest

from zeroloop.config.data import DiffFocusConfig
from zeroloop.data.chunks import GameRecord, games_to_table
from zeroloop.data.gamebatch import from_chunk_table, game_ids, illegal_games
from zeroloop.data.positions import (
    PositionArrays,
    augment,
    build_positions,
    diff_focus_keep,
    is_test_game,
    iter_position_blocks,
    rotate180,
    select_plies,
)
from zeroloop.data.schemas import game_id
from zeroloop.data.synthetic import random_records
from zeroloop.games import board as B


def _batch(records: list[GameRecord], n: int):
    batch, _, bad = from_chunk_table(games_to_table(records), n, "mem")
    assert not bad
    return batch


def _all_positions(batch) -> PositionArrays:
    return PositionArrays.concat(list(iter_position_blocks(batch, "all", block_rows=50)))


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_positions_match_replay_in_the_movers_frame(n: int) -> None:
    records = random_records(n, 40, seed=n, swap_prob=0.5, with_search=True)
    pos = _all_positions(_batch(records, n))
    i = 0
    for r in records:
        boards = B.replay(n, r.moves, swap=r.swap)
        players = B.players_to_move(r.moves, n * n)
        for t in range(len(r.moves)):
            p = players[t]
            assert np.array_equal(pos.board[i], B.mover_view(boards[t], p).reshape(-1))
            assert np.array_equal(pos.final_board[i], B.mover_view(boards[-1], p).reshape(-1))
            assert pos.value[i] == (1.0 if r.winner == p else -1.0)
            assert pos.swap_legal[i] == (r.swap and t == 1)
            assert pos.ply[i] == t and pos.game_length[i] == len(r.moves)
            assert np.isclose(pos.q[i], r.root_value[t])
            if r.policy_valid[t]:
                want = B.policy_to_mover_frame(r.policy[t] / r.policy[t].sum(), p, n)
            else:
                want = B.policy_to_mover_frame(np.eye(n * n + 1, dtype=np.float32)[r.moves[t]], p, n)
            np.testing.assert_allclose(pos.policy[i], want, atol=1e-6)
            # A playout-capped search is no policy target (its one-hot carries no loss).
            assert pos.policy_weight[i] == (1.0 if r.policy_valid[t] else 0.0)
            i += 1
    assert i == len(pos)


def test_games_without_search_learn_the_move_played() -> None:
    records = random_records(5, 10, seed=3)  # TRMPH-like: no policies at all
    records += random_records(5, 10, seed=4, with_search=True)
    batch = _batch(records, 5)
    pos = _all_positions(batch)
    no_search = ~batch.has_policy[pos.game]
    assert no_search.any() and (pos.policy_weight[no_search] == 1.0).all()
    capped = batch.has_policy[pos.game] & ~pos.from_search
    assert capped.any() and (pos.policy_weight[capped] == 0.0).all()


def test_value_targets_from_the_movers_view_with_a_swap() -> None:
    # 3x3, cell = row * 3 + col. Black b1 (cell 1); white swaps: the stone becomes
    # white's on the mirror cell a2 (cell 3) and black moves again; black then joins
    # c1-b2-b3 (cells 2, 4, 7) top to bottom and wins on the last move.
    n = 3
    moves = [1, 9, 4, 5, 7, 0, 2]
    boards = B.replay(n, moves, swap=True)
    assert B.winner(boards[-1]) == 0 and B.winner(boards[-2]) is None
    rec = GameRecord(board_size=n, moves=np.array(moves, np.int16), winner=0, swap=True)
    pos = _all_positions(_batch([rec], n))
    # Black moves at plies 0, 2 (again, right after the swap), 4, 6; white at 1, 3, 5.
    assert pos.value.tolist() == [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]
    # In black's frame at ply 2 the swapped stone is an opponent stone on cell 3 and
    # black's own first stone is gone.
    assert pos.board[2].tolist() == [0, 0, 0, -1, 0, 0, 0, 0, 0]
    # In white's (transposed) frame at ply 3 it is white's own stone, back on cell 1.
    assert pos.board[3][1] == 1 and pos.board[3][4] == -1
    assert pos.swap_legal.tolist() == [False, True, False, False, False, False, False]


def test_selectors_take_the_right_plies() -> None:
    lengths = np.array([5, 1, 3])
    g, t = select_plies(lengths, "all")
    assert g.tolist() == [0] * 5 + [1] + [2] * 3 and t.tolist() == [0, 1, 2, 3, 4, 0, 0, 1, 2]
    g, t = select_plies(lengths, "final")
    assert g.tolist() == [0, 1, 2] and t.tolist() == [4, 0, 2]
    g, t = select_plies(lengths, "penultimate")
    assert g.tolist() == [0, 2] and t.tolist() == [3, 1]
    with pytest.raises(ValueError, match="selector"):
        select_plies(lengths, "middle")


def test_final_selector_is_the_winning_move() -> None:
    n = 5
    records = random_records(n, 20, seed=3, swap_prob=0.5)
    batch = _batch(records, n)
    g, t = select_plies(batch.lengths, "final")
    pos = build_positions(batch, g, t)
    for i, r in enumerate(records):
        mover = B.players_to_move(r.moves, n * n)[-1]
        assert mover == r.winner and pos.value[i] == 1.0  # the last move wins
        onehot = np.eye(n * n + 1, dtype=np.float32)[r.moves[-1]]
        assert np.array_equal(pos.policy[i], B.policy_to_mover_frame(onehot, mover, n))


def test_rotation_keeps_board_policy_and_final_board_consistent() -> None:
    n = 5
    records = random_records(n, 30, seed=11, swap_prob=0.3, with_search=True)
    pos = _all_positions(_batch(records, n))
    rot = rotate180(pos, n)
    cells = n * n
    for i in range(len(pos)):
        board = pos.board[i].reshape(n, n)
        assert np.array_equal(rot.board[i].reshape(n, n), B.rotate180_board(board))
        assert np.array_equal(
            rot.final_board[i].reshape(n, n), B.rotate180_board(pos.final_board[i].reshape(n, n))
        )
        np.testing.assert_array_equal(rot.policy[i], B.rotate180_policy(pos.policy[i], n))
        # The move played is still an empty cell of the rotated board, with its target.
        a = rot.action[i]
        assert a == cells or rot.board[i][a] == 0
        assert rot.policy[i][a] == pos.policy[i][pos.action[i]]
    # Policy mass only on empty cells (or the swap when legal), before and after.
    for p in (pos, rot):
        mass_on_stones = (p.policy[:, :cells] * (p.board != 0)).sum()
        assert mass_on_stones == 0


def test_augmentation_modes() -> None:
    n = 5
    pos = _all_positions(_batch(random_records(n, 30, seed=2), n))
    rng = np.random.default_rng(0)
    assert augment(pos, "none", n, rng) is pos
    both = augment(pos, "all", n, rng)
    assert len(both) == 2 * len(pos)
    assert np.array_equal(both.board[len(pos) :], rotate180(pos, n).board)
    rnd = augment(pos, "random", n, rng)
    flipped = np.array([not np.array_equal(a, b) for a, b in zip(rnd.board, pos.board, strict=True)])
    same_when_symmetric = np.array([np.array_equal(b, b[::-1]) for b in pos.board])
    frac = flipped[~same_when_symmetric].mean()
    assert 0.35 < frac < 0.65
    rot = rotate180(pos, n)
    for i in np.flatnonzero(flipped):
        assert np.array_equal(rnd.board[i], rot.board[i]) and np.array_equal(rnd.policy[i], rot.policy[i])


def test_diff_focus_follows_lc0() -> None:
    n = 5
    pos = _all_positions(_batch(random_records(n, 40, seed=4, with_search=True), n))
    rng = np.random.default_rng(0)
    assert diff_focus_keep(pos, DiffFocusConfig(enabled=False), rng).all()
    assert diff_focus_keep(pos, DiffFocusConfig(enabled=True, min=1.0, slope=0.0), rng).all()
    # min 0, slope 0: keep probability 0 wherever diff focus applies (search q and policy).
    keep = diff_focus_keep(pos, DiffFocusConfig(enabled=True, min=0.0, slope=0.0), rng)
    applies = pos.from_search & ~np.isnan(pos.q) & (pos.policy[np.arange(len(pos)), pos.action] < 1)
    assert not keep[applies].any() and keep[~applies].all()
    # The keep rate follows min + slope * total on average.
    cfg = DiffFocusConfig(enabled=True, min=0.1, slope=0.5, q_weight=6.0, pol_scale=3.5)
    kld = -np.log(np.clip(pos.policy[np.arange(len(pos)), pos.action], 1e-6, 1))
    total = (6.0 * np.abs(pos.q - pos.value) + kld) / 9.5
    expected = np.clip(0.1 + 0.5 * total, 0, 1)[applies].mean()
    rates = [diff_focus_keep(pos, cfg, np.random.default_rng(s))[applies].mean() for s in range(20)]
    assert abs(np.mean(rates) - expected) < 0.02
    # TRMPH-like games (no search data) are always kept.
    plain = _all_positions(_batch(random_records(n, 10, seed=5), n))
    assert diff_focus_keep(plain, DiffFocusConfig(enabled=True, min=0.0, slope=0.0), rng).all()


def test_game_ids_and_split_are_stable() -> None:
    records = random_records(7, 300, seed=6, swap_prob=0.5)
    batch = _batch(records, 7)
    assert game_ids(7, batch.offsets, batch.moves) == [game_id(7, r.moves) for r in records]
    test = is_test_game(batch.game_ids, 0.2)
    assert np.array_equal(test, is_test_game(list(batch.game_ids), 0.2))
    assert 0.1 < test.mean() < 0.3
    assert not is_test_game(batch.game_ids, 0.0).any()


def test_illegal_games_are_named() -> None:
    n = 3
    moves = [[0, 1, 0], [1, 9, 3], [1, 9, 1, 4], [4, 2, 9], [10], []]
    lengths = np.array([len(m) for m in moves])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.array([x for m in moves for x in m], dtype=np.int16)
    reasons = illegal_games(n, offsets, flat, np.array([True, True, True, True, False, False]))
    assert reasons[0] == "a cell is played twice"
    assert reasons[1] == "a cell is played twice"  # the swapped stone stands on cell 3
    assert 2 not in reasons  # after the swap cell 1 is free again
    assert reasons[3] == "swap anywhere but move 2"
    assert reasons[4].startswith("action off the")
    assert reasons[5] == "game has no moves"
