"""run_training on real position shards through zeroloop.data.loader: validation on the
held-out split, metrics files, and an exact resume with the real loader's position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pyarrow as pa
import pytest

import zeroloop.trainer.train_stage as train_stage
from zeroloop.config import ZeroloopConfig, load_config
from zeroloop.data.positions import PositionArrays
from zeroloop.data.shards import ShardWriter, positions_to_batch
from zeroloop.model.file import read_model_header
from zeroloop.trainer.checkpoints import CheckpointStore
from zeroloop.trainer.synthetic import synthetic_batch
from zeroloop.trainer.train_stage import run_training

N = 3
B = 8


def write_shard(path: Path, rows: int, seed: int) -> Path:
    b = synthetic_batch(np.random.default_rng(seed), rows, N)
    board = (b["obs"][..., 0] - b["obs"][..., 1]).reshape(rows, N * N).astype(np.int8)
    pos = PositionArrays(
        board=board,
        swap_legal=b["obs"][:, 0, 0, 2] > 0,
        policy=b["policy"],
        value=b["z"],
        q=b["q"],
        weight=b["weight"],
        final_board=b["owner"].reshape(rows, N * N).astype(np.int8),
        game=np.zeros(rows, np.int64),
        ply=np.arange(rows, dtype=np.int16),
        game_length=np.full(rows, rows, np.int16),
        action=np.zeros(rows, np.int64),
        from_search=np.ones(rows, bool),
    )
    with ShardWriter(path, N) as w:
        w.write(positions_to_batch(pos, pa.array([f"g{seed}"]), N))
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str]]:
    root = tmp_path_factory.mktemp("shards")
    (root / "train").mkdir()
    (root / "test").mkdir()
    train = [str(write_shard(root / "train" / f"s{i}.feather", 40, i)) for i in range(2)]
    test = [str(write_shard(root / "test" / "t.feather", 24, 99))]
    return train, test


def config() -> ZeroloopConfig:
    return load_config(
        None,
        [
            f"game.board_size={N}",
            "model.blocks=1",
            "model.channels=8",
            "model.policy_channels=4",
            "model.value_channels=2",
            "model.value_hidden=8",
            f"train.batch_size={B}",
            "train.steps=6",
            "train.log_every=2",
            "train.checkpoint.every=3",
            "train.checkpoint.async_save=false",
            "train.validation.every=3",
            "train.validation.batches=2",
            "train.heartbeat_seconds=0",
            "train.progress_bar=false",
            "data.q_ratio=0.5",
            "data.loader.shuffle_buffer=16",
            "data.loader.prefetch_batches=2",
        ],
    )


def test_train_on_shards_with_validation_and_resume(
    shards: tuple[list[str], list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = shards
    cfg = config()
    a = run_training(
        cfg, train, test, tmp_path / "a", export_path=tmp_path / "a.zl", metadata={"generation": 1}
    )
    assert a.final_step == 6 and a.samples == 6 * B
    assert a.val_metrics and a.best_step in (3, 6)
    lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert {x["split"] for x in lines} == {"train", "val"}
    assert list((tmp_path / "a" / "tb").iterdir()), "no TensorBoard event file"
    header, _ = read_model_header(tmp_path / "a.zl")
    assert header.metadata["trained_on"] == train and header.metadata["generation"] == 1

    # Kill after the step-3 checkpoint: the rerun continues from the loader's saved position.
    real = train_stage.default_batches
    with monkeypatch.context() as m:
        m.setattr(train_stage, "default_batches", lambda c, s: Dying(real(c, s), 3 * B))
        with pytest.raises(KeyboardInterrupt):
            run_training(cfg, train, test, tmp_path / "b")
    b = run_training(cfg, train, test, tmp_path / "b", export_path=tmp_path / "b.zl")
    assert b.resumed_from == 3 and b.final_step == 6
    sa, _, la = CheckpointStore(tmp_path / "a" / "checkpoints").restore_raw(6)
    sb, _, lb = CheckpointStore(tmp_path / "b" / "checkpoints").restore_raw(6)
    assert la == lb and la["position"] == 6 * B
    for x, y in zip(jax.tree.leaves(sa["params"]), jax.tree.leaves(sb["params"]), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6, rtol=0)


class Dying:
    """The real loader, dying like a killed process once `rows` rows were handed out."""

    def __init__(self, inner: Any, rows: int) -> None:
        self.inner, self.rows = inner, rows

    def __iter__(self) -> Dying:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.inner.position >= self.rows:
            raise KeyboardInterrupt("killed")
        return next(self.inner)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def close(self) -> None:
        self.inner.close()


def test_summary_counts_the_shards_the_loaders_left_out(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    for i in range(2):
        write_shard(tmp_path / "train" / f"s{i}.feather", 40, i)
    (tmp_path / "train" / "junk.feather").write_bytes(b"not a shard")  # the user's own file
    write_shard(tmp_path / "test" / "t.feather", 24, 99)
    (tmp_path / "test" / "notes.feather").write_bytes(b"\x00" * 64)
    summary = run_training(config(), [tmp_path / "train"], [tmp_path / "test"], tmp_path / "work")
    assert summary.final_step == 6
    left_out = {Path(e["source"]).name: e for e in summary.skipped_shards}
    assert set(left_out) == {"junk.feather", "notes.feather"}
    assert all(e["reason"] for e in left_out.values())
    saved = json.loads((tmp_path / "work" / "summary.json").read_text())
    assert len(saved["skipped_shards"]) == 2
    assert (tmp_path / "train" / "junk.feather").exists()  # never moved: not the pipeline's file
