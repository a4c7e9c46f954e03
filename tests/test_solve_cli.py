"""`zeroloop solve RECORD`: good records, bad records, unknown within the budget."""

from __future__ import annotations

from typer.testing import CliRunner

from zeroloop.cli import app
from zeroloop.cli.solve_cmd import EXIT_UNKNOWN

runner = CliRunner()


def test_solve_bare_and_url_records() -> None:
    r = runner.invoke(app, ["solve", "#5,a1"])
    assert r.exit_code == 0, r.output
    assert "to play: white" in r.output
    assert "winner: white" in r.output
    assert "move: c3" in r.output
    r = runner.invoke(app, ["solve", "http://www.trmph.com/hex/board#4,c2"])
    assert r.exit_code == 0, r.output
    assert "to play: white" in r.output and "winner: black" in r.output
    assert "move:" not in r.output  # the side to move loses: no winning move
    r = runner.invoke(app, ["solve", "#4,"])
    assert r.exit_code == 0 and "to play: black" in r.output and "winner: black" in r.output


def test_solve_finished_game() -> None:
    r = runner.invoke(app, ["solve", "#3,a1b1a2b2a3"])  # black connected a1-a3
    assert r.exit_code == 0, r.output
    assert "winner: black" in r.output


def test_solve_bad_records() -> None:
    for record, message in (
        ("#5,z9", "move 1 (z9): cell is off the 5x5 board"),
        ("#5,a1a1a1", "already occupied"),
        ("hello", "not a TRMPH record"),
        ("#25,a1", "unsupported board size 25"),
    ):
        r = runner.invoke(app, ["solve", record])
        assert r.exit_code == 2, (record, r.output)
        assert message in r.output, (record, r.output)
        assert "Traceback" not in r.output


def test_solve_unknown_when_budget_runs_out() -> None:
    r = runner.invoke(app, ["solve", "#7,d4", "--budget", "5"])
    assert r.exit_code == EXIT_UNKNOWN, r.output
    assert "winner: unknown" in r.output
    r = runner.invoke(app, ["solve", "--help"])
    assert r.exit_code == 0 and "zeroloop solve" in r.output
