"""The training loop end to end on tiny nets: overfit, exact resume, mismatch errors,
export, the NaN guard, early stopping, bf16, training-init and migration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from zeroloop.config import ZeroloopConfig, load_config
from zeroloop.model.file import load_model_file, read_model_header
from zeroloop.model.network import create_model
from zeroloop.trainer.checkpoints import CheckpointMismatchError, CheckpointStore
from zeroloop.trainer.engine import TrainEngine, cached_engine
from zeroloop.trainer.export import export_model
from zeroloop.trainer.migrate import migrate
from zeroloop.trainer.synthetic import SyntheticBatches
from zeroloop.trainer.tools import overfit
from zeroloop.trainer.train_stage import run_training
from zeroloop.trainer.training_loop import NonFiniteLossError, fit

N = 3
B = 8
TINY = [
    f"game.board_size={N}",
    "model.blocks=1",
    "model.channels=8",
    "model.policy_channels=4",
    "model.value_channels=2",
    "model.value_hidden=8",
    f"train.batch_size={B}",
    "train.log_every=2",
    "train.heartbeat_seconds=0",
    "train.progress_bar=false",
    "train.tensorboard=false",
    "train.checkpoint.async_save=false",
]
# Every piece of state that must survive a resume: dropout RNG, EMA, SWA, lookahead,
# gradient accumulation (MultiSteps), reduce-on-plateau, loader position.
STATEFUL = TINY + [
    "model.dropout_rate=0.1",
    "train.ema_decay=0.9",
    "train.swa_every=2",
    "train.lookahead_steps=2",
    "train.accum_steps=2",
    "train.schedule.plateau_patience=2",
    "train.schedule.plateau_window=2",
    "train.steps=6",
    "train.checkpoint.every=3",
]


def cfg(*extra: str, base: list[str] = TINY) -> ZeroloopConfig:
    return load_config(None, [*base, *extra])


def leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def assert_trees_close(a: Any, b: Any, atol: float = 1e-6) -> None:
    la, lb = leaves(a), leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


class Killer:
    """Yields from `inner`, then dies like a killed process on batch `at`."""

    def __init__(self, inner: SyntheticBatches, at: int) -> None:
        self.inner, self.at = inner, at

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.inner.index == self.at:
            raise KeyboardInterrupt("killed")
        return next(self.inner)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()


def test_overfit_one_batch() -> None:
    c = cfg("train.loss.policy=kl", "train.learning_rate=0.02", "train.weight_decay=0", "train.steps=150")
    batch = next(SyntheticBatches(B, N, seed=3))
    rows = overfit(c, batch, steps=150)
    first, last = rows[0]["loss"], rows[-1]["loss"]
    assert last < 0.25 * first, (first, last)


def test_resume_is_exact(tmp_path: Path) -> None:
    c = cfg(base=STATEFUL)
    straight = run_training(
        c, [], [], tmp_path / "a", export_path=tmp_path / "a.zl", batches=SyntheticBatches(B, N, seed=1)
    )
    assert straight.final_step == 6 and straight.stop_reason == "completed"

    # Dies while fetching the first batch of step 4 (2 micro-batches per step), after checkpoint 3.
    with pytest.raises(KeyboardInterrupt):
        run_training(c, [], [], tmp_path / "b", batches=Killer(SyntheticBatches(B, N, seed=1), at=6))
    assert CheckpointStore(tmp_path / "b" / "checkpoints").latest_step() == 3

    resumed = run_training(
        c, [], [], tmp_path / "b", export_path=tmp_path / "b.zl", batches=SyntheticBatches(B, N, seed=1)
    )
    assert resumed.resumed_from == 3 and resumed.final_step == 6 and resumed.steps_run == 3

    sa, _, la = CheckpointStore(tmp_path / "a" / "checkpoints").restore_raw(6)
    sb, _, lb = CheckpointStore(tmp_path / "b" / "checkpoints").restore_raw(6)
    assert la == lb == {"index": 12, "seed": 1}
    for key in ("params", "batch_stats", "opt_state", "slow", "ema", "swa", "swa_count", "rng", "step"):
        assert_trees_close(sa[key], sb[key])

    # Export loads back as a model with the right weights and metadata.
    model, header = load_model_file(tmp_path / "a.zl")
    assert header.metadata["step"] == 6 and header.metadata["weights"] == "raw"
    _, weights = read_model_header(tmp_path / "b.zl")
    assert_trees_close(
        jax.tree.map(np.asarray, weights["stem"]), jax.tree.map(np.asarray, sa["slow"]["stem"])
    )
    logits, value = model(np.zeros((2, N, N, 3), np.float32))
    assert logits.shape == (2, N * N + 1) and value.shape == (2,)

    # EMA and SWA weights export too (the config picks one; export_model takes any).
    engine = cached_engine(c.model, c.train, 6, 0)
    state, _, _ = CheckpointStore(tmp_path / "b" / "checkpoints").restore(
        6, engine.abstract_state(), c.model, c.train
    )
    assert float(state.swa_count) == 3  # snapshots at steps 2, 4, 6
    for which in ("ema", "swa"):
        header, w = read_model_header(
            export_model(tmp_path / f"{which}.zl", engine, state, c.game, which=which)
        )
        assert header.metadata["weights"] == which
        np.testing.assert_array_equal(
            w["stem"]["kernel"], np.asarray(sb[which]["params"]["stem"]["kernel"]["value"])
        )
        assert not np.array_equal(w["stem"]["kernel"], weights["stem"]["kernel"])

    # A finished run is not trained again; rerunning only re-exports.
    again = run_training(c, [], [], tmp_path / "a", batches=SyntheticBatches(B, N, seed=1))
    assert again.steps_run == 0 and again.stop_reason == "already finished"


def test_mismatched_checkpoint_names_the_difference(tmp_path: Path) -> None:
    c = cfg("train.steps=2", "train.checkpoint.every=1")
    run_training(c, [], [], tmp_path, batches=SyntheticBatches(B, N))
    wider = cfg("train.steps=4", "model.channels=16", "train.optimizer=sgd")
    with pytest.raises(CheckpointMismatchError) as exc:
        run_training(wider, [], [], tmp_path, batches=SyntheticBatches(B, N))
    msg = str(exc.value)
    assert "model.channels: checkpoint has 8, config has 16" in msg
    assert "train state 'optimizer': checkpoint has 'adamw', config has 'sgd'" in msg
    assert "zeroloop migrate" in msg
    with pytest.raises(FileExistsError, match="auto-resume"):
        run_training(
            cfg("train.checkpoint.auto_resume=false"), [], [], tmp_path, batches=SyntheticBatches(B, N)
        )


def test_migrate_copies_what_fits(tmp_path: Path) -> None:
    c = cfg("train.steps=2")
    run_training(c, [], [], tmp_path / "old", export_path=tmp_path / "old.zl", batches=SyntheticBatches(B, N))
    new = cfg("train.steps=2", "model.value_hidden=16", "model.aux_heads=[ownership]")
    report = migrate(tmp_path / "old", new, tmp_path / "new")
    assert report.step == 2
    assert any(p.startswith("value_hidden/kernel") for p in report.reshaped)
    assert any(p.startswith("ownership_head/") for p in report.new)
    assert "stem/kernel" in report.copied and not report.dropped
    store = CheckpointStore(tmp_path / "new" / "checkpoints")
    engine = TrainEngine(new.model, new.train, 2, 2)
    state, meta, _ = store.restore(2, engine.abstract_state(), new.model, new.train)
    _, old_weights = read_model_header(tmp_path / "old.zl")
    np.testing.assert_array_equal(
        np.asarray(state.params["stem"]["kernel"][...]), old_weights["stem"]["kernel"]
    )
    # And from a model file, dropping a head the new config lacks.
    report2 = migrate(tmp_path / "old.zl", cfg("model.value_channels=4"), tmp_path / "new2")
    assert any(p.startswith("value_conv/kernel") for p in report2.reshaped)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    c = cfg("train.steps=8", "train.checkpoint.every=2")

    class Poisoned(SyntheticBatches):
        def __next__(self) -> dict[str, np.ndarray]:
            batch = super().__next__()
            if self.index > 3:
                batch["obs"] = batch["obs"] * np.nan
            return batch

    with pytest.raises(NonFiniteLossError, match="non-finite loss or gradient at step 4") as exc:
        run_training(c, [], [], tmp_path, batches=Poisoned(B, N))
    assert "last good checkpoint (step 2)" in str(exc.value)
    assert CheckpointStore(tmp_path / "checkpoints").all_steps() == [2]


def test_early_stopping_restores_best(tmp_path: Path) -> None:
    c = cfg("train.steps=20", "train.validation.every=1", "train.validation.early_stop_patience=2")
    engine = cached_engine(c.model, c.train, 20, 0)
    # The best weights are those after step 1: compute them by hand.
    state = engine.init_state(create_model(c.model, c.train.seed))
    src = SyntheticBatches(B, N, seed=5)
    state1, _ = engine.train_step(state, engine.select_batch(next(src)))
    want = jax.tree.map(np.asarray, state1.params)

    calls = {"n": 0}

    def validation() -> list[dict[str, np.ndarray]]:
        # Targets that get worse with every validation: the first one is the best.
        calls["n"] += 1
        batch = next(SyntheticBatches(B, N, seed=9))
        batch["value"] = batch["value"] * 0 + (1.0 if calls["n"] == 1 else -1.0) * calls["n"]
        return [batch]

    state = engine.init_state(create_model(c.model, c.train.seed))
    state, result = fit(engine, state, SyntheticBatches(B, N, seed=5), end_step=20, validation=validation)
    assert result.stop_reason == "early stopping" and result.best_step == 1
    assert result.final_step == 3
    assert_trees_close(jax.tree.map(np.asarray, state.params), want)


def test_bf16_path_runs(tmp_path: Path) -> None:
    c = cfg("train.steps=3", "train.precision=bf16", "train.checkpoint.every=0")
    s = run_training(c, [], [], tmp_path, export_path=tmp_path / "m.zl", batches=SyntheticBatches(B, N))
    assert s.final_step == 3 and np.isfinite(s.train_metrics["loss"])
    model, _ = load_model_file(tmp_path / "m.zl")
    assert model.stem.kernel[...].dtype == np.float32  # master weights stay float32


def test_fp16_with_loss_scaling_runs(tmp_path: Path) -> None:
    c = cfg("train.steps=4", "train.precision=fp16", "train.loss_scale_period=2", "train.checkpoint.every=0")
    s = run_training(c, [], [], tmp_path, batches=SyntheticBatches(B, N))
    assert s.final_step == 4 and np.isfinite(s.train_metrics["loss"])
    state, _, _ = CheckpointStore(tmp_path / "checkpoints").restore_raw(4)
    assert float(state["loss_scale"]) >= 2.0**15  # grew (or held) while steps stayed finite


def test_init_from_model_file_continues_its_step(tmp_path: Path) -> None:
    c = cfg("train.steps=2")
    run_training(c, [], [], tmp_path / "g1", export_path=tmp_path / "g1.zl", batches=SyntheticBatches(B, N))
    s = run_training(
        c,
        [],
        [],
        tmp_path / "g2",
        init_model=tmp_path / "g1.zl",
        export_path=tmp_path / "g2.zl",
        metadata={"generation": 2},
        batches=SyntheticBatches(B, N, seed=2),
    )
    assert (s.start_step, s.final_step) == (2, 4)
    _, header = load_model_file(tmp_path / "g2.zl")
    assert header.metadata["generation"] == 2 and header.metadata["step"] == 4
    with pytest.raises(CheckpointMismatchError, match="model.channels: 8 vs 16"):
        run_training(
            cfg("model.channels=16"),
            [],
            [],
            tmp_path / "g3",
            init_model=tmp_path / "g1.zl",
            batches=SyntheticBatches(B, N),
        )


def test_trainer_imports_only_jax_side() -> None:
    """The trainer must run on a machine with JAX alone: no Prefect, Ray, workers, tasks, flows."""
    import subprocess
    import sys

    code = (
        "import sys, zeroloop.trainer.train_stage, zeroloop.trainer.tools, zeroloop.trainer.migrate\n"
        "import zeroloop.data.loader\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('prefect', 'ray')\n"
        "       or m.startswith(('zeroloop.workers', 'zeroloop.tasks', 'zeroloop.flows'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _adam_count(raw_state: dict) -> int:
    counts = [
        int(np.asarray(v))
        for path, v in jax.tree_util.tree_leaves_with_path(raw_state["opt_state"])
        if "count" in jax.tree_util.keystr(path)
    ]
    assert counts, "no optimizer step counter in the state"
    return max(counts)


def test_next_generation_continues_the_training_state(tmp_path: Path) -> None:
    c = cfg("train.steps=4", "train.ema_decay=0.9")
    first = run_training(c, [], [], tmp_path / "gen1", batches=SyntheticBatches(B, N, seed=1))
    assert first.final_step == 4
    second = run_training(
        c, [], [], tmp_path / "gen2", init_state=tmp_path / "gen1", batches=SyntheticBatches(B, N, seed=2)
    )
    assert second.continued_from == str(tmp_path / "gen1")
    assert (second.start_step, second.final_step) == (4, 8)
    raw1, _, _ = CheckpointStore(tmp_path / "gen1" / "checkpoints").restore_raw(4)
    raw2, _, _ = CheckpointStore(tmp_path / "gen2" / "checkpoints").restore_raw(8)
    assert int(raw2["step"]) == 8
    assert _adam_count(raw1) == 4 and _adam_count(raw2) == 8  # Adam's moments carried on


def test_changed_architecture_warm_starts_from_the_model(tmp_path: Path, caplog) -> None:
    c = cfg("train.steps=2")
    run_training(
        c, [], [], tmp_path / "gen1", export_path=tmp_path / "gen1.zlm", batches=SyntheticBatches(B, N)
    )
    wider = cfg("train.steps=2", "train.optimizer=sgd")  # optimizer structure differs
    with caplog.at_level("WARNING", logger="zeroloop.trainer"):
        s = run_training(
            wider,
            [],
            [],
            tmp_path / "gen2",
            init_state=tmp_path / "gen1",
            init_model=tmp_path / "gen1.zlm",
            batches=SyntheticBatches(B, N),
        )
    assert s.continued_from is None and "not continuing the training state" in caplog.text
    assert s.final_step == 4  # the model file's step goes on (train.init_step_from_model)
