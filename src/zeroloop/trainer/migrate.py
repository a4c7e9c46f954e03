"""Convert a checkpoint or model file to a changed model config (seed 001 migrate-checkpoint).

Weights whose path and shape are unchanged are copied; new or reshaped ones keep
their fresh initialisation; weights the new config no longer has are dropped. The
optimizer state and the EMA/SWA averages start afresh (they are tied to the old
structure); the global step and the loader position are kept. The report lists
every change so nothing happens silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from zeroloop.config.root import ZeroloopConfig
from zeroloop.model.file import ModelFileError, read_model_header
from zeroloop.model.network import create_model
from zeroloop.trainer.checkpoints import CheckpointStore
from zeroloop.trainer.engine import TrainEngine
from zeroloop.trainer.training_loop import FitResult, save_final


@dataclass
class MigrationReport:
    source: str
    out_dir: str
    step: int
    copied: list[str] = field(default_factory=list)
    reshaped: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        lines = [f"migrated {self.source} -> {self.out_dir} (step {self.step})"]
        lines.append(f"  copied:   {len(self.copied)} arrays")
        for name, items in (("reshaped", self.reshaped), ("new", self.new), ("dropped", self.dropped)):
            lines.append(f"  {name + ':':9} {len(items)}")
            lines += [f"    {p}" for p in items]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a/b/c": leaf}; drops the 'value' level raw Orbax restores keep."""
    if isinstance(tree, dict):
        if set(tree) == {"value"} and not isinstance(tree["value"], dict):
            return {prefix[:-1]: tree["value"]}
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    return {prefix[:-1]: tree}


def _source_weights(source: Path) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """(flat {path: array} of weights and statistics, global step, loader state) of a source."""
    if source.is_file():
        header, weights = read_model_header(source)
        return _flatten(weights), int(header.metadata.get("step", 0)), {}
    store = CheckpointStore(source)
    step = store.latest_step()
    if step is None:
        raise ModelFileError(f"{source}: neither a model file nor a checkpoint directory with checkpoints")
    raw, _, loader = store.restore_raw(step)
    store.close()
    flat = _flatten(raw["params"])
    flat.update(_flatten(raw["batch_stats"]))
    return flat, step, loader


def migrate(
    source: str | os.PathLike[str], config: ZeroloopConfig, out_dir: str | os.PathLike[str]
) -> MigrationReport:
    """Write a checkpoint for `config` into OUT_DIR/checkpoints.

    source: a work dir, a checkpoint directory, or a model file.
    """
    src = Path(source)
    if (src / "checkpoints").is_dir():
        src = src / "checkpoints"
    old, step, loader_state = _source_weights(src)
    out = Path(out_dir)
    store = CheckpointStore(out / "checkpoints", config.train.checkpoint.keep, async_save=False)
    if store.latest_step() is not None:
        raise FileExistsError(f"{out} already has checkpoints; migrate into an empty directory")
    report = MigrationReport(str(source), str(out), step)
    model = create_model(config.model, config.train.seed)
    state = nnx.state(model, nnx.Not(nnx.RngState))
    new = nnx.to_pure_dict(state)
    flat_new = _flatten(new)
    for path, arr in flat_new.items():
        if path not in old:
            report.new.append(path)
        elif tuple(np.shape(old[path])) != tuple(arr.shape):
            report.reshaped.append(f"{path}: {tuple(np.shape(old[path]))} -> {tuple(arr.shape)}")
        else:
            report.copied.append(path)
    report.dropped = sorted(set(old) - set(flat_new))

    def fill(tree: Any, prefix: str = "") -> Any:
        if isinstance(tree, dict):
            return {k: fill(v, f"{prefix}{k}/") for k, v in tree.items()}
        key = prefix[:-1]
        if key in report.copied:
            return np.asarray(old[key], dtype=tree.dtype)
        return tree

    nnx.replace_by_pure_dict(state, jax.tree.map(np.asarray, fill(new), is_leaf=lambda x: x is None))
    nnx.update(model, state)
    engine = TrainEngine(config.model, config.train, config.train.steps, step)
    train_state = engine.init_state(model)
    report.notes.append("optimizer state, EMA and SWA start afresh")
    if loader_state:
        report.notes.append("loader position kept")
    result = FitResult(start_step=step, final_step=step, stop_reason="migrated")

    class _Loader:
        def state_dict(self) -> dict[str, Any]:
            return loader_state

    save_final(engine, store, train_state, _Loader(), result, step + config.train.steps)
    store.close()
    return report
