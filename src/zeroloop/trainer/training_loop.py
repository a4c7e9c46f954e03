"""The training loop over any batch iterator: logging, validation, early stopping,
the NaN/inf guard and periodic checkpoints.

`fit` knows nothing about shards: it takes an iterator of batch dicts and, for exact
resume, an optional object with `state_dict()` (the loader). `run_training` in
`train_stage.py` wires it to the real loader, checkpoints and export.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import numpy as np

from zeroloop.trainer.checkpoints import CheckpointStore, best_template, make_meta
from zeroloop.trainer.engine import Batch, TrainEngine
from zeroloop.trainer.metrics import Heartbeat, MetricsLogger, ProgressBar, mean_metrics, peak_memory
from zeroloop.trainer.state import TrainState, select_weights

log = logging.getLogger("zeroloop.trainer")

ProgressFn = Callable[[int, int], None]


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or inf loss or gradient; the run stopped without saving it."""


@dataclass
class EarlyStopState:
    """Early stopping's memory; saved with every checkpoint so a resumed run keeps it.

    best_weights: host copies of the best state's weight fields ({field: tree}, see
    `checkpoints.best_template`), kept only when early_stop_patience > 0.
    """

    best_loss: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    best_weights: dict[str, Any] | None = None

    def to_meta(self) -> dict[str, Any]:
        """The JSON part (the weights go into the checkpoint's `best` item)."""
        return {
            "best_loss": self.best_loss,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "has_best_weights": self.best_weights is not None,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None, best_weights: dict[str, Any] | None) -> EarlyStopState:
        m = meta or {}
        loss = m.get("best_loss")
        return cls(
            best_loss=None if loss is None else float(loss),
            best_step=m.get("best_step"),
            bad_evals=int(m.get("bad_evals", 0)),
            best_weights=best_weights,
        )


@dataclass
class FitResult:
    """What happened in one call of `fit` (host values only)."""

    start_step: int
    final_step: int
    samples: int = 0
    seconds: float = 0.0
    stop_reason: str = "completed"
    train_metrics: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, float] = field(default_factory=dict)
    best_step: int | None = None
    best_val_loss: float | None = None
    last_checkpoint: int | None = None
    early: EarlyStopState = field(default_factory=EarlyStopState)


def validate(
    engine: TrainEngine, state: TrainState, batches: Iterable[Batch], max_batches: int
) -> dict[str, float]:
    """Mean eval-mode metrics of the export weights over up to `max_batches` held-out batches."""
    weights, _ = select_weights(state, engine.train_cfg.export_weights)
    rows = []
    for i, batch in enumerate(batches):
        if i >= max_batches:
            break
        rows.append(engine.eval_step(weights, engine.select_batch(batch)))
    return mean_metrics(jax.device_get(rows)) if rows else {}


def _check_finite(rows: list[dict[str, Any]], step: int, precision: str, where: str) -> None:
    for i, r in enumerate(rows):
        if bool(r["finite"]):
            continue
        # fp16 overflows are expected and handled by the loss scale, until it bottoms out.
        if precision == "fp16" and float(r.get("loss_scale", 2.0)) > 1.0:
            continue
        bad = step - len(rows) + i + 1
        detail = ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(r.items()) if k != "finite")
        raise NonFiniteLossError(
            f"non-finite loss or gradient at step {bad} ({detail}). Training stopped and "
            f"nothing after the last good checkpoint ({where}) was saved. Lower the learning "
            f"rate, enable gradient clipping or use precision=f32, then resume."
        )


def _host_copy(tree: Any) -> Any:
    return jax.tree.map(lambda x: np.array(x, copy=True), tree)


