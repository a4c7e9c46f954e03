"""Bucket shuffle: a permutation, uniform, resumable after a kill in either pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from tests.data_helpers import load_rows, row_keys, small_config
from zeroloop.data import shuffle as sh
from zeroloop.data.positions import PositionArrays
from zeroloop.data.shards import ShardWriter, positions_to_batch
from zeroloop.data.shuffle import run_shuffle, shuffle_dry_run

N = 3


def _write_inputs(root: Path, sizes: list[int]) -> list[Path]:
    """Shards whose rows say where they came from: game_id = input index, ply = row."""
    paths = []
    for i, rows in enumerate(sizes):
        pos = PositionArrays(
            board=np.zeros((rows, N * N), np.int8),
            swap_legal=np.zeros(rows, bool),
            policy=np.full((rows, N * N + 1), 1 / (N * N + 1), np.float32),
            value=np.ones(rows, np.float32),
            q=np.full(rows, np.nan, np.float32),
            weight=np.ones(rows, np.float32),
            final_board=np.zeros((rows, N * N), np.int8),
            game=np.zeros(rows, np.int64),
            ply=np.arange(rows, dtype=np.int16),
            game_length=np.full(rows, rows, np.int16),
            action=np.zeros(rows, np.int64),
            from_search=np.zeros(rows, bool),
        )
        path = root / "in" / f"input-{i:02d}.feather"
        with ShardWriter(path, N) as w:
            w.write(positions_to_batch(pos, pa.array([f"in{i:02d}"]), N))
        paths.append(path)
    return paths


def _origins(table: pa.Table) -> list[tuple[str, int]]:
    return list(zip(table.column("game_id").to_pylist(), table.column("ply").to_pylist(), strict=True))


def _cfg(buckets: int = 4, shard_size: int = 500):
    return small_config(f"shuffle.num_buckets={buckets}", f"shuffle.shard_size={shard_size}", board_size=N)


def test_shuffle_is_a_permutation(tmp_path: Path) -> None:
    sizes = [700, 300, 1000, 1]
    _write_inputs(tmp_path, sizes)
    s = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    rows = _origins(load_rows(tmp_path / "out"))
    assert len(rows) == sum(sizes) == s.positions_in == s.positions_out
    assert sorted(rows) == sorted((f"in{i:02d}", r) for i, n in enumerate(sizes) for r in range(n))
    assert rows != sorted(rows)
    assert all(Path(p).stat().st_size > 0 for p in s.shard_paths)
    assert not (tmp_path / "out" / "_intermediate").exists()
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        [Path(p).name for p in s.shard_paths] + ["summary.json"]
    )


def test_shuffle_is_uniform(tmp_path: Path) -> None:
    """Chi-square: the input a row came from is independent of where it lands."""
    sizes = [2000] * 5
    _write_inputs(tmp_path, sizes)
    run_shuffle(_cfg(buckets=8, shard_size=1000), [tmp_path / "in"], tmp_path / "out")
    rows = _origins(load_rows(tmp_path / "out"))
    source = np.array([int(g[2:]) for g, _ in rows])
    decile = np.arange(len(rows)) * 10 // len(rows)
    table = np.zeros((5, 10))
    np.add.at(table, (source, decile), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-3
    # Within an input, the original order is forgotten too (rank correlation ~ 0).
    first = [(k, r) for k, (g, r) in enumerate(rows) if g == "in00"]
    rho = stats.spearmanr([k for k, _ in first], [r for _, r in first]).statistic
    assert abs(rho) < 0.1


@pytest.mark.parametrize("crash_in", ["scatter_input", "shuffle_bucket"])
def test_resume_after_a_kill_in_either_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_in: str
) -> None:
    _write_inputs(tmp_path, [400, 500, 600])
    clean = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "clean")

    real = getattr(sh, crash_in)
    calls = []

    def dies_on_second_call(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args)

    monkeypatch.setattr(sh, crash_in, dies_on_second_call)
    with pytest.raises(KeyboardInterrupt):
        run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    assert (tmp_path / "out" / "_intermediate" / "manifest.json").exists()
    monkeypatch.setattr(sh, crash_in, real)
    resumed = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    assert resumed.resumed and resumed.positions_out == clean.positions_out
    # Deterministic passes: exactly the shards an uninterrupted run writes.
    assert [Path(p).name for p in resumed.shard_paths] == [Path(p).name for p in clean.shard_paths]
    assert row_keys(load_rows(tmp_path / "out"), N) == row_keys(load_rows(tmp_path / "clean"), N)


@pytest.mark.parametrize("damage", ["flipped", "missing"])
def test_damaged_temporary_bucket_file_is_rebuilt_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    _write_inputs(tmp_path, [400, 500])
    clean = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "clean")
    real = sh.shuffle_bucket

    def killed(*args):
        raise KeyboardInterrupt("killed after pass 1")

    monkeypatch.setattr(sh, "shuffle_bucket", killed)
    with pytest.raises(KeyboardInterrupt):
        run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    monkeypatch.setattr(sh, "shuffle_bucket", real)
    piece = tmp_path / "out" / "_intermediate" / "buckets" / "bucket-00002" / "in-000001.arrow"
    if damage == "missing":
        piece.unlink()
    else:
        data = bytearray(piece.read_bytes())
        for at in range(len(data) // 3, len(data) // 3 + 64):
            data[at] ^= 0xFF
        piece.write_bytes(bytes(data))
    resumed = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    assert resumed.positions_out == clean.positions_out == 900
    assert len(resumed.rebuilt_temporaries) == 1 and "in-000001" in resumed.rebuilt_temporaries[0]
    assert row_keys(load_rows(tmp_path / "out"), N) == row_keys(load_rows(tmp_path / "clean"), N)


def test_finished_shuffle_returns_its_summary(tmp_path: Path) -> None:
    _write_inputs(tmp_path, [100])
    first = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    again = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    assert again.shard_paths == first.shard_paths and again.positions_out == 100


def test_corrupt_shard_is_quarantined(tmp_path: Path) -> None:
    _write_inputs(tmp_path, [100])
    (tmp_path / "in" / "bad.feather").write_bytes(b"nope")
    s = run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out")
    assert s.positions_out == 100 and s.skipped_inputs == 1
    assert (tmp_path / "out" / "quarantine" / "bad.feather.reason.txt").exists()
    assert (tmp_path / "in" / "bad.feather").exists()  # a user's own file is never moved


def test_dry_run_reports_disk_and_memory(tmp_path: Path) -> None:
    _write_inputs(tmp_path, [1000, 1000])
    plan = shuffle_dry_run(_cfg(buckets=4), [tmp_path / "in"])
    assert plan["positions"] == 2000 and plan["buckets"] == 4
    assert 500 <= plan["bucket_rows"] <= 700
    assert plan["memory_bytes"] > 0 and plan["temporary_disk_bytes"] > 0
    assert not (tmp_path / "out").exists()


def test_no_cleanup_keeps_the_buckets(tmp_path: Path) -> None:
    _write_inputs(tmp_path, [100, 100])
    run_shuffle(_cfg(), [tmp_path / "in"], tmp_path / "out", cleanup=False)
    assert (tmp_path / "out" / "_intermediate" / "manifest.json").exists()
    assert len(list((tmp_path / "out" / "_intermediate" / "buckets").rglob("*.arrow"))) == 8


_KILL_SCRIPT = """
import sys, time
import zeroloop.data.shuffle as sh
from tests.data_helpers import small_config
real = sh.shuffle_bucket
def slow(*a):
    out = real(*a)
    print("bucket", a[0], flush=True)
    time.sleep(0.5)
    return out
sh.shuffle_bucket = slow
cfg = small_config("shuffle.num_buckets=6", "shuffle.shard_size=500", "shuffle.max_workers=1", board_size=3)
sh.run_shuffle(cfg, [sys.argv[1]], sys.argv[2])
print("done", flush=True)
"""


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path: Path) -> None:
    _write_inputs(tmp_path, [3000, 2000])
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path / "in"), str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("bucket 1"):
            break
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out" / "summary.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    assert "done" in done.stdout
    rows = _origins(load_rows(tmp_path / "out"))
    assert sorted(rows) == sorted((f"in{i:02d}", r) for i, n in enumerate([3000, 2000]) for r in range(n))
