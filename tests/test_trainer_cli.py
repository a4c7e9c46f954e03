"""The trainer's commands through the CLI (tiny nets, synthetic batches)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zeroloop.cli import app

TINY = [
    "--set",
    "game.board_size=3",
    "--set",
    "model.blocks=1",
    "--set",
    "model.channels=8",
    "--set",
    "model.policy_channels=4",
    "--set",
    "model.value_channels=2",
    "--set",
    "model.value_hidden=8",
    "--set",
    "train.progress_bar=false",
    "--set",
    "train.tensorboard=false",
]

runner = CliRunner()


def test_train_resume_and_migrate(tmp_path: Path) -> None:
    work = tmp_path / "run"
    args = ["train", *TINY, "--synthetic", "--steps", "2", "--batch-size", "8", "-w", str(work)]
    r = runner.invoke(app, [*args, "--export", str(tmp_path / "m.zl"), "--generation", "3"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.zl").exists() and "final_step" in r.output
    r = runner.invoke(app, [*args, "--no-auto-resume"])
    assert r.exit_code == 1 and "already has checkpoints" in r.output
    r = runner.invoke(app, [*args, "--set", "model.channels=16"])
    assert r.exit_code == 1 and "model.channels: checkpoint has 8, config has 16" in r.output
    r = runner.invoke(
        app, ["migrate", str(work), "-o", str(tmp_path / "wide"), *TINY, "--set", "model.channels=16"]
    )
    assert r.exit_code == 0, r.output
    assert "reshaped:" in r.output and "stem/kernel" in r.output
    r = runner.invoke(app, ["train"])
    assert r.exit_code == 2 and "--train" in r.output


@pytest.mark.slow
def test_tools(tmp_path: Path) -> None:
    r = runner.invoke(app, ["describe", *TINY, "--batch-size", "16"])
    assert r.exit_code == 0, r.output
    assert "train_flops_per_sample" in r.output and "parameters" in r.output
    out = tmp_path / "sweep"
    r = runner.invoke(
        app, ["tune-lr", *TINY, "--synthetic", "--batch-size", "8", "--steps", "20", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) >= 5 and float(rows[-1]["lr"]) > float(rows[0]["lr"])
    assert out.with_suffix(".png").stat().st_size > 1000
    r = runner.invoke(
        app,
        ["overfit", *TINY, "--synthetic", "--batch-size", "8", "--steps", "100", "--lr", "0.02",
         "--set", "train.loss.policy=kl"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "ok: loss" in r.output
