"""Every command's --help is readable at 80 columns, piped: no option name cut."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.testing import CliRunner

from zeroloop.cli import app


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, cmd)]
    if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
        for name, sub in cmd.commands.items():
            out += _commands(sub, (*path, name))
    return out


def test_every_option_name_whole_at_80_columns_not_a_tty() -> None:
    root = typer.main.get_command(app)
    runner = CliRunner()
    commands = _commands(root)
    assert len(commands) > 20  # the walk found the whole tree
    for path, cmd in commands:
        # CliRunner's output is not a terminal, as in `zeroloop x --help | less`.
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERM": "dumb"})
        assert res.exit_code == 0, (path, res.output)
        assert "…" not in res.output, (path, res.output)
        for param in cmd.params:
            for opt in [*param.opts, *param.secondary_opts]:
                if not opt.startswith("-"):
                    continue
                # the whole name, not a prefix of a cut one
                assert re.search(rf"(^|[\s,/]){re.escape(opt)}($|[\s,=<\[])", res.output, re.M), (
                    path,
                    opt,
                    res.output,
                )
        width = max(len(line) for line in res.output.splitlines())
        assert width <= 100, (path, width)
