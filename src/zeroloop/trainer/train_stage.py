"""`run_training`: the train stage (shards in, checkpoints and a model file out).

    run_training(config, train_shards, test_shards, work_dir, init_model=None,
                 export_path=None, metadata=None, progress=None, init_state=None) -> TrainSummary

Work dir layout: checkpoints/<step>/ (Orbax), metrics.jsonl, tb/ (TensorBoard),
summary.json. Running it again on the same work dir resumes from the latest
checkpoint (train.checkpoint.auto_resume), so a killed stage continues exactly where
its last checkpoint was; a finished run only re-exports.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zeroloop.config.model import architecture_differences
from zeroloop.config.root import ZeroloopConfig
from zeroloop.model.file import load_model_file
from zeroloop.model.network import PolicyValueNet, create_model
from zeroloop.trainer.checkpoints import CheckpointMismatchError, CheckpointStore, meta_differences
from zeroloop.trainer.engine import Batch, cached_engine
from zeroloop.trainer.export import export_model
from zeroloop.trainer.metrics import MetricsLogger, peak_memory
from zeroloop.trainer.provenance import build_provenance
from zeroloop.trainer.training_loop import EarlyStopState, FitResult, ProgressFn, fit, save_final

log = logging.getLogger("zeroloop.trainer")


@dataclass
class TrainSummary:
    """What a training run did (JSON-able via to_dict)."""

    work_dir: str
    start_step: int
    final_step: int
    steps_run: int
    resumed_from: int | None
    stop_reason: str
    samples: int
    seconds: float
    samples_per_s: float
    train_metrics: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, float] = field(default_factory=dict)
    best_step: int | None = None
    best_val_loss: float | None = None
    checkpoint_step: int | None = None
    continued_from: str | None = None
    export_path: str | None = None
    export_weights: str | None = None
    peak_memory: dict[str, float] = field(default_factory=dict)
    skipped_shards: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_config_differences(a: Any, b: Any) -> list[str]:
    """'key: x vs y' for each differing architecture key of two ModelConfigs.

    Training-only keys (dropout rate, norm momenta...) are not compared: the same
    weights train under any value of them.
    """
    return [f"model.{k}: {x!r} vs {y!r}" for k, x, y in architecture_differences(a, b)]


def load_init_model(config: ZeroloopConfig, path: str | os.PathLike[str]) -> tuple[PolicyValueNet, int]:
    """(model, its global step) from a model file whose architecture must equal config.model's."""
    model, header = load_model_file(path)
    diffs = model_config_differences(header.model_config, config.model)
    if diffs:
        raise CheckpointMismatchError(
            f"{path}: the model file's architecture differs from the config (file vs config):\n  "
            + "\n  ".join(diffs)
            + "\nUse the file's model settings, or convert it with `zeroloop migrate`."
        )
    return model, int(header.metadata.get("step", 0))


def continue_state(
    config: ZeroloopConfig, previous_work_dir: str | os.PathLike[str] | None
) -> tuple[Any, Any] | None:
    """(engine, state) continuing the latest checkpoint of `previous_work_dir`, or None.

    None when there is no such checkpoint, or when it does not fit the config (then the
    log names the differences and the caller warm-starts from a model file instead).
    The engine counts this run's steps from the checkpoint's global step.
    """
    if previous_work_dir is None:
        return None
    directory = Path(previous_work_dir) / "checkpoints"
    if not directory.is_dir():
        return None
    store = CheckpointStore(directory, keep=10**6, async_save=False)
    try:
        step = store.latest_step()
        if step is None:
            return None
        meta = store.read_meta(step)
        diffs = meta_differences(meta, config.model, config.train)
        if diffs:
            log.warning(
                "not continuing the training state of %s (it does not fit the config: %s); "
                "warm start from the model file instead",
                directory,
                "; ".join(diffs),
            )
            return None
        engine = cached_engine(config.model, config.train, config.train.steps, step)
        state, _, _ = store.restore(step, engine.abstract_state(), config.model, config.train)
    finally:
        store.close()
    log.info("continuing the training state of %s at step %d", directory, step)
    return engine, state


def default_batches(
    config: ZeroloopConfig, train_shards: Sequence[str | os.PathLike[str]]
) -> Iterator[Batch]:
    """The real loader over the shards (zeroloop.data.loader, imported only when used)."""
    from zeroloop.data.loader import build_loader

    return build_loader(config, train_shards)


def default_validation(
    config: ZeroloopConfig, test_shards: Sequence[str | os.PathLike[str]]
) -> Callable[[], Iterable[Batch]] | None:
    """A fresh pass over the held-out shards per validation (same batches each time)."""
    if not test_shards:
        return None
    from zeroloop.data.loader import ShardLoader

    def batches() -> Iterable[Batch]:
        return ShardLoader(
            test_shards,
            config.train.batch_size,
            q_ratio=config.data.q_ratio,
            shuffle_buffer=config.data.loader.shuffle_buffer,
            seed=config.data.loader.seed,
            epochs=1,
            prefetch=0,
            board_size=config.game.board_size,
        )

    try:
        probe = batches()
        next(iter(probe))
        # What the held-out loader left out, for the training summary.
        batches.skipped = list(probe.skipped)  # type: ignore[attr-defined]
    except (ValueError, StopIteration):
        log.warning("held-out shards %s give no full batch; validation is off", list(map(str, test_shards)))
        return None
    return batches


