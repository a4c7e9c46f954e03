"""`zeroloop train | overfit | tune-lr | describe | migrate`: the trainer from the command line.

Shortcut options (`--steps`, `--batch-size`, `--lr`, `--auto-resume`) are `--set train.…`
overrides, so the config stays the one source of truth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.logging import RichHandler
from rich.table import Table

from zeroloop.cli.common import ConfigOption, SetOption, console, err_console, load_config_or_exit
from zeroloop.config import ZeroloopConfig

TrainDataOption = Annotated[
    list[Path] | None,
    typer.Option("--train", "-t", help="Training position shards: files or directories (repeatable)."),
]
SyntheticOption = Annotated[
    bool, typer.Option("--synthetic", help="Random batches instead of shards (smoke tests, benchmarks).")
]
StepsOption = Annotated[int | None, typer.Option("--steps", help="Optimizer steps (train.steps).", min=1)]
BatchOption = Annotated[
    int | None, typer.Option("--batch-size", help="Batch size (train.batch_size).", min=1)
]
LrOption = Annotated[float | None, typer.Option("--lr", help="Peak learning rate (train.learning_rate).")]


def _setup_logging() -> None:
    logger = logging.getLogger("zeroloop")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.addHandler(RichHandler(console=err_console, show_path=False, markup=False))
    logger.setLevel(logging.INFO)


def _config(
    path: Path | None,
    sets: list[str] | None,
    steps: int | None = None,
    batch: int | None = None,
    lr: float | None = None,
    extra: list[str] | None = None,
) -> ZeroloopConfig:
    overrides = list(sets or [])
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    if batch is not None:
        overrides.append(f"train.batch_size={batch}")
    if lr is not None:
        overrides.append(f"train.learning_rate={lr}")
    return load_config_or_exit(path, overrides + list(extra or []))


def _batches(
    config: ZeroloopConfig, shards: list[Path] | None, synthetic: bool, fixed: bool = False
) -> Iterator[Any]:
    if synthetic:
        from zeroloop.trainer.synthetic import SyntheticBatches

        return SyntheticBatches(
            config.train.batch_size, config.game.board_size, config.train.seed, fixed=fixed
        )
    if not shards:
        typer.echo("error: give position shards with --train (or --synthetic for random batches)", err=True)
        raise typer.Exit(2)
    from zeroloop.data.loader import build_loader

    return build_loader(config, shards)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def train(
    config: ConfigOption = None,
    set_: SetOption = None,
    train_data: TrainDataOption = None,
    test_data: Annotated[
        list[Path] | None, typer.Option("--test", help="Held-out shards for validation (repeatable).")
    ] = None,
    work_dir: Annotated[
        Path, typer.Option("--work-dir", "-w", help="Checkpoints, metrics.jsonl, tb/ and summary.json.")
    ] = Path("train-run"),
    init_model: Annotated[
        Path | None, typer.Option("--init-model", help="Start from this model file (training-init).")
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the trained model file here.")
    ] = None,
    generation: Annotated[
        int | None, typer.Option("--generation", help="Recorded in the model file.")
    ] = None,
    auto_resume: Annotated[
        bool | None,
        typer.Option("--auto-resume/--no-auto-resume", help="Resume from WORK_DIR's latest checkpoint."),
    ] = None,
    steps: StepsOption = None,
    batch_size: BatchOption = None,
    lr: LrOption = None,
    synthetic: SyntheticOption = False,
) -> None:
    """Train the network on position shards; resume, validate, checkpoint and export."""
    from zeroloop.model.file import ModelFileError
    from zeroloop.trainer.checkpoints import CheckpointMismatchError
    from zeroloop.trainer.train_stage import run_training
    from zeroloop.trainer.training_loop import NonFiniteLossError

    extra = [] if auto_resume is None else [f"train.checkpoint.auto_resume={str(auto_resume).lower()}"]
    cfg = _config(config, set_, steps, batch_size, lr, extra)
    _setup_logging()
    batches = _batches(cfg, train_data, synthetic) if synthetic else None
    validation = None
    if synthetic:
        from zeroloop.trainer.synthetic import SyntheticBatches

        validation = lambda: SyntheticBatches(cfg.train.batch_size, cfg.game.board_size, seed=10_000)  # noqa: E731
    elif not train_data:
        _batches(cfg, train_data, synthetic)  # prints the error and exits
    metadata = {} if generation is None else {"generation": generation}
    try:
        summary = run_training(
            cfg,
            [str(p) for p in train_data or []],
            [str(p) for p in test_data or []],
            work_dir,
            init_model=init_model,
            export_path=export,
            metadata=metadata,
            batches=batches,
            validation=validation,
        )
    except (CheckpointMismatchError, ModelFileError, NonFiniteLossError, FileExistsError, ValueError) as exc:
        _fail(exc)
        return
    d = summary.to_dict()
    rows = [(k, str(v)) for k, v in d.items() if not isinstance(v, dict)]
    rows += [(f"train.{k}", f"{v:.4g}") for k, v in d["train_metrics"].items()]
    rows += [(f"val.{k}", f"{v:.4g}") for k, v in d["val_metrics"].items()]
    _table("train", rows)


def overfit(
    config: ConfigOption = None,
    set_: SetOption = None,
    train_data: TrainDataOption = None,
    synthetic: SyntheticOption = False,
    steps: Annotated[int, typer.Option("--steps", help="Steps on the one batch.", min=1)] = 200,
    ratio: Annotated[
        float, typer.Option("--ratio", help="Pass when the final loss is below ratio * the first.")
    ] = 0.5,
    batch_size: BatchOption = None,
    lr: LrOption = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the per-step metrics here.")] = None,
) -> None:
    """Train repeatedly on one batch: the loss must fall (a model/loss sanity check)."""
    from zeroloop.trainer.tools import overfit as run_overfit
    from zeroloop.trainer.tools import write_csv

    cfg = _config(config, set_, None, batch_size, lr)
    batch = next(iter(_batches(cfg, train_data, synthetic, fixed=True)))
    rows = run_overfit(cfg, batch, steps)
    if csv:
        write_csv(rows, csv)
    every = max(1, steps // 10)
    for r in rows:
        if r["step"] % every == 0 or r["step"] == 1:
            console.print(
                f"step {r['step']:5d}  loss {r['loss']:.4f}  policy {r['policy_loss']:.4f}  "
                f"value {r['value_loss']:.4f}",
                highlight=False,
            )
    first, last = rows[0]["loss"], rows[-1]["loss"]
    ok = last < ratio * first
    verdict = "[green]ok[/green]" if ok else "[red]FAILED[/red]"
    console.print(f"{verdict}: loss {first:.4f} -> {last:.4f} (needs < {ratio} x first)")
    if not ok:
        raise typer.Exit(1)


def tune_lr(
    config: ConfigOption = None,
    set_: SetOption = None,
    train_data: TrainDataOption = None,
    synthetic: SyntheticOption = False,
    lr_min: Annotated[float, typer.Option("--lr-min", help="First learning rate.")] = 1e-6,
    lr_max: Annotated[float, typer.Option("--lr-max", help="Last learning rate.")] = 1.0,
    steps: Annotated[int, typer.Option("--steps", help="Steps of the sweep.", min=5)] = 100,
    out: Annotated[Path, typer.Option("--out", "-o", help="Writes OUT.csv and OUT.png.")] = Path("lr-sweep"),
    batch_size: BatchOption = None,
) -> None:
    """Exponential learning-rate sweep: loss per lr to CSV and a PNG plot, with a suggestion."""
    from zeroloop.trainer.tools import plot_lr, write_csv
    from zeroloop.trainer.tools import tune_lr as run_sweep

    cfg = _config(config, set_, None, batch_size)
    rows, suggestion = run_sweep(cfg, _batches(cfg, train_data, synthetic), lr_min, lr_max, steps)
    if not rows:
        _fail(ValueError("the loss was not finite at the first step; lower --lr-min"))
    csv_path = write_csv(rows, out.with_suffix(".csv"))
    png = plot_lr(rows, out.with_suffix(".png"), suggestion)
    console.print(f"{len(rows)} steps, lr {rows[0]['lr']:.3g} .. {rows[-1]['lr']:.3g}")
    console.print(f"wrote {csv_path} and {png}")
    if suggestion:
        console.print(f"suggested learning rate (steepest fall): {suggestion:.3g}")


def describe(
    model: Annotated[
        Path | None,
        typer.Argument(help="A model file: print its provenance (data, parent, config, code) and size."),
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    batch_size: BatchOption = None,
    board_size: Annotated[
        int | None, typer.Option("--board-size", help="Board size (game.board_size).")
    ] = None,
) -> None:
    """Parameters, FLOPs per sample and memory per batch of the configured model and train step;
    with MODEL, where that model file came from.

    Examples: `zeroloop describe -c configs/default.yaml --board-size 11`;
    `zeroloop describe runs/quick/models/gen-0003.zlm`.
    """
    if model is not None:
        _describe_model_file(model)
        return
    from zeroloop.trainer.synthetic import SyntheticBatches
    from zeroloop.trainer.tools import describe as run_describe
    from zeroloop.trainer.tools import flat_rows

    extra = [] if board_size is None else [f"game.board_size={board_size}"]
    cfg = _config(config, set_, None, batch_size, None, extra)
    batch = next(SyntheticBatches(cfg.train.batch_size, cfg.game.board_size))
    info = run_describe(cfg, batch)
    _table(f"model {cfg.model.blocks}x{cfg.model.channels}, {cfg.train.precision}", flat_rows(info))


def _describe_model_file(path: Path) -> None:
    from zeroloop.model.file import ModelFileError, read_model_header
    from zeroloop.trainer.provenance import provenance_rows, shard_lines

    try:
        header, weights = read_model_header(path)
    except ModelFileError as exc:
        _fail(exc)
        return
    mc, game = header.model_config, header.game
    params = sum(int(np.size(w)) for _, w in _leaves(weights))
    rows = [
        ("board", f"{game.board_size}x{game.board_size}{', swap' if game.swap else ''}"),
        ("network", f"{mc.blocks} blocks x {mc.channels} channels, {params:,} stored numbers"),
    ]
    table = Table(title=f"model {path}", show_header=False, title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")  # hashes and paths are folded, never cut
    for k, v in rows + provenance_rows(header.metadata):
        table.add_row(k, v)
    console.print(table)
    # Full hashes and paths on their own lines: a table column would cut them.
    for line in shard_lines(header.metadata):
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def _leaves(tree: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            for name, leaf in _leaves(v):
                yield f"{k}/{name}", leaf
    else:
        yield "", tree


def migrate(
    source: Annotated[Path, typer.Argument(help="Checkpoint directory (a work dir) or model file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New work dir for the converted checkpoint.")],
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Convert a checkpoint or model file to the config's (changed) model: copy what fits, report the rest."""
    from zeroloop.model.file import ModelFileError
    from zeroloop.trainer.migrate import migrate as run_migrate

    cfg = _config(config, set_)
    try:
        report = run_migrate(source, cfg, out)
    except (ModelFileError, FileExistsError, ValueError) as exc:
        _fail(exc)
        return
    console.print(report.to_text(), markup=False, highlight=False)
    console.print(f"continue with: zeroloop train --work-dir {out} ...", markup=False, highlight=False)
