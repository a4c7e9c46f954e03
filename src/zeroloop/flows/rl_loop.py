"""The `rl-loop` and `sl-train` flows: the pipeline as Prefect sees it.

Served flows must be defined at module level (Prefect imports them by name).
Orchestration only: which stage runs, on which paths, in which order; each stage's
work is done by its stage function, called through a thin task.
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "zeroloop")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, get_run_logger  # noqa: E402

from zeroloop.config import ZeroloopConfig, load_config, write_run_config  # noqa: E402
from zeroloop.flows.plan import GenerationPlan, StageSwitches, plan_generation  # noqa: E402
from zeroloop.rundir import RunDir  # noqa: E402
from zeroloop.tasks import stages  # noqa: E402
from zeroloop.tasks.artifacts import generation_note  # noqa: E402
from zeroloop.tasks.cache import run_storage, stage_depends  # noqa: E402
from zeroloop.workers.gpu_share import share_gpu_in_this_process  # noqa: E402
from zeroloop.workers.ray_session import ensure_ray  # noqa: E402

FORCEABLE = ("selfplay", "preprocess", "shuffle", "train", "evaluate")


def _resolve_config(config_path: str | None, overrides: list[str] | None, selfplay: bool) -> ZeroloopConfig:
    config = load_config(config_path, overrides or [])
    if not selfplay and config.orchestration.selfplay:
        config = config.model_copy(
            update={"orchestration": config.orchestration.model_copy(update={"selfplay": False})}
        )
    return config


@flow(name="rl-loop", log_prints=True)
def rl_loop(
    config_path: str | None = "configs/quick.yaml",
    run_dir: str = "runs/default",
    generations: int | None = None,
    overrides: list[str] | None = None,
    selfplay: bool = True,
    preprocessing: bool = True,
    trmph_processing: bool = True,
    shuffling: bool = True,
    training: bool = True,
    evaluation: bool = True,
    cleanup: bool = True,
    selfplay_dir: str | None = None,
    force: list[str] | None = None,
) -> dict[str, Any]:
    """Self-play -> preprocess -> shuffle -> train -> evaluate -> promote, per generation.

    Running it again on the same run directory resumes: finished stages come back from
    Prefect's cache (state Cached) and a half-done stage continues from what is on disk.
    `force` names stages to redo (e.g. ["train"]).
    """
    logger = get_run_logger()
    config = _resolve_config(config_path, overrides, selfplay)
    switches = StageSwitches(
        selfplay=selfplay and config.orchestration.selfplay,
        preprocessing=preprocessing,
        trmph_processing=trmph_processing,
        shuffling=shuffling,
        training=training,
        evaluation=evaluation,
        cleanup=cleanup,
        selfplay_dir=selfplay_dir,
    )
    bad = sorted(set(force or []) - set(FORCEABLE))
    if bad:
        raise ValueError(f"force: unknown stage(s) {bad}; choose from {list(FORCEABLE)}")
    rd = RunDir.at(run_dir)
    write_run_config(rd.root, config)
    total = generations or config.orchestration.generations
    logger.info("run %s: %d generation(s) of %s", rd.root, total, config.name)
    share_gpu_in_this_process(config)  # before this process's JAX touches the GPU
    if switches.selfplay or switches.evaluation:
        ensure_ray(config)
    policy, storage = run_storage(rd.root)
    config_json = config.model_dump(mode="json")
    results: dict[str, Any] = {}
    init_model = stages.init_model_task.with_options(cache_policy=policy, result_storage=storage)(
        str(rd.root), 0, "init-model", stage_depends(config, "train"), config_json
    )
    for generation in range(1, total + 1):
        plan = plan_generation(rd, config, generation, switches)
        results[f"gen-{generation:04d}"] = run_generation(
            rd, config, config_json, plan, switches, policy, storage, set(force or []), init_model
        )
    return {"run_dir": str(rd.root), "best_generation": rd.best_generation(), "generations": results}


def run_generation(
    rd: RunDir,
    config: ZeroloopConfig,
    config_json: dict[str, Any],
    plan: GenerationPlan,
    switches: StageSwitches,
    policy: Any,
    storage: str,
    force: set[str],
    init_model: str,
) -> dict[str, Any]:
    """Submit one generation's stages in order; returns their summaries."""
    g = plan.generation
    root = str(rd.root)
    out: dict[str, Any] = {}

    def opts(task: Any, stage: str) -> Any:
        if stage in force:
            rd.clear_stage(g, stage)
        return task.with_options(
            cache_policy=policy, result_storage=storage, refresh_cache=stage in force or None
        )

    # The best model when this generation first started: it plays the self-play games
    # and is the opponent the new model must beat (promotion happens after both).
    best = rd.pinned(g, "best_model", lambda: str(rd.best_model() or init_model))
    if plan.run_selfplay:
        depends = stage_depends(config, "selfplay", model=best)
        out["selfplay"] = opts(stages.selfplay_task, "selfplay")(
            root, g, "selfplay", depends, config_json, best
        )
    if plan.run_preprocess:
        depends = stage_depends(config, "preprocess", inputs=plan.preprocess_inputs)
        out["preprocess"] = opts(stages.preprocess_task, "preprocess")(
            root, g, "preprocess", depends, config_json, plan.preprocess_inputs, switches.cleanup
        )
    if plan.run_shuffle:
        inputs = plan.shuffle_inputs()
        depends = stage_depends(config, "shuffle", inputs=inputs)
        out["shuffle"] = opts(stages.shuffle_task, "shuffle")(
            root, g, "shuffle", depends, config_json, inputs, switches.cleanup
        )
    if plan.run_train and not plan.ready_to_train():
        get_run_logger().info(
            "generation %d: fewer than data.window.chunks_per_network=%d new chunks; "
            "training waits for more self-play",
            g,
            config.data.window.chunks_per_network,
        )
    elif plan.run_train:
        train_shards, test_shards = plan.train_shards(), plan.test_shards()
        init = plan.init_model or init_model
        steps = plan.train_steps()  # train.steps under the data.window.max_reuse cap
        train_json = config_json | {"train": config_json["train"] | {"steps": steps}}
        depends = stage_depends(
            config, "train", shards=train_shards, init=init, steps=steps, state=plan.init_state
        )
        out["train"] = opts(stages.train_task, "train")(
            root, g, "train", depends, train_json, train_shards, test_shards, init, plan.init_state
        )
    candidate = rd.model_path(g)
    if plan.run_evaluate and candidate.exists():
        depends = stage_depends(config, "evaluate", candidate=str(candidate), opponent=best)
        ev = opts(stages.evaluate_task, "evaluate")(
            root, g, "evaluate", depends, config_json, str(candidate), best
        )
        out["evaluate"] = ev
        # The evaluation stage makes the gating decision (eval.gating, eval.gating_threshold).
        promote, reason = bool(ev["promoted"]), str(ev["reason"])
    else:
        promote, reason = candidate.exists(), "no evaluation: newest model becomes best"
    if candidate.exists():
        depends = stage_depends(config, "promote", candidate=str(candidate))
        out["promote"] = opts(stages.promote_task, "promote")(root, g, "promote", depends, promote, reason)
    generation_note(g, _note(rd, plan, out))
    return out


