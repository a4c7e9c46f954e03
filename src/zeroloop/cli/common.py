"""Options and helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zeroloop.config import ConfigError, ZeroloopConfig, load_config

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (see configs/); defaults if omitted."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, e.g. --set train.batch_size=256 (repeatable)."),
]


def load_config_or_exit(path: Path | None, overrides: list[str] | None) -> ZeroloopConfig:
    """Load the config; on error print the message (which names the key) and exit 2."""
    try:
        return load_config(path, overrides or [])
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
