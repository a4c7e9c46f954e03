"""Options and helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zeroloop.config import ConfigError, ZeroloopConfig, load_config

console = Console()
err_console = Console(stderr=True)

# Help is click's plain formatter, not rich's panels: rich squeezes the option column
# to fit 80 columns (or a pipe) and cuts long names (`--position-selec…`), while click
# puts a long name on its own line and wraps only the description. Every Typer app of
# the CLI passes these settings.
TYPER_SETTINGS: dict = {"rich_markup_mode": None, "context_settings": {"max_content_width": 100}}

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="PRESET|FILE",
        help="A preset (quick, default, sl) or a YAML config file; the defaults if omitted.",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, e.g. --set train.batch_size=256 (repeatable)."),
]


def load_config_or_exit(path: str | Path | None, overrides: list[str] | None) -> ZeroloopConfig:
    """Load the config; on error print the message (which names the key) and exit 2."""
    try:
        return load_config(path, overrides or [])
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
