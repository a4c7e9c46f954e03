"""`zeroloop config show|validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zeroloop.cli.common import TYPER_SETTINGS, SetOption, console, load_config_or_exit
from zeroloop.config import config_to_yaml

app = typer.Typer(help="Show or check configs.", no_args_is_help=True, **TYPER_SETTINGS)


@app.command("show")
def show(
    file: Annotated[Path | None, typer.Argument(help="YAML config; defaults if omitted.")] = None,
    set_: SetOption = None,
) -> None:
    """Print the fully resolved config (defaults filled in, overrides applied) as YAML."""
    config = load_config_or_exit(file, set_)
    console.print(config_to_yaml(config), end="", markup=False, highlight=False)


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="YAML config to check.")],
    set_: SetOption = None,
) -> None:
    """Check a config: exit 0 if valid, else print what is wrong (key, value, allowed) and exit 2."""
    load_config_or_exit(file, set_)
    console.print(f"{file}: ok", markup=False, highlight=False)


@app.command("reference")
def reference() -> None:
    """Print the reference of every config section and key (the source of docs/config.md)."""
    from zeroloop.config.reference import render_reference

    typer.echo(render_reference(), nl=False)
