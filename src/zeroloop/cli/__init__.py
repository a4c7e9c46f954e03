"""The `zeroloop` command. Each command group lives in its own module here."""

from __future__ import annotations

import typer

from zeroloop.cli import (
    common,
    config_cmd,
    data_cmd,
    eval_cmd,
    games_cmd,
    init_cmd,
    run_cmd,
    selfplay_cmd,
    shard_eval_cmd,
    solve_cmd,
    sweep_cmd,
    train_cmd,
    trmph_cmd,
)

app = typer.Typer(
    name="zeroloop",
    help="AlphaZero-style training for Hex: self-play -> preprocess -> shuffle -> train -> evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **common.TYPER_SETTINGS,
)

app.add_typer(config_cmd.app, name="config")
app.add_typer(trmph_cmd.app, name="trmph")
app.add_typer(games_cmd.app, name="games")
app.command("init")(init_cmd.init)
app.command("run")(run_cmd.run)
app.command("sl")(run_cmd.sl)
app.command("serve")(run_cmd.serve)
app.command("deploy")(run_cmd.deploy)
app.command("status")(run_cmd.status)
app.command("evaluate")(eval_cmd.evaluate)
app.command("eval")(shard_eval_cmd.eval_shards)
app.command("gtp")(eval_cmd.gtp)
app.command("play")(eval_cmd.play)
app.command("preprocess")(data_cmd.preprocess)
app.command("shuffle")(data_cmd.shuffle)
app.command("selfplay")(selfplay_cmd.selfplay)
app.command("train")(train_cmd.train)
app.command("overfit")(train_cmd.overfit)
app.command("tune-lr")(train_cmd.tune_lr)
app.command("describe")(train_cmd.describe)
app.command("migrate")(train_cmd.migrate)
app.command("sweep")(sweep_cmd.sweep)
app.command("solve")(solve_cmd.solve)


def main() -> None:
    app()