def _note(rd: RunDir, plan: GenerationPlan, out: dict[str, Any]) -> str:
    lines = [f"# Generation {plan.generation}", "", f"Run directory: `{rd.root}`", ""]
    for stage, summary in out.items():
        brief = ", ".join(
            f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
            for k, v in summary.items()
            if isinstance(v, int | float | str | bool) and not str(v).startswith("/")
        )
        lines.append(f"- **{stage}**: {brief}")
    lines += ["", f"Best model: generation {rd.best_generation()}"]
    return "\n".join(lines)


@flow(name="sl-train", log_prints=True)
def sl_train(
    config_path: str | None = "configs/sl.yaml",
    run_dir: str = "runs/sl",
    trmph_dirs: list[str] | None = None,
    overrides: list[str] | None = None,
    shuffling: bool = True,
    training: bool = True,
    evaluation: bool = True,
    cleanup: bool = True,
    force: list[str] | None = None,
) -> dict[str, Any]:
    """Supervised training from TRMPH files: preprocess -> shuffle -> train -> evaluate.

    The same stages as `rl-loop` with self-play disabled; `trmph_dirs` overrides
    `data.trmph_dirs` of the config.
    """
    extra = list(overrides or [])
    if trmph_dirs:
        extra.append("data.trmph_dirs=[" + ",".join(f'"{Path(d)}"' for d in trmph_dirs) + "]")
    return rl_loop.fn(
        config_path=config_path,
        run_dir=run_dir,
        generations=1,
        overrides=extra,
        selfplay=False,
        shuffling=shuffling,
        training=training,
        evaluation=evaluation,
        cleanup=cleanup,
        force=force,
    )
