"""`zeroloop eval`: a model or checkpoint over position shards (losses and accuracies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from zeroloop.cli.common import ConfigOption, SetOption, console, load_config_or_exit


def eval_shards(
    shards: Annotated[
        list[Path],
        typer.Argument(metavar="SHARDS", help="Position shards (.feather) or directories of them."),
    ],
    model: Annotated[
        Path,
        typer.Option(
            "--model",
            "-m",
            help="A model file (.zlm), a checkpoint directory, or a training work dir with checkpoints/.",
        ),
    ],
    config: ConfigOption = None,
    set_: SetOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Positions per forward pass.")] = 256,
    max_positions: Annotated[
        int | None, typer.Option("--max-positions", min=1, help="Stop after this many positions.")
    ] = None,
    step: Annotated[
        int | None, typer.Option("--step", min=0, help="Checkpoint step (default: the latest).")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights", metavar="raw|ema|swa", help="Checkpoint weights (default: train.export_weights)."
        ),
    ] = None,
    dump: Annotated[
        Path | None,
        typer.Option(
            "--dump",
            metavar="FILE",
            help="Write each position's inputs and outputs to FILE.npz (NumPy) or FILE.arrow (Arrow IPC).",
        ),
    ] = None,
) -> None:
    """Evaluate a model on position shards: losses, policy top-1 and value sign accuracy.

    Every position is run once in eval mode; means are weighted by the shards' sample
    weights, as in the trainer's validation. A checkpoint is restored under --config
    (the config it was trained with). The arena that plays games is `zeroloop evaluate`.

    \b
    Example:
      zeroloop eval runs/q/positions/gen-0002/test -m runs/q/models/gen-0002.zlm
      zeroloop eval runs/q/shuffled/gen-0002 -m runs/q --config quick --dump out.npz
    """
    if weights is not None and weights not in ("raw", "ema", "swa"):
        typer.echo(f"error: --weights {weights!r}: choose raw, ema or swa", err=True)
        raise typer.Exit(2)
    cfg = load_config_or_exit(config, set_)
    from zeroloop.model.file import ModelFileError
    from zeroloop.trainer.checkpoints import CheckpointMismatchError
    from zeroloop.trainer.evaluate_shards import evaluate_shards, load_eval_model

    try:
        net, source, used = load_eval_model(model, cfg, step=step, which=weights)
        result = evaluate_shards(
            net, shards, cfg, batch_size, max_positions, dump=dump, source=source, weights=used
        )
    except (ModelFileError, CheckpointMismatchError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title="eval", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for name, value in result.table_rows():
        table.add_row(name, value)
    console.print(table)
