"""`zeroloop sweep`: a hyperparameter search of training on Ray Tune (seed 002's sweep)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from zeroloop.cli.common import ConfigOption, SetOption, console, load_config_or_exit
from zeroloop.config import ConfigError


def sweep(
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="A swept key: KEY=v1,v2,... (listed values), KEY=LOW..HIGH (uniform) or "
            "KEY=log:LOW..HIGH (log-uniform; ranges need --search random). Repeatable.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Sweep directory: Tune state, trials, results.csv, best.yaml.")
    ] = Path("sweep"),
    config: ConfigOption = None,
    set_: SetOption = None,
    train_data: Annotated[
        list[Path] | None,
        typer.Option("--train", "-t", help="Training position shards: files or directories (repeatable)."),
    ] = None,
    test_data: Annotated[
        list[Path] | None, typer.Option("--test", help="Held-out shards for val_* metrics (repeatable).")
    ] = None,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="Random batches instead of shards (smoke tests).")
    ] = False,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Optimizer steps of a full trial (train.steps).")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Minimised: val_loss (default with --test/--synthetic), train_loss, "
            "{val,train}_policy_loss, {val,train}_value_loss.",
        ),
    ] = None,  # fmt: skip
    search: Annotated[
        str, typer.Option("--search", help="grid: every combination; random: --samples random picks.")
    ] = "grid",
    samples: Annotated[
        int, typer.Option("--samples", min=1, help="Random trials (random) or repeats of each grid point.")
    ] = 1,
    max_concurrent: Annotated[
        int, typer.Option("--max-concurrent", min=1, help="Trials running at once (cluster-wide).")
    ] = 2,
    cpus_per_trial: Annotated[
        float, typer.Option("--cpus-per-trial", min=0.1, help="CPUs Ray reserves per trial.")
    ] = 1.0,
    grace_steps: Annotated[
        int | None,
        typer.Option("--grace-steps", min=1, help="ASHA: steps before a trial can be stopped (steps/4)."),
    ] = None,
    reduction_factor: Annotated[
        int, typer.Option("--reduction-factor", min=2, help="ASHA: keep 1/FACTOR of the trials per rung.")
    ] = 2,
) -> None:
    """Search training hyperparameters on Ray Tune with ASHA; results table, CSV and best config.

    Each trial is one training run on the configured Ray (orchestration.ray_address: a cluster).
    Killed, the same command resumes; interrupted trials continue from their checkpoints.

    Example: zeroloop sweep --train SHARDS --test HELD_OUT -p train.learning_rate=1e-3,3e-3,1e-2
    """
    from zeroloop.workers.sweep import (
        SweepError,
        make_spec,
        parse_param,
        save_or_check_spec,
        sort_rows,
        write_results,
    )

    try:
        params = [parse_param(p) for p in param]
        spec = make_spec(
            out,
            None if config is None else str(config),
            list(set_ or []),
            params,
            train_shards=[str(p) for p in train_data or []],
            test_shards=[str(p) for p in test_data or []],
            synthetic=synthetic,
            steps=steps,
            metric=metric,
            search=search,
            samples=samples,
        )
        out.mkdir(parents=True, exist_ok=True)
        resume = save_or_check_spec(spec)
    except (SweepError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        typer.echo("error: zeroloop sweep needs Ray Tune: pip install 'ray[tune]'", err=True)
        raise typer.Exit(2) from None
    from zeroloop.workers.ray_session import ensure_ray
    from zeroloop.workers.sweep_tune import run_sweep

    ensure_ray(load_config_or_exit(config, set_))
    console.print(f"{'resuming' if resume else 'starting'} sweep in {out}: {spec.metric} over "
                  f"{', '.join(p.key for p in params)}", highlight=False)  # fmt: skip
    rows = run_sweep(
        spec,
        resume=resume,
        max_concurrent=max_concurrent,
        cpus_per_trial=cpus_per_trial,
        grace_steps=grace_steps,
        reduction_factor=reduction_factor,
    )
    csv_path, best = write_results(spec, rows)
    table = Table(title=f"sweep {out}: {spec.metric} (lower is better)", title_justify="left")
    keys = [p.key for p in params]
    for col in ("trial", *keys, "status", "step", spec.metric):
        table.add_column(col, justify="left" if col in ("trial", "status") else "right")
    for r in sort_rows(spec, rows):
        value = r.metrics.get(spec.metric)
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else "–"
        table.add_row(r.trial, *(_short(r.params.get(k)) for k in keys), r.status, str(r.step or "–"), shown)
    console.print(table)
    for r in rows:
        if r.error:
            console.print(f"trial {r.trial} failed: {r.error}", markup=False, highlight=False)
    console.print(f"wrote {csv_path}" + (f" and {best} (the best trial's config)" if best else ""))


def _short(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
