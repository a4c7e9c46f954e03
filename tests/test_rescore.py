"""The rescorer relabels exactly the near-final positions and leaves the rest byte-identical.

The expected values come from a brute-force negamax written here (terminal test:
`zeroloop.games.board.winner`), not from the solver.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from zeroloop.config.data import RescoreConfig
from zeroloop.data.gamebatch import from_trmph_games
from zeroloop.data.positions import PositionArrays, iter_position_blocks
from zeroloop.data.rescore import rescore_positions
from zeroloop.games import board as hexboard
from zeroloop.games.trmph import TrmphGame

N = 4


@functools.cache
def mover_wins(cells: tuple[int, ...]) -> bool:
    """Mover's frame (+1 mover, top to bottom): does the mover win? Plain negamax."""
    board = np.array(cells, np.int8).reshape(N, N)
    for i in np.flatnonzero(board.reshape(-1) == 0):
        child = board.copy().reshape(-1)
        child[i] = 1
        if hexboard.winner(child.reshape(N, N)) == 0:
            return True
        # The opponent moves next: swap roles by negating and transposing.
        flipped = tuple((-child.reshape(N, N).T).reshape(-1).tolist())
        if not mover_wins(flipped):
            return True
    return False


def positions(games: int = 25, seed: int = 0) -> PositionArrays:
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(games):
        order = rng.permutation(N * N).tolist()
        moves: list[int] = []
        for m in order:
            moves.append(m)
            w = hexboard.winner(hexboard.replay(N, moves)[-1])
            if w is not None:
                break
        records.append(TrmphGame(N, tuple(moves), w, False))
    batch, bad = from_trmph_games(records, N, False, "test")
    assert not bad
    return PositionArrays.concat(list(iter_position_blocks(batch, "all")))


def test_rescore_changes_exactly_the_near_final_positions() -> None:
    pos = positions()
    before = {k: v.copy() for k, v in vars(pos).items()}
    cfg = RescoreConfig(enabled=True, max_empty=6, nodes=100_000, policy=True)
    out, stats = rescore_positions(pos, N, cfg)
    empty = (pos.board == 0).sum(axis=1)
    near = empty <= 6
    assert stats.candidates == int(near.sum()) > 30
    assert stats.solved == stats.candidates
    # The input is untouched; every array but value and policy is the same bytes.
    for k, v in vars(pos).items():
        assert v.tobytes() == before[k].tobytes(), k
        if k not in ("value", "policy"):
            assert vars(out)[k].tobytes() == v.tobytes(), k
    # Far positions: value and policy rows byte-identical.
    assert out.value[~near].tobytes() == pos.value[~near].tobytes()
    assert out.policy[~near].tobytes() == pos.policy[~near].tobytes()
    changed = 0
    for row in np.flatnonzero(near):
        exact = mover_wins(tuple(pos.board[row].tolist()))
        assert out.value[row] == (1.0 if exact else -1.0)
        changed += out.value[row] != pos.value[row]
        if exact:
            # Policy mass only on winning moves, and it sums to 1.
            p = out.policy[row]
            assert abs(p.sum() - 1) < 1e-5
            for cell in np.flatnonzero(p[: N * N] > 0):
                child = pos.board[row].copy()
                child[cell] = 1
                wins = hexboard.winner(child.reshape(N, N)) == 0 or not mover_wins(
                    tuple((-child.reshape(N, N).T).reshape(-1).tolist())
                )
                assert wins, (row, cell)
        else:
            assert out.policy[row].tobytes() == pos.policy[row].tobytes()
    assert changed == stats.value_changed > 0  # random games blunder: some z are wrong


def test_rescore_off_or_out_of_budget_changes_nothing() -> None:
    pos = positions(games=10, seed=1)
    out, stats = rescore_positions(pos, N, RescoreConfig(enabled=False))
    assert out is pos and stats.candidates == 0
    # Many positions after one move need a few hundred nodes: with a budget of one
    # (and a fresh solver each call) they stay unknown and keep their targets.
    tight = RescoreConfig(enabled=True, max_empty=16, nodes=1, policy=True)
    unknown = 0
    for row in np.flatnonzero(pos.ply == 1):
        one = pos.take(np.array([row]))
        out, stats = rescore_positions(one, N, tight)
        assert stats.candidates == 1
        if stats.solved == 0:
            unknown += 1
            assert out.value.tobytes() == one.value.tobytes()
            assert out.policy.tobytes() == one.policy.tobytes()
    assert unknown > 0


def test_preprocess_with_rescore_relabels_only_near_final_rows(tmp_path: Path) -> None:
    """The hook in preprocessing: same shards as without it, except near-final values."""
    from tests.data_helpers import load_rows, small_config, write_chunk
    from zeroloop.data.preprocess import run_preprocess
    from zeroloop.data.shards import fixed_column
    from zeroloop.data.synthetic import random_records

    write_chunk(tmp_path / "in" / "g.arrow", random_records(N, 30, seed=5))
    base = ("data.test_fraction=0", "data.max_workers=1")
    off_summary = run_preprocess(
        small_config(*base, board_size=N, swap=False), [tmp_path / "in"], tmp_path / "off"
    )
    on = small_config(
        *base, "data.rescore.enabled=true", "data.rescore.max_empty=6", board_size=N, swap=False
    )
    on_summary = run_preprocess(on, [tmp_path / "in"], tmp_path / "on")
    a, b = load_rows(tmp_path / "off" / "train"), load_rows(tmp_path / "on" / "train")
    assert a.num_rows == b.num_rows > 0
    for name in a.column_names:
        if name == "q":  # NaN (no search value) is not equal to itself
            qa, qb = (t.column("q").to_numpy(zero_copy_only=False) for t in (a, b))
            assert np.array_equal(qa, qb, equal_nan=True)
        elif name != "value":
            assert a.column(name).equals(b.column(name)), name
    board = fixed_column(a, "board", N * N, np.int8)
    near = (board == 0).sum(axis=1) <= 6
    va, vb = a.column("value").to_numpy(), b.column("value").to_numpy()
    assert (va[~near] == vb[~near]).all()
    assert (va[near] != vb[near]).any()  # random games: some endgame results are wrong
    for row in np.flatnonzero(near):
        assert vb[row] == (1.0 if mover_wins(tuple(board[row].tolist())) else -1.0)
    # The summary counts the relabelled values (train split only here: test_fraction 0).
    assert off_summary.rescored_values == 0
    assert on_summary.rescored_values == int((va != vb).sum())
