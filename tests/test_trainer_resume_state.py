"""What a resumed run must remember, and what it may change: early-stopping state lives
in checkpoints; training-only model knobs (dropout, norm momenta) change freely while
architecture keys are still refused (checkpoint resume, --init-model, the run dir)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from tests.test_trainer_loop import Killer, assert_trees_close, cfg
from zeroloop.config import ConfigError, write_run_config
from zeroloop.config.model import ARCHITECTURE_KEYS, TRAINING_KEYS, ModelConfig
from zeroloop.model.file import read_model_header
from zeroloop.model.network import create_model
from zeroloop.trainer.checkpoints import CheckpointMismatchError, CheckpointStore
from zeroloop.trainer.synthetic import SyntheticBatches
from zeroloop.trainer.train_stage import run_training

N, B = 3, 8

BASE = ModelConfig(blocks=1, channels=8, global_pool_every=1, norm="renorm", value_hidden=8)
# A changed value for every model key.
CHANGED: dict[str, object] = {
    "blocks": 2,
    "channels": 16,
    "global_pool_every": 0,
    "global_pool_channels": 4,
    "policy_channels": 8,
    "value_channels": 2,
    "value_head": "wdl",
    "value_hidden": 16,
    "aux_heads": ("ownership",),
    "norm": "batch",
    "edge_input": True,
    "norm_momentum": 0.9,
    "renorm_momentum": 0.9,
    "renorm_max_r": 2.0,
    "renorm_max_d": 2.0,
    "virtual_batch_size": 4,
    "dropout_rate": 0.25,
}


def tree_shapes(model_cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    state = nnx.state(nnx.eval_shape(lambda: create_model(model_cfg)), nnx.Not(nnx.RngState))
    flat = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(state))[0]
    return {jax.tree_util.keystr(p): tuple(x.shape) for p, x in flat}


def test_every_model_key_is_classified_by_what_it_does_to_the_parameter_tree() -> None:
    assert set(ARCHITECTURE_KEYS) | set(TRAINING_KEYS) == set(ModelConfig.model_fields) == set(CHANGED)
    assert not set(ARCHITECTURE_KEYS) & set(TRAINING_KEYS)
    base = tree_shapes(BASE)
    for key, value in CHANGED.items():
        changed = tree_shapes(BASE.model_copy(update={key: value}))
        if key in TRAINING_KEYS:
            assert changed == base, f"model.{key} changes the parameter tree but is a training key"
        else:
            assert changed != base, f"model.{key} leaves the parameter tree as is but is an architecture key"


def test_resume_under_a_changed_training_knob(tmp_path: Path) -> None:
    first = cfg("train.steps=4", "train.checkpoint.every=2")
    with pytest.raises(KeyboardInterrupt):  # killed fetching the batch of step 3
        run_training(first, [], [], tmp_path, batches=Killer(SyntheticBatches(B, N), at=2))
    resumed = run_training(
        cfg("train.steps=4", "train.checkpoint.every=2", "model.dropout_rate=0.2", "model.norm_momentum=0.9"),
        [],
        [],
        tmp_path,
        batches=SyntheticBatches(B, N),
    )
    assert resumed.resumed_from == 2 and resumed.final_step == 4
    # The architecture is still guarded.
    with pytest.raises(CheckpointMismatchError, match="model.value_hidden: checkpoint has 8, config has 16"):
        run_training(
            cfg("train.steps=6", "model.value_hidden=16"), [], [], tmp_path, batches=SyntheticBatches(B, N)
        )


def test_init_model_under_a_changed_training_knob(tmp_path: Path) -> None:
    run_training(
        cfg("train.steps=2"),
        [],
        [],
        tmp_path / "g1",
        export_path=tmp_path / "g1.zl",
        batches=SyntheticBatches(B, N),
    )
    s = run_training(
        cfg("train.steps=2", "model.dropout_rate=0.3", "model.virtual_batch_size=4"),
        [],
        [],
        tmp_path / "g2",
        init_model=tmp_path / "g1.zl",
        export_path=tmp_path / "g2.zl",
        batches=SyntheticBatches(B, N, seed=2),
    )
    assert (s.start_step, s.final_step) == (2, 4)
    header, _ = read_model_header(tmp_path / "g2.zl")
    assert header.model_config.dropout_rate == 0.3  # the file says how it was trained
    with pytest.raises(CheckpointMismatchError, match="model.blocks: 1 vs 2"):
        run_training(
            cfg("model.blocks=2"),
            [],
            [],
            tmp_path / "g3",
            init_model=tmp_path / "g1.zl",
            batches=SyntheticBatches(B, N),
        )


def test_run_dir_refuses_only_architecture_changes(tmp_path: Path) -> None:
    write_run_config(tmp_path, cfg())
    write_run_config(tmp_path, cfg("model.dropout_rate=0.1", "model.renorm_max_r=2"))
    with pytest.raises(ConfigError) as exc:
        write_run_config(tmp_path, cfg("model.dropout_rate=0.1", "model.channels=16"))
    assert "model.channels: run has 8, new config has 16" in str(exc.value)
    assert "dropout_rate" not in str(exc.value)
    with pytest.raises(ConfigError, match="game.board_size"):
        write_run_config(tmp_path, cfg("game.board_size=5"))


def worsening_validation() -> Callable[[], list[dict[str, np.ndarray]]]:
    """Held-out batches whose targets get worse with every call: the first call is the best.

    One counter per run (killed and resumed parts together), as the loss of one
    training trajectory would be.
    """
    calls = {"n": 0}

    def validation() -> list[dict[str, np.ndarray]]:
        calls["n"] += 1
        batch = next(SyntheticBatches(B, N, seed=9))
        batch["value"] = batch["value"] * 0 + (1.0 if calls["n"] == 1 else -1.0) * calls["n"]
        return [batch]

    return validation


def test_early_stopping_state_survives_a_kill(tmp_path: Path) -> None:
    c = cfg(
        "train.steps=10",
        "train.validation.every=1",
        "train.validation.early_stop_patience=3",
        "train.checkpoint.every=2",
    )
    straight = run_training(
        c,
        [],
        [],
        tmp_path / "a",
        export_path=tmp_path / "a.zl",
        batches=SyntheticBatches(B, N, seed=5),
        validation=worsening_validation(),
    )
    assert straight.stop_reason == "early stopping"
    assert (straight.best_step, straight.final_step) == (1, 4)

    validation = worsening_validation()
    with pytest.raises(KeyboardInterrupt):  # dies fetching the batch of step 3, after checkpoint 2
        run_training(
            c,
            [],
            [],
            tmp_path / "b",
            batches=Killer(SyntheticBatches(B, N, seed=5), at=2),
            validation=validation,
        )
    store = CheckpointStore(tmp_path / "b" / "checkpoints")
    meta = store.read_meta(2)
    store.close()
    assert meta["early_stop"] | {"best_loss": None} == {
        "best_loss": None,
        "best_step": 1,
        "bad_evals": 1,
        "has_best_weights": True,
    }
    resumed = run_training(
        c,
        [],
        [],
        tmp_path / "b",
        export_path=tmp_path / "b.zl",
        batches=SyntheticBatches(B, N, seed=5),
        validation=validation,
    )
    # Without the state in the checkpoint the resumed run would take step 3 as its best
    # and stop at step 6 with other weights.
    assert resumed.resumed_from == 2 and resumed.stop_reason == "early stopping"
    assert (resumed.best_step, resumed.final_step) == (1, 4)
    assert resumed.best_val_loss == pytest.approx(straight.best_val_loss)
    _, wa = read_model_header(tmp_path / "a.zl")
    _, wb = read_model_header(tmp_path / "b.zl")
    assert_trees_close(wa, wb)
