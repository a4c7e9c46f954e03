"""Evaluate a model or checkpoint over position shards (lczero-training's `training-eval`).

Every position of the shards is run through the network once, in eval mode, and
the losses the trainer optimises are averaged with the shards' sample weights, as
the trainer's validation does; besides them: policy top-1 accuracy (the network's
most likely legal move is the target's most likely move) and value sign accuracy
(the predicted value has the sign of the game's result z, +1 when the mover won).
Optionally the inputs and outputs of each position are written to a NumPy `.npz`
or an Arrow IPC (`.arrow` / `.feather`) file, for looking at them elsewhere.

Batches are padded to a fixed size with weight-0 rows, so one compilation serves
the whole run and the padding counts for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from flax import nnx

from zeroloop.config import ZeroloopConfig
from zeroloop.data.atomic import atomic_path
from zeroloop.data.loader import shard_columns, to_training_batch
from zeroloop.data.shards import iter_batches, shard_board_size
from zeroloop.data.sources import expand_shards
from zeroloop.model.file import ModelFileError, load_model_file
from zeroloop.model.network import PolicyValueNet, value_from_head
from zeroloop.trainer.checkpoints import CheckpointStore
from zeroloop.trainer.engine import TrainEngine
from zeroloop.trainer.losses import compute_losses, policy_loss, value_loss
from zeroloop.trainer.state import select_weights

DUMP_SUFFIXES = (".npz", ".arrow", ".feather")
# Per-position arrays of a dump: inputs first, then what the network made of them.
DUMP_KEYS = (
    "obs",
    "legal",
    "policy_target",
    "value_target",
    "z",
    "weight",
    "policy",
    "value",
    "policy_loss",
    "value_loss",
    "top1_hit",
    "sign_hit",
)


@dataclass
class ShardEvaluation:
    """Weighted means over the positions evaluated, and where they came from."""

    source: str
    weights: str
    positions: int
    shards: int
    metrics: dict[str, float] = field(default_factory=dict)
    dump: str | None = None

    def table_rows(self) -> list[tuple[str, str]]:
        rows = [("model", self.source), ("weights", self.weights)]
        rows += [("shards", f"{self.shards:,}"), ("positions", f"{self.positions:,}")]
        rows += [(k, f"{v:.4f}") for k, v in self.metrics.items()]
        if self.dump:
            rows.append(("dump", self.dump))
        return rows


def load_eval_model(
    source: str | os.PathLike[str], config: ZeroloopConfig, step: int | None = None, which: str | None = None
) -> tuple[PolicyValueNet, str, str]:
    """(model in eval mode, description, weights used) from a model file or a checkpoint.

    source: a `.zlm` model file, a checkpoint directory, or a training work dir holding
    `checkpoints/`. A checkpoint is restored under `config` (its model and train
    sections must fit, as for resuming); `step` picks one (default: the latest) and
    `which` the weights ('raw' | 'ema' | 'swa', default train.export_weights).
    """
    src = Path(source)
    if src.is_file():
        if step is not None or which is not None:
            raise ValueError(f"{src}: --step and --weights apply to checkpoints, not to a model file")
        model, _ = load_model_file(src)
        return model, str(src), "as exported"
    ckpt = src / "checkpoints" if (src / "checkpoints").is_dir() else src
    if not ckpt.is_dir():
        raise ModelFileError(f"{src}: no such model file or checkpoint directory")
    store = CheckpointStore(ckpt, async_save=False)
    try:
        steps = store.all_steps()
        if not steps:
            raise ModelFileError(f"{ckpt}: a directory without checkpoints")
        chosen = steps[-1] if step is None else step
        if chosen not in steps:
            raise ValueError(f"--step {chosen}: no such checkpoint in {ckpt}; steps there: {steps}")
        engine = TrainEngine(config.model, config.train, total_steps=max(config.train.steps, 1))
        state, _, _ = store.restore(chosen, engine.abstract_state(), config.model, config.train)
    finally:
        store.close()
    weights, used = select_weights(state, which or config.train.export_weights)
    return engine.model_from_weights(weights), f"{ckpt} step {chosen}", used


def _padded_batches(
    paths: Sequence[Path], board_size: int, batch_size: int, q_ratio: float, limit: int | None
) -> Iterator[tuple[dict[str, np.ndarray], int]]:
    """(training batch of exactly `batch_size` rows, real rows in it), shard order kept."""
    pending: list[dict[str, np.ndarray]] = []
    held, seen = 0, 0

    def emit(parts: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], int]:
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        real = len(cols["value"])
        batch = to_training_batch(cols, board_size, q_ratio)
        if real < batch_size:  # pad with weight-0 copies of row 0: same shapes, no effect
            idx = np.concatenate([np.arange(real), np.zeros(batch_size - real, dtype=np.int64)])
            batch = {k: v[idx] for k, v in batch.items()}
            batch["weight"][real:] = 0.0
        return batch, real

    for path in paths:
        for record_batch in iter_batches(path, board_size):
            cols = shard_columns(record_batch, board_size)
            n = len(cols["value"])
            if limit is not None:
                n = min(n, limit - seen)
                cols = {k: v[:n] for k, v in cols.items()}
            seen += n
            while n:
                take = min(n, batch_size - held)
                pending.append({k: v[:take] for k, v in cols.items()})
                cols = {k: v[take:] for k, v in cols.items()}
                n -= take
                held += take
                if held == batch_size:
                    yield emit(pending)
                    pending, held = [], 0
            if limit is not None and seen >= limit:
                break
        if limit is not None and seen >= limit:
            break
    if pending:
        yield emit(pending)


def _step_fn(model: PolicyValueNet, config: ZeroloopConfig) -> Any:
    graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    loss_cfg = config.train.loss

    @jax.jit
    def step(params: Any, stats: Any, batch: dict[str, jax.Array]) -> tuple[dict, dict]:
        net = nnx.merge(graphdef, params, stats)
        out = net.forward(batch["obs"])
        means = compute_losses(out, batch, loss_cfg, 1.0)
        logits = jnp.where(batch["legal"], out.policy_logits.astype(jnp.float32), -1e9)
        value = value_from_head(out.value_out)
        rows = {
            "policy": jax.nn.softmax(logits, axis=-1),
            "value": value,
            "policy_loss": policy_loss(
                out.policy_logits,
                batch["policy"],
                batch["legal"],
                loss_cfg.policy,
                loss_cfg.policy_temperature,
            ),
            "value_loss": value_loss(
                out.value_out,
                batch["value"],
                loss_cfg.value,
                loss_cfg.huber_delta,
                loss_cfg.value_label_smoothing,
            ),
            "top1_hit": jnp.argmax(logits, -1) == jnp.argmax(batch["policy"], -1),
            "sign_hit": jnp.sign(value) == jnp.sign(batch["z"]),
        }
        return means, rows

    return lambda batch: step(params, stats, batch)


def evaluate_shards(
    model: PolicyValueNet,
    shards: Sequence[str | os.PathLike[str]],
    config: ZeroloopConfig,
    batch_size: int = 256,
    max_positions: int | None = None,
    dump: str | os.PathLike[str] | None = None,
    source: str = "",
    weights: str = "",
) -> ShardEvaluation:
    """Run `model` over every position of `shards` (up to `max_positions`); see the module doc.

    Metrics are weighted means (shard sample weights): loss, policy_loss, value_loss
    (and auxiliary losses when the model has those heads) as the trainer computes
    them, policy_accuracy (top-1), value_mse, value_sign_accuracy.
    """
    if dump is not None and Path(dump).suffix not in DUMP_SUFFIXES:
        raise ValueError(f"--dump {dump}: the file name must end in one of {', '.join(DUMP_SUFFIXES)}")
    paths = expand_shards(shards)
    if not paths:
        raise FileNotFoundError(f"no position shards under {[str(s) for s in shards]}")
    board_size = shard_board_size(paths[0])
    if board_size != config.game.board_size:
        raise ValueError(
            f"{paths[0]}: {board_size}x{board_size} positions, but the config plays "
            f"game.board_size={config.game.board_size}"
        )
    step = _step_fn(model, config)
    sums: dict[str, float] = {}
    total_w = sign_w = 0.0
    sign_hits = 0.0
    positions = 0
    dumped: dict[str, list[np.ndarray]] = {k: [] for k in DUMP_KEYS}
    for batch, real in _padded_batches(paths, board_size, batch_size, config.data.q_ratio, max_positions):
        means, rows = jax.device_get(step({k: jnp.asarray(v) for k, v in batch.items()}))
        w = batch["weight"][:real]
        bw = float(w.sum())
        for k, v in means.items():
            sums[k] = sums.get(k, 0.0) + float(v) * bw
        total_w += bw
        sign_hits += float((w * rows["sign_hit"][:real]).sum())
        sign_w += bw
        positions += real
        if dump is not None:
            inputs = {
                "obs": batch["obs"],
                "legal": batch["legal"],
                "policy_target": batch["policy"],
                "value_target": batch["value"],
                "z": batch["z"],
                "weight": batch["weight"],
            }
            for k in DUMP_KEYS:
                dumped[k].append(np.asarray(inputs[k] if k in inputs else rows[k])[:real])
    if positions == 0:
        raise ValueError("the position shards hold no rows")
    metrics = {k: v / max(total_w, 1e-12) for k, v in sorted(sums.items())}
    metrics["value_sign_accuracy"] = sign_hits / max(sign_w, 1e-12)
    result = ShardEvaluation(source, weights, positions, len(paths), metrics)
    if dump is not None:
        result.dump = str(write_dump({k: np.concatenate(v) for k, v in dumped.items()}, dump))
    return result


def write_dump(arrays: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """Write per-position arrays ([P, ...] each) as `.npz` or an Arrow IPC file, atomically.

    In Arrow, an array with trailing axes becomes a fixed-size list column of the
    flattened row (obs [P, N, N, 3] -> list of N*N*3); the shapes are kept in the
    schema metadata as `shape.NAME`.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        else:
            cols, meta = {}, {}
            for name, arr in arrays.items():
                meta[f"shape.{name}"] = ",".join(str(d) for d in arr.shape[1:])
                if arr.ndim == 1:
                    cols[name] = pa.array(arr)
                else:
                    flat = arr.reshape(len(arr), -1)
                    cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
            table = pa.table(cols).replace_schema_metadata(meta)
            with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
    return path