def fit(
    engine: TrainEngine,
    state: TrainState,
    batches: Iterator[Batch],
    *,
    end_step: int,
    logger: MetricsLogger | None = None,
    loader: Stateful | None = None,
    store: CheckpointStore | None = None,
    validation: Callable[[], Iterable[Batch]] | None = None,
    progress: ProgressFn | None = None,
    early: EarlyStopState | None = None,
) -> tuple[TrainState, FitResult]:
    """Train from `state` until global step `end_step` (or early stop / data end).

    early: early stopping's state from the checkpoint a resumed run starts at.

    Each optimizer step consumes `accum_steps` batches. Metrics are fetched from the
    device every `log_every` steps only (so the host never stalls the device in
    between); the NaN guard looks at them then and before every checkpoint.
    """
    tc = engine.train_cfg
    k = tc.accum_steps
    start = int(state.step)
    result = FitResult(start_step=start, final_step=start, early=early or EarlyStopState())
    es = result.early
    result.best_step, result.best_val_loss = es.best_step, es.best_loss
    heartbeat = Heartbeat(tc.heartbeat_seconds, start, end_step)
    bar = ProgressBar(tc.progress_bar, end_step - engine.start_step)
    bar.update(start - engine.start_step)
    where = "none yet" if store is None or store.latest_step() is None else f"step {store.latest_step()}"
    result.last_checkpoint = None if store is None else store.latest_step()
    pending: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    t_log, samples_log = t0, 0
    step = start

    def run_validation() -> bool:
        """Validate, track the best; True when early stopping says stop."""
        if validation is None:
            return False
        vm = validate(engine, state, validation(), tc.validation.batches)
        if not vm:
            return False
        result.val_metrics = vm
        if logger:
            logger.log(step, "val", vm)
        loss = vm["loss"]
        if es.best_loss is None or loss < es.best_loss - tc.validation.early_stop_min_delta:
            es.best_loss, es.best_step, es.bad_evals = loss, step, 0
            result.best_val_loss, result.best_step = loss, step
            if tc.validation.early_stop_patience > 0:
                es.best_weights = _host_copy(best_template(state))
            return False
        es.bad_evals += 1
        return 0 < tc.validation.early_stop_patience <= es.bad_evals

    try:
        while step < end_step:
            try:
                for _ in range(k):
                    batch = next(batches)
                    state, m = engine.train_step(state, engine.select_batch(batch))
                    pending.append(m)
                    result.samples += len(batch["weight"])
                    samples_log += len(batch["weight"])
            except StopIteration:
                result.stop_reason = "data exhausted"
                log.warning("training data ran out at step %d of %d", step, end_step)
                break
            step += 1
            if step % tc.log_every == 0 or step == end_step:
                rows = jax.device_get(pending)
                pending = []
                _check_finite(rows, step, tc.precision, where)
                now = time.perf_counter()
                tm = mean_metrics([{k2: v for k2, v in r.items() if k2 != "finite"} for r in rows])
                tm["lr"] = float(rows[-1]["lr"])
                tm["samples_per_s"] = samples_log / max(now - t_log, 1e-9)
                t_log, samples_log = now, 0
                result.train_metrics = tm
                if logger:
                    logger.log(step, "train", tm)
                bar.update(step - engine.start_step, f"loss {tm['loss']:.4f}")
                heartbeat.beat(step, tm)
            if progress is not None:
                progress(step - engine.start_step, end_step - engine.start_step)
            vevery = tc.validation.every
            if vevery and step % vevery == 0 and step < end_step and run_validation():
                result.stop_reason = "early stopping"
                break
            every = tc.checkpoint.every
            if store is not None and every and step % every == 0 and step < end_step:
                _save(engine, store, state, loader, pending, tc.precision, step, early=es)
                where, result.last_checkpoint = f"step {step}", step
                pending = []
        if pending:
            _check_finite(jax.device_get(pending), step, tc.precision, where)
        if result.stop_reason != "early stopping" and validation is not None and run_validation():
            result.stop_reason = "early stopping"
        if result.stop_reason == "early stopping" and tc.validation.restore_best and es.best_weights:
            state = state.replace(**engine.place_state(es.best_weights))
            log.info(
                "early stopping at step %d: restored the best weights of step %s", step, result.best_step
            )
    finally:
        bar.close()
    result.final_step = step
    result.seconds = time.perf_counter() - t0
    if tc.heartbeat_seconds > 0:
        heartbeat.beat(step, result.train_metrics, force=True)
    return state, result


def _save(
    engine: TrainEngine,
    store: CheckpointStore,
    state: TrainState,
    loader: Stateful | None,
    pending: list[dict[str, Any]],
    precision: str,
    step: int,
    finished: bool = False,
    stop_reason: str | None = None,
    early: EarlyStopState | None = None,
) -> None:
    """Checkpoint `state` at `step` after checking nothing non-finite slipped in since the last log.

    early: early stopping's state, saved with the checkpoint (JSON in meta, weights as `best`).
    """
    if pending:
        last = store.latest_step()
        _check_finite(
            jax.device_get(pending), step, precision, "none yet" if last is None else f"step {last}"
        )
    meta = make_meta(engine.model_cfg, engine.train_cfg, step, engine.start_step, engine.total_steps)
    meta["finished"] = finished
    if stop_reason:
        meta["stop_reason"] = stop_reason
    meta["peak_memory"] = peak_memory()
    early = early or EarlyStopState()
    meta["early_stop"] = early.to_meta()
    loader_state = loader.state_dict() if loader is not None else None
    store.save(step, state, meta, loader_state, best=early.best_weights)


def save_final(
    engine: TrainEngine,
    store: CheckpointStore,
    state: TrainState,
    loader: Stateful | None,
    result: FitResult,
    end_step: int,
) -> None:
    """The end-of-run checkpoint; `finished` tells a rerun there is nothing left to train."""
    finished = result.final_step >= end_step or result.stop_reason == "early stopping"
    _save(
        engine,
        store,
        state,
        loader,
        [],
        engine.train_cfg.precision,
        result.final_step,
        finished,
        result.stop_reason,
        early=result.early,
    )
    result.last_checkpoint = result.final_step
