"""`zeroloop init DIR`: start a project folder with an editable copy of a preset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zeroloop.cli.common import console
from zeroloop.config.presets import preset_names, preset_text
from zeroloop.data.atomic import atomic_path

CONFIG_NAME = "zeroloop.yaml"


def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to create (or an existing one).")],
    preset: Annotated[
        str, typer.Option("--preset", "-p", metavar="NAME", help="Preset to copy: quick, default or sl.")
    ] = "quick",
    force: Annotated[bool, typer.Option("--force", help=f"Overwrite an existing {CONFIG_NAME}.")] = False,
) -> None:
    """Write DIR/zeroloop.yaml, an editable copy of a preset, and say how to run it.

    Relative paths inside the file (data.trmph_dirs, ...) are taken from DIR, so the
    folder can move with its data.

    \b
    Example:
      zeroloop init myrun --preset default
      zeroloop run --config myrun/zeroloop.yaml --run-dir myrun/run
    """
    names = preset_names()
    if preset not in names:
        typer.echo(f"error: --preset {preset!r}: unknown preset; choose from {', '.join(names)}", err=True)
        raise typer.Exit(2)
    if directory.exists() and not directory.is_dir():
        typer.echo(f"error: DIR {directory}: exists and is not a folder", err=True)
        raise typer.Exit(2)
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        typer.echo(f"error: {target}: already exists; edit it, or pass --force to overwrite it", err=True)
        raise typer.Exit(2)
    directory.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Written by `zeroloop init --preset {preset}`; edit freely. Every key is listed in\n"
        "# docs/config.md (`zeroloop config reference`); check with `zeroloop config validate`.\n"
    )
    with atomic_path(target) as tmp:
        Path(tmp).write_text(header + preset_text(preset))
    command = "sl TRMPH_DIR" if preset == "sl" else "run"
    console.print(f"wrote {target} (preset {preset})", highlight=False, soft_wrap=True)
    nxt = f"next: zeroloop {command} --config {target} --run-dir {directory / 'run'}"
    console.print(nxt, highlight=False, soft_wrap=True)