def run_training(
    config: ZeroloopConfig,
    train_shards: Sequence[str | os.PathLike[str]],
    test_shards: Sequence[str | os.PathLike[str]],
    work_dir: str | os.PathLike[str],
    init_model: str | os.PathLike[str] | None = None,
    export_path: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    *,
    init_state: str | os.PathLike[str] | None = None,
    batches: Iterator[Batch] | None = None,
    validation: Callable[[], Iterable[Batch]] | None = None,
) -> TrainSummary:
    """Train `config.train.steps` optimizer steps (resuming from WORK_DIR when it has checkpoints).

    train_shards / test_shards: position shard files or directories (test may be empty).
    init_model: model file to start from when there is no checkpoint (training-init);
    its global step is continued when train.init_step_from_model.
    export_path: where to write the model file (weights per train.export_weights).
    metadata: extra model-file metadata (generation, ...); `trained_on` defaults to the shards.
    init_state: the work dir of an earlier run (the previous generation) to continue
    from when WORK_DIR has no checkpoint: its latest full training state (weights,
    optimizer, EMA/SWA, step, loss scale, plateau state), so the optimisation goes on
    as one run. If that state does not fit the config (architecture or optimizer
    structure changed), training starts from `init_model` and the log says why.
    batches / validation: a batch iterator (with state_dict/load_state_dict for exact
    resume) and a held-out batch factory that replace the shard loaders (tests, tools).
    """
    tc = config.train
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    store = CheckpointStore(work / "checkpoints", tc.checkpoint.keep, tc.checkpoint.async_save)
    latest = store.latest_step()
    loader_state: dict[str, Any] = {}
    finished = False
    early: EarlyStopState | None = None
    continued: str | None = None
    if latest is not None:
        if not tc.checkpoint.auto_resume:
            raise FileExistsError(
                f"{work} already has checkpoints (latest step {latest}); resume with --auto-resume "
                f"(train.checkpoint.auto_resume=true) or use a new work dir"
            )
        meta = store.read_meta(latest)
        engine = cached_engine(config.model, tc, tc.steps, int(meta["start_step"]))
        abstract = engine.abstract_state()
        state, meta, loader_state = store.restore(latest, abstract, config.model, tc)
        early = EarlyStopState.from_meta(meta.get("early_stop"), store.restore_best(latest, abstract))
        finished = bool(meta.get("finished"))
        log.info("resuming from %s at step %d", store.directory, latest)
    elif (carried := continue_state(config, init_state)) is not None:
        engine, state = carried
        continued = str(init_state)
    else:
        if init_model is not None:
            model, model_step = load_init_model(config, init_model)
            start = model_step if tc.init_step_from_model else 0
            log.info("initialised from %s (step %d)", init_model, model_step)
        else:
            model, start = create_model(config.model, tc.seed), 0
        engine = cached_engine(config.model, tc, tc.steps, start)
        state = engine.init_state(model)
    end_step = engine.start_step + tc.steps

    logger = MetricsLogger(work, tc.tensorboard)
    source: Iterator[Batch] | None = None
    skipped_shards: list[dict[str, str]] = []
    try:
        if finished or int(state.step) >= end_step:
            result = FitResult(
                start_step=int(state.step), final_step=int(state.step), stop_reason="already finished"
            )
        else:
            source = batches if batches is not None else default_batches(config, train_shards)
            if loader_state and hasattr(source, "load_state_dict"):
                source.load_state_dict(loader_state)
            if validation is None and batches is None:
                validation = default_validation(config, test_shards)
            loader = source if hasattr(source, "state_dict") else None
            state, result = fit(
                engine,
                state,
                source,
                end_step=end_step,
                logger=logger,
                loader=loader,
                store=store,
                validation=validation,
                progress=progress,
                early=early,
            )
            save_final(engine, store, state, loader, result, end_step)
            # Shards the loaders set aside or left out (damaged, another board size):
            # counted in the summary so a user sees what the model did not learn from.
            seen = set()
            for entry in [*getattr(source, "skipped", []), *getattr(validation, "skipped", [])]:
                if entry["source"] not in seen:
                    seen.add(entry["source"])
                    skipped_shards.append(entry)
        store.wait()
    finally:
        logger.close()
        store.close()
        if source is not None and hasattr(source, "close"):
            source.close()

    exported, used = None, None
    if export_path is not None:
        synthetic = bool(getattr(batches, "synthetic", False))
        meta = {
            "trained_on": [str(s) for s in train_shards],
            "provenance": build_provenance(config, train_shards, init_model, synthetic),
        }
        meta.update(metadata or {})
        exported = export_model(export_path, engine, state, config.game, metadata=meta)
        used = tc.export_weights
    summary = TrainSummary(
        work_dir=str(work),
        start_step=result.start_step,
        final_step=result.final_step,
        steps_run=result.final_step - result.start_step,
        resumed_from=latest,
        stop_reason=result.stop_reason,
        samples=result.samples,
        seconds=round(result.seconds, 3),
        samples_per_s=round(result.samples / result.seconds, 2) if result.seconds > 0 else 0.0,
        train_metrics=result.train_metrics,
        val_metrics=result.val_metrics,
        best_step=result.best_step,
        best_val_loss=result.best_val_loss,
        checkpoint_step=result.last_checkpoint,
        continued_from=continued,
        export_path=str(exported) if exported else None,
        export_weights=used,
        peak_memory=peak_memory(),
        skipped_shards=skipped_shards,
    )
    tmp = work / "summary.json.tmp"
    tmp.write_text(json.dumps(summary.to_dict(), indent=2, default=str))
    os.replace(tmp, work / "summary.json")
    return summary
