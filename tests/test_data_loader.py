"""Loader: the training batch contract, exact resume, epochs, mixing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.data_helpers import load_rows, small_config, write_chunk
from zeroloop.data.loader import MixedLoader, ShardLoader, build_loader, to_training_batch
from zeroloop.data.preprocess import run_preprocess
from zeroloop.data.shards import fixed_column
from zeroloop.data.synthetic import random_records

N = 5


@pytest.fixture(scope="module")
def positions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loader")
    write_chunk(root / "in" / "c.arrow", random_records(N, 120, seed=1, swap_prob=0.5, with_search=True))
    cfg = small_config("data.chunk_size=30", "data.test_fraction=0")
    run_preprocess(cfg, [root / "in"], root / "out")
    return root / "out" / "train"


def _same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True)
    )


def test_batches_follow_the_contract(positions: Path) -> None:
    loader = ShardLoader([positions], 32, q_ratio=0.5, shuffle_buffer=500, prefetch=2)
    batch = next(loader)
    loader.close()
    a = N * N + 1
    want = {
        "obs": (np.float32, (32, N, N, 3)),
        "policy": (np.float32, (32, a)),
        "legal": (np.bool_, (32, a)),
        "value": (np.float32, (32,)),
        "z": (np.float32, (32,)),
        "q": (np.float32, (32,)),
        "weight": (np.float32, (32,)),
        "policy_weight": (np.float32, (32,)),
        "owner": (np.float32, (32, N, N)),
    }
    assert {k: (v.dtype.type, v.shape) for k, v in batch.items()} == want
    np.testing.assert_allclose(batch["policy"].sum(axis=1), 1.0, rtol=1e-5)
    assert not (batch["policy"] * ~batch["legal"]).any()  # targets only on legal actions
    np.testing.assert_allclose(batch["value"], 0.5 * batch["q"] + 0.5 * batch["z"], rtol=1e-6)
    assert set(np.unique(batch["owner"])) <= {-1.0, 0.0, 1.0}


def test_obs_and_legal_match_the_jax_env() -> None:
    import jax
    import jax.numpy as jnp

    from zeroloop.data.chunks import games_to_table
    from zeroloop.data.gamebatch import from_chunk_table
    from zeroloop.data.positions import PositionArrays, iter_position_blocks
    from zeroloop.games.hex import Hex

    records = random_records(N, 6, seed=2, swap_prob=1.0)
    batch, _, _ = from_chunk_table(games_to_table(records), N, "mem")
    pos = PositionArrays.concat(list(iter_position_blocks(batch, "all")))
    cols = {
        k: getattr(pos, k) for k in ("board", "swap_legal", "policy", "value", "q", "weight", "final_board")
    }
    train = to_training_batch(cols, N, q_ratio=0.0)
    env = Hex(N, swap=True)
    step = jax.jit(env.step)
    # The transpose is an involution: frame_to_board also maps the board frame to the mover's.
    view = jax.jit(lambda s: (env.observation(s), env.frame_to_board(s, env.legal_mask(s))))
    i = 0
    for r in records:
        state = env.init()
        for move in r.moves:
            obs, legal = view(state)
            np.testing.assert_array_equal(train["obs"][i], np.asarray(obs))
            np.testing.assert_array_equal(train["legal"][i], np.asarray(legal))
            state = step(state, jnp.asarray(int(move), jnp.int32))
            i += 1
        assert int(state.winner) == r.winner


def test_resume_gives_the_same_batches(positions: Path) -> None:
    ref = ShardLoader([positions], 64, shuffle_buffer=700, seed=5, prefetch=0)
    expected = [next(ref) for _ in range(60)]  # crosses an epoch: shard order and blocks change
    assert ref.position // ref.num_rows >= 1
    loader = ShardLoader([positions], 64, shuffle_buffer=700, seed=5, prefetch=3)
    first = [next(loader) for _ in range(17)]
    state = loader.state_dict()
    loader.close()
    resumed = ShardLoader([positions], 64, shuffle_buffer=700, seed=5, prefetch=3)
    resumed.load_state_dict(state)
    rest = [next(resumed) for _ in range(43)]
    resumed.close()
    assert _same(first + rest, expected)
    assert state == {
        "position": 17 * 64,
        "batches": 17,
        "epoch": 17 * 64 // ref.num_rows,
        "fingerprint": state["fingerprint"],
    }
    other = ShardLoader([positions], 64, shuffle_buffer=700, seed=6, prefetch=0)
    with pytest.raises(ValueError, match="other shards, seed"):
        other.load_state_dict(state)


def test_an_epoch_visits_every_row_once(positions: Path) -> None:
    rows = load_rows(positions)
    loader = ShardLoader([positions], 50, shuffle_buffer=300, epochs=1, prefetch=2)
    batches = list(loader)
    assert len(batches) == rows.num_rows // 50 == loader.total_batches
    seen = np.concatenate([b["obs"].reshape(len(b["z"]), -1) for b in batches])
    board = fixed_column(rows, "board", N * N, np.int8)
    want = np.concatenate([(board == 1), (board == -1)], axis=1)
    got = np.concatenate([seen[:, 0::3], seen[:, 1::3]], axis=1).astype(bool)
    # Compare as multisets of (mover stones, opponent stones): the dropped tail aside.
    key = lambda a: sorted(map(bytes, np.packbits(a, axis=1)))  # noqa: E731
    full = key(want)
    for row in key(got):
        full.remove(row)
    assert len(full) == rows.num_rows % 50
    with pytest.raises(StopIteration):
        next(loader)


def test_mixed_loader_shares_and_resume(positions: Path, tmp_path: Path) -> None:
    cfg = small_config(
        f"data.mix.existing_dirs=['{positions}']", "data.mix.weights=[3,1]", "data.loader.prefetch_batches=2"
    )
    loader = build_loader(cfg, [positions], batch_size=40)
    assert isinstance(loader, MixedLoader) and [ld.batch_size for ld in loader.loaders] == [30, 10]
    batches = [next(loader) for _ in range(5)]
    assert all(b["obs"].shape == (40, N, N, 3) for b in batches)
    state = loader.state_dict()
    more = [next(loader) for _ in range(5)]
    loader.close()
    again = build_loader(cfg, [positions], batch_size=40)
    again.load_state_dict(state)
    assert _same([next(again) for _ in range(5)], more)
    again.close()
    plain = build_loader(small_config(), [positions], batch_size=40)
    assert isinstance(plain, ShardLoader) and plain.batch_size == 40


def test_reads_only_the_batches_it_needs_and_any_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.ipc as ipc

    from zeroloop.data import shards as sh

    table = load_rows(_make_rows(tmp_path, 400))
    small = 100  # shrink the fixed batch size so a small shard has several batches
    monkeypatch.setattr(sh, "BATCH_ROWS", small)
    with sh.ShardWriter(tmp_path / "fixed" / "a.feather", N) as w:
        for start in range(0, table.num_rows, 37):  # odd-sized writes are coalesced
            w.write(table.slice(start, 37))
    reader = sh.open_shard(tmp_path / "fixed" / "a.feather")
    sizes = [reader.get_batch(j).num_rows for j in range(reader.num_record_batches)]
    assert sizes[:-1] == [small] * (len(sizes) - 1) and sum(sizes) == table.num_rows
    assert sh.batch_rows(reader) == small
    # The same rows in batches of 77: not the fixed layout, so read whole instead.
    # (Written by plain pyarrow, without checksums: a legacy shard, read unverified.)
    (tmp_path / "odd").mkdir()
    legacy = table.schema.with_metadata(sh.position_shard_schema(N).metadata)
    with pa.OSFile(str(tmp_path / "odd" / "a.feather"), "wb") as f, ipc.new_file(f, legacy) as w:
        w.write_table(table, max_chunksize=77)
    assert sh.batch_rows(sh.open_shard(tmp_path / "odd" / "a.feather")) is None
    a = ShardLoader([tmp_path / "fixed"], 32, shuffle_buffer=150, prefetch=0)
    b = ShardLoader([tmp_path / "odd"], 32, shuffle_buffer=150, prefetch=0)
    assert _same([next(a) for _ in range(30)], [next(b) for _ in range(30)])


def _make_rows(root: Path, games: int) -> list[Path]:
    write_chunk(root / "src" / "c.arrow", random_records(N, games // 20, seed=9))
    run_preprocess(small_config("data.test_fraction=0"), [root / "src"], root / "pos")
    return [root / "pos" / "train"]
