"""The `rl-loop` and `sl-train` flows: the pipeline as Prefect sees it.

Served flows must be defined at module level (Prefect imports them by name).
Orchestration only: which stage runs, on which paths, in which order; each stage's
work is done by its stage function, called through a thin task.
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "zeroloop")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect waits 20 s for its temporary API server; the first start after an install
# (database migrations, cold .pyc files) took longer on 2 cores and failed the run.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, get_run_logger  # noqa: E402

from zeroloop.config import ZeroloopConfig, load_config, write_run_config  # noqa: E402
from zeroloop.data.fingerprint import load_memo, save_memo  # noqa: E402
from zeroloop.flows.force import FORCEABLE, ForcePlan, parse_force  # noqa: E402, F401
from zeroloop.flows.plan import GenerationPlan, StageSwitches, plan_generation  # noqa: E402
from zeroloop.retention import apply_retention, stable_fingerprint, stable_fingerprints  # noqa: E402
from zeroloop.rundir import RunDir  # noqa: E402
from zeroloop.tasks import stages  # noqa: E402
from zeroloop.tasks.artifacts import publish_generation  # noqa: E402
from zeroloop.tasks.cache import StageKey, run_storage, stage_depends, stage_key  # noqa: E402
from zeroloop.workers.gpu_share import share_gpu_in_this_process  # noqa: E402
from zeroloop.workers.ray_session import check_ray_address  # noqa: E402


def _resolve_config(config_path: str | None, overrides: list[str] | None, selfplay: bool) -> ZeroloopConfig:
    config = load_config(config_path, overrides or [])
    if not selfplay and config.orchestration.selfplay:
        config = config.model_copy(
            update={"orchestration": config.orchestration.model_copy(update={"selfplay": False})}
        )
    return config


@flow(name="rl-loop", log_prints=True)
def rl_loop(
    config_path: str | None = "quick",
    run_dir: str = "runs/default",
    generations: int | None = None,
    overrides: list[str] | None = None,
    selfplay: bool = True,
    preprocessing: bool = True,
    trmph_processing: bool = True,
    shuffling: bool = True,
    training: bool = True,
    evaluation: bool = True,
    cleanup: bool | None = None,
    selfplay_dir: str | None = None,
    force: list[str] | None = None,
) -> dict[str, Any]:
    """Self-play -> preprocess -> shuffle -> train -> evaluate -> promote, per generation.

    Running it again on the same run directory resumes: finished stages come back from
    Prefect's cache (state Cached) and a half-done stage continues from what is on disk.
    A stage whose inputs' contents or result-changing config keys changed runs again
    (docs/orchestration.md). `force` lists `STAGE[@GEN]` to redo, e.g. ["train@2"]: that
    stage's outputs are deleted and it re-runs with every later stage of that and the
    later generations. One flow run at a time holds the run directory (RunDirBusy).
    `cleanup` None = `data.cleanup`; when on, `orchestration.retention` is applied
    after each generation.
    """
    config = _resolve_config(config_path, overrides, selfplay)
    cleanup = config.data.cleanup if cleanup is None else cleanup
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
    force_plan = ForcePlan(parse_force(force))
    if switches.selfplay or switches.evaluation:
        # Before the run directory: a bad ray_address leaves nothing behind. Ray itself
        # starts in the stages that have work, so an all-Cached rerun never waits for it.
        check_ray_address(config)
    rd = RunDir.at(run_dir)
    with rd.run_lock():
        return _loop(rd, config, switches, generations, force_plan)


def _loop(
    rd: RunDir, config: ZeroloopConfig, switches: StageSwitches, generations: int | None, force: ForcePlan
) -> dict[str, Any]:
    logger = get_run_logger()
    write_run_config(rd.root, config)
    total = generations or config.orchestration.generations
    logger.info("run %s: %d generation(s) of %s", rd.root, total, config.name)
    share_gpu_in_this_process(config)  # before this process's JAX touches the GPU
    policy, storage = run_storage(rd.root)
    config_json = config.model_dump(mode="json")
    results: dict[str, Any] = {}
    init_model = stages.init_model_task.with_options(
        cache_policy=policy, result_storage=storage, task_run_name="init-model"
    )(str(rd.root), 0, "init-model", stage_depends(config, "init-model", seed=config.train.seed), config_json)
    memo = rd.root / ".prefect" / "fingerprints.json"  # file hashes, reused across reruns
    load_memo(memo)
    for generation in range(1, total + 1):
        if force.repins(generation):
            rd.clear_pins(after=generation - 1)  # an earlier generation is redone: choose again
        plan = plan_generation(rd, config, generation, switches)
        results[f"gen-{generation:04d}"] = run_generation(
            rd, config, config_json, plan, switches, policy, storage, force, init_model
        )
        save_memo(memo)
        if switches.cleanup:
            kept = apply_retention(rd, config.orchestration.retention, generation)
            if kept.removed:
                logger.info("retention: removed %s (%d bytes)", kept.removed, kept.bytes_freed)
    return {"run_dir": str(rd.root), "best_generation": rd.best_generation(), "generations": results}


def run_generation(
    rd: RunDir,
    config: ZeroloopConfig,
    config_json: dict[str, Any],
    plan: GenerationPlan,
    switches: StageSwitches,
    policy: Any,
    storage: str,
    force: ForcePlan,
    init_model: str,
) -> dict[str, Any]:
    """Submit one generation's stages in order; returns their summaries.

    Each key fingerprints the contents of the stage's inputs (zeroloop.data.fingerprint),
    taken when the stage is reached, i.e. after the stages before it have written them.
    """
    g = plan.generation
    out: dict[str, Any] = {}

    def call(stage: str, task: Any, key: StageKey, *args: Any) -> dict[str, Any]:
        return _call_stage(rd, g, stage, task, key, force.forces(g, stage), policy, storage, *args)

    # The best model when this generation first started: it plays the self-play games
    # and is the opponent the new model must beat (promotion happens after both).
    best = rd.pinned(g, "best_model", lambda: str(rd.best_model() or init_model))
    if plan.run_selfplay:
        key = stage_key(config, "selfplay", model=stable_fingerprint(rd, best))
        out["selfplay"] = call("selfplay", stages.selfplay_task, key, config_json, best)
    if plan.run_preprocess:
        key = stage_key(config, "preprocess", inputs=stable_fingerprints(rd, plan.preprocess_inputs))
        out["preprocess"] = call(
            "preprocess", stages.preprocess_task, key, config_json, plan.preprocess_inputs, switches.cleanup
        )
    if plan.run_shuffle:
        inputs = plan.shuffle_inputs()
        key = stage_key(config, "shuffle", inputs=stable_fingerprints(rd, inputs))
        out["shuffle"] = call("shuffle", stages.shuffle_task, key, config_json, inputs, switches.cleanup)
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
        # train.steps, tied to the new data and under the max_reuse cap (data.window.*)
        steps = plan.train_steps()
        train_json = config_json | {"train": config_json["train"] | {"steps": steps}}
        key = stage_key(
            config,
            "train",
            shards=stable_fingerprints(rd, train_shards),
            test=stable_fingerprints(rd, test_shards),
            mix=stable_fingerprints(rd, config.data.mix.existing_dirs),
            init=stable_fingerprint(rd, init),
            steps=steps,
            state=plan.init_state,
        )
        out["train"] = call(
            "train", stages.train_task, key, train_json, train_shards, test_shards, init, plan.init_state
        )
    candidate = rd.model_path(g)
    models = {"candidate": stable_fingerprint(rd, candidate), "opponent": stable_fingerprint(rd, best)}
    if plan.run_evaluate and candidate.exists():
        key = stage_key(config, "evaluate", **models)
        ev = call("evaluate", stages.evaluate_task, key, config_json, str(candidate), best)
        out["evaluate"] = ev
        # The evaluation stage makes the gating decision (eval.gating, eval.gating_threshold).
        promote, reason = bool(ev["promoted"]), str(ev["reason"])
    else:
        promote, reason = candidate.exists(), "no evaluation: newest model becomes best"
    if candidate.exists():
        # The decision is in the key: the same models with another verdict promote anew.
        key = stage_key(config, "promote", **models, promote=promote, reason=reason)
        out["promote"] = call("promote", stages.promote_task, key, promote, reason, best)
    publish_generation(rd.root, g)
    return out


def _call_stage(
    rd: RunDir,
    g: int,
    stage: str,
    task: Any,
    key: StageKey,
    forced: bool,
    policy: Any,
    storage: str,
    *args: Any,
) -> dict[str, Any]:
    """Run (or find Cached) one stage task, then record its result in the manifest.

    Forced, or made from other inputs than the ones it has now (the identity recorded
    when it last ran differs), the stage starts afresh: its outputs are deleted and
    Prefect's cache is bypassed (refresh_cache), so the stage really redoes its work
    instead of resuming from, or returning, what is on disk. Same identity and no
    cached result means a half-done stage: it resumes.
    """
    previous = rd.recorded_identity(g, stage)
    stale = previous is not None and previous != key.identity
    if forced or stale:
        removed = rd.remove_outputs(g, stage)
        rd.clear_stage(g, stage)
        why = "forced" if forced else "its inputs changed"
        get_run_logger().info(
            "%s gen %d: %s; removed %s", stage, g, why, [str(p) for p in removed] or "nothing"
        )
    rd.record_identity(g, stage, key.identity)
    result = task.with_options(
        cache_policy=policy,
        result_storage=storage,
        refresh_cache=True if forced or stale else None,
        task_run_name=f"{stage}-gen-{g:04d}",
    )(str(rd.root), g, stage, key.depends, *args)
    # After the call returns, Prefect has stored the result: only now is the stage done.
    # A Cached task lands here too and restores an entry that clear_stage removed.
    rd.mark_done(g, stage, result)
    return result


@flow(name="sl-train", log_prints=True)
def sl_train(
    config_path: str | None = "sl",
    run_dir: str = "runs/sl",
    trmph_dirs: list[str] | None = None,
    overrides: list[str] | None = None,
    shuffling: bool = True,
    training: bool = True,
    evaluation: bool = True,
    cleanup: bool | None = None,
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
