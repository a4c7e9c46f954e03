"""Preprocess: inputs, dedupe, quarantine, bad records, summaries, resume, cleanup."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.data_helpers import load_rows, row_keys, small_config, write_chunk, write_trmph
from zeroloop.data import preprocess as pp
from zeroloop.data.chunks import GameRecord
from zeroloop.data.dedupe import Deduper
from zeroloop.data.gamebatch import from_trmph_games
from zeroloop.data.preprocess import run_preprocess
from zeroloop.data.sources import SourceProvider, classify, scan_files
from zeroloop.data.synthetic import random_records
from zeroloop.games.board import rotate180_move
from zeroloop.games.trmph_file import read_trmph_file

N = 5


def _rotated(r: GameRecord) -> GameRecord:
    return GameRecord(
        board_size=r.board_size, moves=rotate180_move(np.asarray(r.moves), N), winner=r.winner, swap=r.swap
    )


def test_dedupe_exact_and_symmetric(tmp_path: Path) -> None:
    games = random_records(N, 10, seed=1)
    path = write_trmph(tmp_path / "g.trmph", games + games[:3] + [_rotated(g) for g in games[:4]])
    batch, _ = from_trmph_games(read_trmph_file(path)[0], N, False, str(path))
    assert len(Deduper(symmetric=False).keep(batch)) == 14  # 10 + 4 rotations
    assert len(Deduper(symmetric=True).keep(batch)) == 10
    summary = run_preprocess(small_config("data.dedupe_symmetric=true"), [tmp_path], tmp_path / "out")
    assert (summary.games_in, summary.duplicates, summary.games_out) == (17, 7, 10)


def test_run_writes_shards_and_summary(tmp_path: Path) -> None:
    games = random_records(N, 100, seed=2, swap_prob=0.3, with_search=True)
    write_chunk(tmp_path / "in" / "a" / "c0.arrow", games[:60])
    write_trmph(tmp_path / "in" / "a" / "c0.trmph", games[:60])  # self-play's companion: skipped
    write_trmph(tmp_path / "in" / "b" / "more.trmph", games[40:])  # 20 duplicates
    cfg = small_config("data.test_fraction=0.2", "data.augmentation=all")
    s = run_preprocess(cfg, [tmp_path / "in"], tmp_path / "out")
    assert (s.chunk_files, s.trmph_files, s.skipped_companion_trmph) == (1, 1, 1)
    assert (s.games_in, s.duplicates, s.games_out, s.bad_games) == (120, 20, 100, 0)
    assert s.chunks == 3 and s.train_games + s.test_games == 100 and s.test_games > 0
    lengths = sum(len(g.moves) for g in games)
    assert s.positions_train + s.positions_test == 2 * lengths  # augmentation 'all' doubles
    assert len(load_rows(tmp_path / "out" / "train")) == s.positions_train
    test_ids = set(load_rows(tmp_path / "out" / "test").column("game_id").to_pylist())
    train_ids = set(load_rows(tmp_path / "out" / "train").column("game_id").to_pylist())
    assert len(test_ids) == s.test_games and not test_ids & train_ids
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["games_out"] == 100 and on_disk["positions_train"] == s.positions_train
    assert not (tmp_path / "out" / "_intermediate").exists()  # cleaned up
    # Chunk games keep their search targets: some policies are not one-hot.
    policy = np.stack(load_rows(tmp_path / "out" / "train").column("policy").to_numpy(zero_copy_only=False))
    assert ((policy > 0).sum(axis=1) > 1).any()


def test_corrupt_inputs_are_quarantined_and_reported(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    write_chunk(inp / "good.arrow", random_records(N, 10, seed=3))
    (inp / "broken.arrow").write_bytes(b"ARROW1 but not really")
    (inp / "binary.trmph").write_bytes(b"\x00\x01\x02 not text")
    write_trmph(inp / "mixed.trmph", random_records(N, 5, seed=4), "#5,a1a1a1 1\nhello\n#7,a1b2 1\n")
    s = run_preprocess(small_config(), [inp], tmp_path / "out")
    moved = {Path(q["source"]).name: q for q in s.quarantined}
    assert set(moved) == {"broken.arrow", "binary.trmph"}
    qdir = tmp_path / "out" / "quarantine"
    for name in moved:
        # The user's own files: a note is written, the file is never moved.
        assert (inp / name).exists() and not (qdir / name).exists() and moved[name]["moved_to"] == ""
        reason = (qdir / f"{name}.reason.txt").read_text()
        assert str(inp / name) in reason and "reason:" in reason and "not moved" in reason
    assert s.games_out == 15 and s.bad_games == 3
    where = [b.split(": ")[0] for b in s.bad_records]
    assert where == [f"{inp / 'mixed.trmph'}:{k}" for k in (6, 7, 8)]
    assert "board size 7" in s.bad_records[2]


def test_bad_chunk_rows_are_reported_by_row(tmp_path: Path) -> None:
    games = random_records(N, 4, seed=5)
    games[1].moves = np.concatenate([games[1].moves[:2], games[1].moves[:1]])  # cell twice
    games[2] = GameRecord(board_size=7, moves=np.array([0, 1], np.int16), winner=0)
    write_chunk(tmp_path / "in" / "c.arrow", games)
    s = run_preprocess(small_config(), [tmp_path / "in"], tmp_path / "out")
    chunk = tmp_path / "in" / "c.arrow"
    assert s.bad_records == [
        f"{chunk}#1: a cell is played twice",
        f"{chunk}#2: board size differs from the run's 5",
    ]
    assert s.games_in == 4 and s.games_out == 2 and not s.quarantined


def test_temporaries_and_own_folders_are_never_read(tmp_path: Path) -> None:
    write_trmph(tmp_path / "ok.trmph", random_records(N, 2, seed=6))
    (tmp_path / ".hidden.trmph").write_text("garbage\n")
    (tmp_path / "ok.trmph.tmp").write_text("garbage\n")
    (tmp_path / ".c.arrow.1234.tmp").write_bytes(b"x")
    (tmp_path / "quarantine").mkdir()
    (tmp_path / "quarantine" / "old.trmph").write_text("garbage\n")
    assert [p.name for p in scan_files([tmp_path], (".trmph", ".arrow"))] == ["ok.trmph"]
    with pytest.raises(FileNotFoundError):
        scan_files([tmp_path / "missing"], (".trmph",))


def test_provider_picks_up_files_that_arrive_later(tmp_path: Path) -> None:
    provider = SourceProvider([tmp_path], (".trmph",))
    write_trmph(tmp_path / "a.trmph", random_records(N, 1, seed=7))
    assert [p.name for p in provider.poll()] == ["a.trmph"]
    assert provider.poll() == []
    write_trmph(tmp_path / "sub" / "b.trmph", random_records(N, 1, seed=8))
    assert [p.name for p in provider.poll()] == ["b.trmph"]
    sources, companions = classify([tmp_path / "x.arrow", tmp_path / "x.trmph", tmp_path / "y.trmph"])
    assert [s.kind for s in sources] == ["chunk", "trmph"] and companions == [tmp_path / "x.trmph"]


def test_files_arriving_during_the_run_are_included(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_trmph(tmp_path / "in" / "a.trmph", random_records(N, 5, seed=9))
    real = pp._read_all
    calls = []

    def read_and_drop_a_file(run, pool, files, *args):
        calls.append([f.name for f in files])
        if len(calls) == 1:  # another worker finishes a file while we read the first
            write_trmph(tmp_path / "in" / "late.trmph", random_records(N, 3, seed=10))
        return real(run, pool, files, *args)

    monkeypatch.setattr(pp, "_read_all", read_and_drop_a_file)
    s = run_preprocess(small_config(), [tmp_path / "in"], tmp_path / "out")
    assert calls == [["a.trmph"], ["late.trmph"]] and s.games_out == 8


def test_resume_after_a_crash_gives_the_same_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    games = random_records(N, 150, seed=11, swap_prob=0.3, with_search=True)
    write_chunk(tmp_path / "in" / "c.arrow", games)
    cfg = small_config("data.augmentation=random", "data.test_fraction=0.1")
    clean = run_preprocess(cfg, [tmp_path / "in"], tmp_path / "clean")

    real = pp.chunk_to_positions
    done = []

    def crash_on_third(*args):
        if len(done) == 2:
            raise KeyboardInterrupt("killed")
        done.append(args[1])
        return real(*args)

    monkeypatch.setattr(pp, "chunk_to_positions", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_preprocess(cfg, [tmp_path / "in"], tmp_path / "out")
    assert (tmp_path / "out" / "_intermediate" / "progress.json").exists()
    monkeypatch.setattr(pp, "chunk_to_positions", real)
    resumed = run_preprocess(cfg, [tmp_path / "in"], tmp_path / "out")
    assert resumed.resumed_chunks == 2 and resumed.chunks == clean.chunks == 4
    for split in ("train", "test"):
        a = sorted(p.name for p in (tmp_path / "clean" / split).iterdir())
        b = sorted(p.name for p in (tmp_path / "out" / split).iterdir())
        assert a == b
        assert row_keys(load_rows(tmp_path / "clean" / split), N) == row_keys(
            load_rows(tmp_path / "out" / split), N
        )
    # Finished: a third run returns the summary without touching anything.
    again = run_preprocess(cfg, [tmp_path / "in"], tmp_path / "out")
    assert again.positions_train == clean.positions_train


def test_no_cleanup_keeps_the_combined_chunks(tmp_path: Path) -> None:
    write_trmph(tmp_path / "in" / "g.trmph", random_records(N, 50, seed=12))
    run_preprocess(small_config(), [tmp_path / "in"], tmp_path / "out", cleanup=False)
    kept = sorted(os.listdir(tmp_path / "out" / "_intermediate" / "games"))
    assert kept == ["chunk-00000.arrow", "chunk-00001.arrow"]


@pytest.mark.slow
def test_two_workers_match_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zeroloop.data import executor

    monkeypatch.setattr(executor, "INLINE_SECONDS", 0.0)  # a real pool even for this small job
    for i in range(4):
        write_chunk(tmp_path / "in" / f"c{i}.arrow", random_records(N, 30, seed=20 + i, with_search=True))
    one = run_preprocess(small_config(), [tmp_path / "in"], tmp_path / "one")
    two = run_preprocess(small_config("data.max_workers=2"), [tmp_path / "in"], tmp_path / "two")
    assert one.positions_train == two.positions_train
    assert row_keys(load_rows(tmp_path / "one" / "train"), N) == row_keys(
        load_rows(tmp_path / "two" / "train"), N
    )
