"""The `zeroloop` command. Each command group lives in its own module here."""

from __future__ import annotations

import typer

import zeroloop.cli.solve_cmd as solve_cmd
from zeroloop.cli import config_cmd, data_cmd, eval_cmd, run_cmd, selfplay_cmd, train_cmd, trmph_cmd

app = typer.Typer(
    name="zeroloop",
    help="AlphaZero-style training for Hex: self-play -> preprocess -> shuffle -> train -> evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(config_cmd.app, name="config")
app.add_typer(trmph_cmd.app, name="trmph")
app.command("run")(run_cmd.run)
app.command("sl")(run_cmd.sl)
app.command("serve")(run_cmd.serve)
app.command("status")(run_cmd.status)
app.command("evaluate")(eval_cmd.evaluate)
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
app.command("solve")(solve_cmd.solve)


def main() -> None:
    app()
