"""`zeroloop selfplay`: play one generation's self-play games from the command line.

Option names follow seed 002's pipeline where they apply (`--model-path` is `--model`,
`--num-games`, `--num-workers`, `--temperature`, `--batch-size`); each is a shortcut
for a `--set` override, so the config stays the one source of truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from zeroloop.cli.common import ConfigOption, SetOption, console, load_config_or_exit
from zeroloop.cli.preflight import check_ray_address_or_exit


def selfplay(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the game chunks (created if missing).")
    ],
    config_file: ConfigOption = None,
    set_: SetOption = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "--model-path", help="Model file to play with; random weights if omitted."),
    ] = None,
    num_games: Annotated[
        int | None, typer.Option("--num-games", min=1, help="Games wanted in --out (games there count).")
    ] = None,
    num_workers: Annotated[
        int | None, typer.Option("--num-workers", min=1, help="Ray self-play actors.")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", min=0.0, help="Constant move temperature (replaces mcts.temperature)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Games in lock-step per worker batch.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed (selfplay.seed).")] = None,
) -> None:
    """Play self-play games with Ray actors until --num-games are in --out (resumable)."""
    overrides = list(set_ or [])
    if num_games is not None:
        overrides.append(f"selfplay.num_games={num_games}")
    if num_workers is not None:
        overrides.append(f"selfplay.num_workers={num_workers}")
    if batch_size is not None:
        overrides.append(f"selfplay.batch_size={batch_size}")
    if seed is not None:
        overrides.append(f"selfplay.seed={seed}")
    if temperature is not None:
        # A temperature on the command line holds for the whole game.
        overrides.append(f"mcts.temperature=[[0.0, {temperature}]]")
    config = load_config_or_exit(config_file, overrides)
    if model is not None and not model.is_file():
        typer.echo(f"error: --model {model}: no such file", err=True)
        raise typer.Exit(2)

    check_ray_address_or_exit(config)  # before --out is created: a bad address leaves nothing behind
    from zeroloop.workers.ray_session import RayClusterError
    from zeroloop.workers.selfplay_stage import run_selfplay  # Ray and JAX load only when needed

    created = not out.exists()
    try:
        summary = run_selfplay(config, out, model_path=model)
    except RayClusterError as exc:  # e.g. a token refused, or more GPUs asked than the cluster has
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=f"self-play: {out}", show_header=False, title_justify="left")
    for key, value in summary.to_dict().items():
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
    console.print(table)
