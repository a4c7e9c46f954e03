"""`zeroloop run`, `zeroloop sl`, `zeroloop serve`, `zeroloop status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zeroloop.cli.common import ConfigOption, SetOption, console, load_config_or_exit
from zeroloop.cli.preflight import check_prefect_database_or_exit, connect_ray_or_exit

RunDirOption = Annotated[Path, typer.Option("--run-dir", "-r", help="Run directory (created if new).")]
FORCE_HELP = (
    "Redo STAGE of generation GEN (STAGE: selfplay, preprocess, shuffle, train, evaluate, "
    "promote; no @GEN: every generation): deletes its outputs, re-runs it and every later "
    "stage of that and later generations. Repeatable, e.g. --force train@2."
)


def _check_force_and_lock(force: list[str] | None, run_dir: Path) -> None:
    """Fail fast, in one line, on a bad --force or a run directory another flow is using."""
    from zeroloop.flows.force import parse_force
    from zeroloop.locks import RunDirBusy
    from zeroloop.rundir import RunDir

    try:
        parse_force(force)
        RunDir.at(run_dir).run_lock().acquire().release()  # the flow holds it for real
    except (ValueError, RunDirBusy) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


# Seed 002's data flags (docs/seed-flags.md); each is a shortcut for a --set override.
ExistingDirOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--existing-shuffled-data-dir",
        metavar="DIR",
        help="Existing shuffled shards mixed into training (data.mix.existing_dirs; repeatable).",
    ),
]
SkipFilesOption = Annotated[
    list[int] | None,
    typer.Option(
        "--skip-files",
        metavar="N",
        min=0,
        help="Shard files skipped at the start of each data source, new data first, then each "
        "--existing-shuffled-data-dir (data.mix.skip_files; repeatable: --skip-files 0 --skip-files 200).",
    ),
]
TrmphWorkersOption = Annotated[
    int | None,
    typer.Option(
        "--max-workers-trmph", metavar="N", min=1, help="Preprocessing worker processes (data.max_workers)."
    ),
]


def seed_flag_overrides(
    existing_dirs: list[Path] | None, skip_files: list[int] | None, max_workers_trmph: int | None
) -> list[str]:
    """The `--set` overrides that seed 002's data flags stand for.

    Folders are made absolute here: the flow may run in another process and folder.
    """
    sets: list[str] = []
    if existing_dirs:
        sets.append("data.mix.existing_dirs=" + json.dumps([str(Path(d).absolute()) for d in existing_dirs]))
    if skip_files:
        sets.append("data.mix.skip_files=" + json.dumps(list(skip_files)))
    if max_workers_trmph is not None:
        sets.append(f"data.max_workers={max_workers_trmph}")
    return sets


def run(
    config: ConfigOption = "quick",
    run_dir: RunDirOption = Path("runs/quick"),
    set_: SetOption = None,
    generations: Annotated[int | None, typer.Option(help="Generations (default: config's).")] = None,
    selfplay: Annotated[bool, typer.Option("--selfplay/--no-selfplay", help="Play self-play games.")] = True,
    preprocessing: Annotated[
        bool, typer.Option("--preprocessing/--no-preprocessing", help="Turn games into positions.")
    ] = True,
    trmph_processing: Annotated[
        bool,
        typer.Option("--trmph-processing/--no-trmph-processing", help="Include data.trmph_dirs game files."),
    ] = True,
    shuffling: Annotated[bool, typer.Option("--shuffling/--no-shuffling", help="Bucket-shuffle.")] = True,
    training: Annotated[bool, typer.Option("--training/--no-training", help="Train a model.")] = True,
    evaluation: Annotated[
        bool, typer.Option("--evaluation/--no-evaluation", help="Arena vs the best model.")
    ] = True,
    cleanup: Annotated[
        bool | None,
        typer.Option(
            "--cleanup/--no-cleanup",
            help="Remove intermediate files after success and apply orchestration.retention "
            "after each generation (default: data.cleanup).",
        ),
    ] = None,
    selfplay_dir: Annotated[
        Path | None, typer.Option(help="Existing self-play directory to use instead of playing.")
    ] = None,
    force: Annotated[list[str] | None, typer.Option(metavar="STAGE[@GEN]", help=FORCE_HELP)] = None,
    existing_shuffled_data_dir: ExistingDirOption = None,
    skip_files: SkipFilesOption = None,
    max_workers_trmph: TrmphWorkersOption = None,
) -> None:
    """Run the whole loop in this process (local Ray, Prefect without a server).

    Run the same command again to resume: finished stages are skipped (Cached), a
    half-done stage continues from what is on disk, and a stage whose inputs or
    result-changing settings changed runs again with everything after it.

    \b
    Example:
      zeroloop run --config quick --run-dir runs/quick --generations 3
    """
    set_ = [*(set_ or []), *seed_flag_overrides(existing_shuffled_data_dir, skip_files, max_workers_trmph)]
    cfg = load_config_or_exit(config, set_)  # fail fast with a clear message
    # Services before the run directory: a bad address leaves nothing behind.
    check_prefect_database_or_exit()
    if (selfplay and cfg.orchestration.selfplay) or evaluation:
        connect_ray_or_exit(cfg)
    _check_force_and_lock(force, run_dir)
    from zeroloop.flows.rl_loop import rl_loop

    result = rl_loop(
        config_path=str(config),
        run_dir=str(run_dir),
        generations=generations,
        overrides=set_ or [],
        selfplay=selfplay,
        preprocessing=preprocessing,
        trmph_processing=trmph_processing,
        shuffling=shuffling,
        training=training,
        evaluation=evaluation,
        cleanup=cleanup,
        selfplay_dir=str(selfplay_dir) if selfplay_dir else None,
        force=force or [],
    )
    console.print(f"run finished: best model is generation {result['best_generation']}")
    status(run_dir)


def sl(
    trmph_dirs: Annotated[list[Path], typer.Argument(help="Directories (or files) of TRMPH games.")],
    config: ConfigOption = "sl",
    run_dir: RunDirOption = Path("runs/sl"),
    set_: SetOption = None,
    force: Annotated[list[str] | None, typer.Option(metavar="STAGE[@GEN]", help=FORCE_HELP)] = None,
    existing_shuffled_data_dir: ExistingDirOption = None,
    skip_files: SkipFilesOption = None,
    max_workers_trmph: TrmphWorkersOption = None,
) -> None:
    """Supervised training from TRMPH files (self-play disabled): preprocess, shuffle, train, evaluate.

    \b
    Example:
      zeroloop sl data/trmph --config sl --run-dir runs/sl --max-workers-trmph 2
    """
    set_ = [*(set_ or []), *seed_flag_overrides(existing_shuffled_data_dir, skip_files, max_workers_trmph)]
    cfg = load_config_or_exit(config, set_)
    check_prefect_database_or_exit()
    connect_ray_or_exit(cfg)  # the arena plays on Ray
    _check_force_and_lock(force, run_dir)
    from zeroloop.flows.rl_loop import sl_train

    sl_train(
        config_path=str(config),
        run_dir=str(run_dir),
        trmph_dirs=[str(d) for d in trmph_dirs],
        overrides=set_ or [],
        force=force or [],
    )
    status(run_dir)


def serve(
    config: ConfigOption = "quick",
    run_dir: RunDirOption = Path("runs/default"),
    sl_config: Annotated[
        str, typer.Option(metavar="PRESET|FILE", help="Config of sl-train/default: a preset or a file.")
    ] = "sl",
    sl_run_dir: Annotated[Path, typer.Option(help="Run directory of sl-train/default.")] = Path("runs/sl"),
    limit: Annotated[int | None, typer.Option(help="Flow runs at a time.")] = None,
) -> None:
    """Serve the deployments 'rl-loop/default' and 'sl-train/default' (needs a Prefect server).

    Start `prefect server start` first, then trigger with
    `prefect deployment run 'rl-loop/default' --param generations=3`.
    """
    load_config_or_exit(config, None)
    load_config_or_exit(sl_config, None)
    from zeroloop.flows.serve import serve_deployments

    serve_deployments(str(config or "quick"), str(run_dir), sl_config, str(sl_run_dir), limit=limit)


def deploy(
    pool: Annotated[
        str,
        typer.Option(
            "--pool", help="Prefect work pool (create: prefect work-pool create NAME --type process)."
        ),
    ],
    config: ConfigOption = "quick",
    run_dir: RunDirOption = Path("runs/default"),
    sl_config: Annotated[
        str, typer.Option(metavar="PRESET|FILE", help="Config of sl-train/<name>: a preset or a file.")
    ] = "sl",
    sl_run_dir: Annotated[Path, typer.Option(help="Run directory of sl-train/<name>.")] = Path("runs/sl"),
    name: Annotated[str, typer.Option(help="Deployment name.")] = "pool",
) -> None:
    """Register 'rl-loop/<name>' and 'sl-train/<name>' on a work pool (run by `prefect worker start`).

    Needs a Prefect server (PREFECT_API_URL). Then on each machine that runs flows:
    `prefect worker start --pool POOL`, and trigger with
    `prefect deployment run 'rl-loop/pool' --param generations=3`.
    """
    load_config_or_exit(config, None)
    load_config_or_exit(sl_config, None)
    from zeroloop.flows.serve import deploy_to_pool

    ids = deploy_to_pool(pool, str(config), str(run_dir), str(sl_config), str(sl_run_dir), name=name)
    console.print(f"deployed rl-loop/{name} and sl-train/{name} to work pool {pool!r} ({', '.join(ids)})")


def status(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to describe.")],
) -> None:
    """Generations and stages finished, the current best model, and the Elo history."""
    from zeroloop.cli.status_view import render_status

    if not (run_dir / "config.yaml").exists():
        typer.echo(f"error: {run_dir}: not a run directory (no config.yaml)", err=True)
        raise typer.Exit(2)
    render_status(run_dir, console)
