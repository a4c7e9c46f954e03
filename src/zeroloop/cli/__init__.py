"""The `zeroloop` command. Each command group lives in its own module here."""

from __future__ import annotations

import typer

from zeroloop.cli import config_cmd, trmph_cmd

app = typer.Typer(
    name="zeroloop",
    help="AlphaZero-style training for Hex: self-play -> preprocess -> shuffle -> train -> evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(config_cmd.app, name="config")
app.add_typer(trmph_cmd.app, name="trmph")


def main() -> None:
    app()
