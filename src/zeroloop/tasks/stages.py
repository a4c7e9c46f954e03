"""Prefect tasks, one per stage. Each is thin: load config, call the stage function,
record progress and a summary artifact, and return paths plus a small JSON-able
summary (never arrays). The flow marks the stage done in the manifest from that
returned result, after Prefect has stored it (see RunDir.mark_done).

Every task takes `run_dir`, `generation`, `stage` and `depends`: these four make its
cache key (see `zeroloop.tasks.cache`), so a finished stage is not redone on retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task

from zeroloop.config import ZeroloopConfig
from zeroloop.rundir import RunDir
from zeroloop.tasks.artifacts import StageProgress, ladder_artifact, run_name, summary_table


def _config(config_json: dict[str, Any]) -> ZeroloopConfig:
    return ZeroloopConfig.model_validate(config_json)


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[dict[str, Any], float]:
    """Call a stage function; return its summary dict and the seconds it took.

    The seconds are the stage's own work, so orchestration overhead can be measured as
    the flow's wall time minus the sum of these (benchmarks/bench_orchestration.py).
    """
    start = time.perf_counter()
    summary = fn(*args, **kwargs)
    return summary.to_dict(), time.perf_counter() - start


def _finish(run_dir: str, generation: int, stage: str, summary: dict[str, Any]) -> dict[str, Any]:
    summary_table(stage, generation, summary, run=run_name(run_dir))
    get_run_logger().info("%s gen %d done: %s", stage, generation, _one_line(summary))
    return summary


def _one_line(summary: dict[str, Any]) -> str:
    items = [
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in summary.items()
        if isinstance(v, int | float | str)
    ]
    return ", ".join(items[:10])


@task(name="init-model", persist_result=True)
def init_model_task(run_dir: str, generation: int, stage: str, depends: str, config_json: dict) -> str:
    """Write the generation-0 model (random weights) and make it the best model."""
    from zeroloop.model.file import save_model_file
    from zeroloop.model.network import create_model

    config = _config(config_json)
    rd = RunDir.at(run_dir)
    path = rd.model_path(0)
    if not path.exists():
        model = create_model(config.model, seed=config.train.seed)
        save_model_file(path, model, config.game, {"generation": 0, "step": 0, "trained_on": []})
    if rd.best_generation() is None:
        rd.set_best(0, "initial random model")
    return str(path)


def _run_stage(
    stage: str, run_dir: str, generation: int, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    """Run one stage function with a live progress artifact; record and return its summary."""
    progress = StageProgress(stage, generation, run=run_name(run_dir))
    summary, seconds = _timed(fn, *args, progress=progress, **kwargs)
    progress.finish()
    return _finish(run_dir, generation, stage, summary | {"stage_seconds": seconds})


@task(name="selfplay", persist_result=True)
def selfplay_task(
    run_dir: str, generation: int, stage: str, depends: str, config_json: dict, model_path: str
) -> dict[str, Any]:
    from zeroloop.workers.selfplay_stage import run_selfplay

    out = RunDir.at(run_dir).selfplay_dir(generation)
    return _run_stage(
        "selfplay", run_dir, generation, run_selfplay, _config(config_json), out, model_path=model_path
    ) | {"out_dir": str(out)}


@task(name="preprocess", persist_result=True)
def preprocess_task(
    run_dir: str,
    generation: int,
    stage: str,
    depends: str,
    config_json: dict,
    inputs: list[str],
    cleanup: bool,
) -> dict[str, Any]:
    from zeroloop.data.preprocess import run_preprocess

    out = RunDir.at(run_dir).positions_dir(generation)
    return _run_stage(
        "preprocess", run_dir, generation, run_preprocess, _config(config_json), inputs, out, cleanup=cleanup
    ) | {"out_dir": str(out)}


@task(name="shuffle", persist_result=True)
def shuffle_task(
    run_dir: str,
    generation: int,
    stage: str,
    depends: str,
    config_json: dict,
    inputs: list[str],
    cleanup: bool,
) -> dict[str, Any]:
    from zeroloop.data.shuffle import run_shuffle

    out = RunDir.at(run_dir).shuffled_dir(generation)
    return _run_stage(
        "shuffle", run_dir, generation, run_shuffle, _config(config_json), inputs, out, cleanup=cleanup
    ) | {"out_dir": str(out)}


@task(name="train", persist_result=True)
def train_task(
    run_dir: str,
    generation: int,
    stage: str,
    depends: str,
    config_json: dict,
    train_shards: list[str],
    test_shards: list[str],
    init_model: str | None,
    init_state: str | None = None,
) -> dict[str, Any]:
    from zeroloop.trainer.train_stage import run_training

    rd = RunDir.at(run_dir)
    return _run_stage(
        "train",
        run_dir,
        generation,
        run_training,
        _config(config_json),
        train_shards,
        test_shards,
        rd.checkpoint_dir(generation),
        init_model=init_model,
        init_state=init_state,
        export_path=rd.model_path(generation),
        metadata={"generation": generation, "trained_on": train_shards},
    )


@task(name="evaluate", persist_result=True)
def evaluate_task(
    run_dir: str,
    generation: int,
    stage: str,
    depends: str,
    config_json: dict,
    candidate: str,
    opponent: str,
) -> dict[str, Any]:
    from zeroloop.evaluation.perfect_play import run_evaluation_with_perfect_play

    rd = RunDir.at(run_dir)
    summary = _run_stage(
        "evaluate",
        run_dir,
        generation,
        run_evaluation_with_perfect_play,  # arena.run_evaluation (+ eval.perfect_play)
        _config(config_json),
        candidate,
        opponent,
        rd.eval_path(generation),
        run_dir=rd.root,
        generation=generation,
    )
    ladder_artifact(rd.root)
    return summary


@task(name="promote", persist_result=True)
def promote_task(
    run_dir: str, generation: int, stage: str, depends: str, promote: bool, reason: str, previous_best: str
) -> dict[str, Any]:
    """Point the best model at this generation if it earned it, else at the one it faced.

    Setting the pointer either way makes a re-run of an old generation (forced, or with
    changed inputs) put history back in order instead of leaving a later generation's
    pointer behind. Running at all means this generation's outcome may have changed, so
    later generations choose their best model again.
    """
    rd = RunDir.at(run_dir)
    previous = rd.generation_of(previous_best)
    if promote:
        rd.set_best(generation, reason)
    elif previous is not None and previous != rd.best_generation():
        rd.set_best(previous, f"generation {generation} not promoted: {reason}")
    rd.clear_pins(after=generation)
    summary = {"promoted": promote, "reason": reason, "best_generation": rd.best_generation()}
    return _finish(run_dir, generation, "promote", summary)
