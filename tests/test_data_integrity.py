"""Bad input files (issue 14, points 1 and 2): damaged bytes written by the test into
real chunks and shards made by the project's own writers, files of another kind, and
inputs that hold nothing usable. Every stage sets a damaged file aside (never moving a
user's own file), goes on with the rest, counts it, and survives a rerun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.data_helpers import load_rows, small_config
from zeroloop.cli import app
from zeroloop.data.chunks import (
    ChunkCorrupt,
    games_to_table,
    read_game_chunk_checked,
    read_game_chunk_table,
    write_game_chunk,
)
from zeroloop.data.loader import ShardLoader
from zeroloop.data.positions import PositionArrays
from zeroloop.data.preprocess import run_preprocess
from zeroloop.data.shards import ShardCorrupt, ShardWriter, open_shard, positions_to_batch, read_shard
from zeroloop.data.shuffle import run_shuffle
from zeroloop.data.sources import NoUsableInput
from zeroloop.data.synthetic import random_records
from zeroloop.games.trmph_file import write_trmph_file

N = 5


def flip_body(path: Path, count: int = 64) -> None:
    """XOR `count` bytes in the middle of a file: inside the record batch bodies, which
    make up most of these files (so the flip lands in data, not in padding)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def write_shard(path: Path, rows: int, tag: str, board_size: int = N, compression: str = "lz4") -> Path:
    """A shard whose rows say where they came from (game_id = tag), with varied content."""
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    c = board_size * board_size
    policy = rng.random((rows, c + 1), dtype=np.float32)
    pos = PositionArrays(
        board=rng.integers(-1, 2, (rows, c)).astype(np.int8),
        swap_legal=np.zeros(rows, bool),
        policy=policy / policy.sum(1, keepdims=True),
        value=np.ones(rows, np.float32),
        q=np.full(rows, np.nan, np.float32),
        weight=np.ones(rows, np.float32),
        final_board=np.zeros((rows, c), np.int8),
        game=np.zeros(rows, np.int64),
        ply=np.arange(rows, dtype=np.int16),
        game_length=np.full(rows, rows, np.int16),
        action=np.zeros(rows, np.int64),
        from_search=np.zeros(rows, bool),
    )
    with ShardWriter(path, board_size, compression) as w:
        w.write(positions_to_batch(pos, pa.array([tag]), board_size))
    return path


def make_run_dir(root: Path) -> Path:
    """A run directory as the loop makes it (`config.yaml` marks it)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text("game:\n  board_size: 5\n")
    return root


# ---- point 1: content checksums ------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_flipped_bytes_in_a_shard_body_are_caught(tmp_path: Path, compression: str) -> None:
    path = write_shard(tmp_path / "a.feather", 2000, "a", compression=compression)
    assert read_shard(path).num_rows == 2000
    flip_body(path)
    # Uncompressed, the flip used to pass every check and garble the targets; lz4 used
    # to raise a raw OSError. Both are now one clear ShardCorrupt naming the file.
    with pytest.raises(ShardCorrupt, match=r"a\.feather: (checksum mismatch|record batch 0 cannot be)"):
        read_shard(path)


def test_flipped_bytes_in_a_chunk_body_are_caught(tmp_path: Path) -> None:
    path = write_game_chunk(tmp_path / "c.arrow", random_records(N, 30, seed=1))
    table, verified = read_game_chunk_checked(path)
    assert verified and table.num_rows == 30
    flip_body(path)
    with pytest.raises(ChunkCorrupt, match="checksum mismatch|cannot be decoded"):
        read_game_chunk_table(path)


def test_legacy_files_without_checksums_are_read_and_counted(tmp_path: Path) -> None:
    """Files written before checksums existed: read with structure checks, reported."""
    good = write_shard(tmp_path / "in" / "a.feather", 300, "a")
    table = read_shard(good)
    legacy_schema = table.schema.remove_metadata().with_metadata(
        {k: v for k, v in table.schema.metadata.items() if not k.startswith(b"zeroloop.")}
    )
    with pa.OSFile(str(tmp_path / "in" / "old.feather"), "wb") as f, ipc.new_file(f, legacy_schema) as w:
        w.write_table(table.replace_schema_metadata(legacy_schema.metadata))
    assert not open_shard(tmp_path / "in" / "old.feather").checksummed
    s = run_shuffle(small_config("shuffle.num_buckets=2"), [tmp_path / "in"], tmp_path / "out")
    assert s.positions_out == 600 and s.unverified_inputs == 1 and not s.quarantined


def test_shuffle_sets_a_damaged_user_shard_aside_and_goes_on(tmp_path: Path) -> None:
    write_shard(tmp_path / "in" / "a.feather", 1500, "a")
    bad = write_shard(tmp_path / "in" / "b.feather", 1500, "b")
    flip_body(bad)  # lz4 body: used to raise "OSError: LZ4 decompress failed" on every run
    before = bad.read_bytes()
    cfg = small_config("shuffle.num_buckets=3")
    s = run_shuffle(cfg, [tmp_path / "in"], tmp_path / "out")
    assert s.positions_in == s.positions_out == 1500
    assert set(load_rows(tmp_path / "out").column("game_id").to_pylist()) == {"a"}
    assert len(s.quarantined) == 1 and s.quarantined[0]["source"] == str(bad)
    # A user's own file is never moved or changed; the note says why it was left.
    assert s.quarantined[0]["moved_to"] == "" and bad.read_bytes() == before
    note = (tmp_path / "out" / "quarantine" / "b.feather.reason.txt").read_text()
    assert "not moved" in note and "b.feather" in note
    again = run_shuffle(cfg, [tmp_path / "in"], tmp_path / "out")  # a rerun does not crash
    assert again.positions_out == 1500


def test_shuffle_moves_a_damaged_shard_the_pipeline_wrote(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run")
    train = run / "positions" / "gen-0001" / "train"
    write_shard(train / "chunk-00000.feather", 1000, "a")
    bad = write_shard(train / "chunk-00001.feather", 1000, "b", compression="none")
    flip_body(bad)  # uncompressed: only the checksum can tell
    out = run / "shuffled" / "gen-0001"
    s = run_shuffle(small_config("shuffle.num_buckets=2"), [train], out)
    assert s.positions_out == 1000 and not bad.exists()
    assert Path(s.quarantined[0]["moved_to"]) == out / "quarantine" / "chunk-00001.feather"
    assert (out / "quarantine" / "chunk-00001.feather.reason.txt").exists()
    assert run_shuffle(small_config("shuffle.num_buckets=2"), [train], out).positions_out == 1000


def test_loader_skips_a_damaged_shard(tmp_path: Path) -> None:
    write_shard(tmp_path / "s" / "a.feather", 400, "a")
    bad = write_shard(tmp_path / "s" / "b.feather", 400, "b", compression="none")
    flip_body(bad)
    loader = ShardLoader([tmp_path / "s"], 50, shuffle_buffer=100, prefetch=0, epochs=1)
    assert loader.num_rows == 400 and [Path(p) for p in loader.paths] == [tmp_path / "s" / "a.feather"]
    assert len(loader.skipped) == 1 and "checksum mismatch" in loader.skipped[0]["reason"]
    assert sum(len(b["value"]) for b in loader) == 400
    assert bad.exists()  # not the pipeline's file: reported, left in place


def test_preprocess_reads_a_damaged_chunks_trmph_twin(tmp_path: Path) -> None:
    """Self-play writes x.arrow and x.trmph; when x.arrow is damaged the games come from x.trmph."""
    run = make_run_dir(tmp_path / "run")
    sp = run / "selfplay" / "gen-0001"
    games = random_records(N, 60, seed=3)
    chunk = write_game_chunk(sp / "chunk-w000-s0000.arrow", games)
    write_trmph_file(sp / "chunk-w000-s0000.trmph", games)
    other = random_records(N, 20, seed=4)
    write_game_chunk(sp / "chunk-w001-s0000.arrow", other)
    write_trmph_file(sp / "chunk-w001-s0000.trmph", other)
    flip_body(chunk)
    cfg = small_config()
    s = run_preprocess(cfg, [sp], run / "positions" / "gen-0001")
    expected = len({g.game_id for g in games} | {g.game_id for g in other})
    assert s.games_out == expected and s.twins_read == 1 and s.skipped_companion_trmph == 1
    assert len(s.quarantined) == 1 and not chunk.exists()  # the pipeline's own chunk: moved
    again = run_preprocess(cfg, [sp], run / "positions" / "gen-0001")
    assert again.games_out == expected


def test_preprocess_sets_a_damaged_user_chunk_aside_and_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "games"
    bad = write_game_chunk(src / "a.arrow", random_records(N, 30, seed=5))
    write_game_chunk(src / "b.arrow", random_records(N, 30, seed=6))
    flip_body(bad)
    before = bad.read_bytes()
    cfg = small_config()
    s = run_preprocess(cfg, [src], tmp_path / "pos")
    assert s.games_out == 30 and s.chunk_files == 2 and len(s.quarantined) == 1
    assert bad.read_bytes() == before and s.quarantined[0]["moved_to"] == ""
    assert run_preprocess(cfg, [src], tmp_path / "pos").games_out == 30


# ---- point 2: inputs that are not for this stage -------------------------------------


def test_shard_of_another_board_size_is_skipped_not_moved(tmp_path: Path) -> None:
    write_shard(tmp_path / "in" / "a.feather", 500, "a")
    other = write_shard(tmp_path / "in" / "seven.feather", 500, "b", board_size=7)
    s = run_shuffle(small_config("shuffle.num_buckets=2"), [tmp_path / "in"], tmp_path / "out")
    assert s.positions_out == 500 and not s.quarantined and other.exists()
    assert [d["source"] for d in s.skipped] == [str(other)] and "7x7" in s.skipped[0]["reason"]
    assert not (tmp_path / "out" / "quarantine").exists()


def test_parquet_and_unknown_files_are_skipped_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "games"
    write_game_chunk(src / "a.arrow", random_records(N, 20, seed=7))
    table = games_to_table(random_records(N, 20, seed=8))
    pq.write_table(table, src / "b.parquet")
    pq.write_table(table, src / "c.arrow")  # Parquet where Arrow is expected
    (src / "notes.txt").write_text("hello\n")
    s = run_preprocess(small_config(), [src], tmp_path / "pos")
    assert s.games_out == 20 and not s.quarantined
    reasons = {Path(d["source"]).name: d["reason"] for d in s.skipped}
    assert set(reasons) == {"b.parquet", "c.arrow", "notes.txt"}
    assert "Parquet" in reasons["b.parquet"] and "parquet" in reasons["c.arrow"]
    assert (src / "c.arrow").exists() and (src / "b.parquet").exists()


def test_only_parquet_fails_and_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "games"
    src.mkdir()
    pq.write_table(games_to_table(random_records(N, 20, seed=9)), src / "b.parquet")
    with pytest.raises(NoUsableInput, match="no usable games.*b.parquet"):
        run_preprocess(small_config(), [src], tmp_path / "pos")
    assert not (tmp_path / "pos").exists()
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(read_shard(write_shard(tmp_path / "x.feather", 50, "x")), shards / "s.parquet")
    with pytest.raises(NoUsableInput, match="no usable position shards"):
        run_shuffle(small_config(), [shards], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_exit_status_and_no_empty_out(tmp_path: Path) -> None:
    runner = CliRunner()
    src = tmp_path / "games"
    src.mkdir()
    pq.write_table(games_to_table(random_records(N, 20, seed=9)), src / "b.parquet")
    args = ["--set", "game.board_size=5", "--set", "data.max_workers=1"]
    r = runner.invoke(app, ["preprocess", str(src), "--out", str(tmp_path / "pos"), *args])
    assert r.exit_code == 1 and "no usable games" in r.output and not (tmp_path / "pos").exists()
    r = runner.invoke(app, ["preprocess", str(tmp_path / "missing"), "--out", str(tmp_path / "pos2"), *args])
    assert r.exit_code == 2 and "does not exist" in r.output and not (tmp_path / "pos2").exists()
    r = runner.invoke(app, ["shuffle", str(tmp_path / "missing"), "--out", str(tmp_path / "sh"), *args])
    assert r.exit_code == 2 and not (tmp_path / "sh").exists()


# ---- point 1, the arena: model files -------------------------------------------------


def _tiny_model_file(path: Path) -> Path:
    from zeroloop.config import load_config
    from zeroloop.model.file import save_model_file
    from zeroloop.model.network import create_model

    # 32 channels: the 3x3x32x32 tower kernel makes up most of the file.
    cfg = load_config(None, ["game.board_size=3", "model.channels=32", "model.blocks=1"])
    return save_model_file(path, create_model(cfg.model, seed=1), cfg.game)


def test_flipped_bytes_in_model_weights_are_caught(tmp_path: Path) -> None:
    from zeroloop.model.file import ModelFileError, load_model_file

    path = _tiny_model_file(tmp_path / "m.zlm")
    load_model_file(path)
    data = bytearray(path.read_bytes())
    # One low mantissa bit in the middle of the tower kernel: msgpack parses the file
    # as before, the weights are just slightly different - only the checksum can tell.
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="m.zlm: damaged model file"):
        load_model_file(path)


def test_arena_skips_a_damaged_reference_model_and_plays_the_rest(tmp_path: Path) -> None:
    from zeroloop.config import load_config
    from zeroloop.evaluation.arena import run_evaluation

    bad = _tiny_model_file(tmp_path / "ref.zlm")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    cfg = load_config(None, ["game.board_size=3", "eval.reference_games=2"])
    s = run_evaluation(
        cfg,
        "mcts:4",
        "random",
        tmp_path / "eval" / "gen-0001.json",
        num_games=2,
        run_dir=tmp_path,
        generation=1,
        references=[f"model:{bad}", "mcts:2"],
    )
    assert [r["b"] for r in s.references] == ["mcts:2:c2:r1"]
    assert [d["source"] for d in s.skipped_references] == [str(bad)] and bad.exists()
