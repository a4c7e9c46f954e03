"""Seed 002's data flags on `zeroloop run` and `zeroloop sl`, and where they land."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.flow_helpers import prefect_env, write_tiny_config
from zeroloop.cli import app
from zeroloop.cli.run_cmd import seed_flag_overrides
from zeroloop.config import load_config


def test_flags_map_to_config_keys(tmp_path: Path) -> None:
    sets = seed_flag_overrides([Path("old"), tmp_path / "older"], [0, 0, 200], 6)
    c = load_config("quick", sets)
    assert c.data.mix.existing_dirs == [str(Path("old").absolute()), str(tmp_path / "older")]
    assert c.data.mix.skip_files == [0, 0, 200]
    assert c.data.max_workers == 6
    assert seed_flag_overrides(None, None, None) == []


def test_bad_values_name_the_option() -> None:
    runner = CliRunner()
    for args, option in (
        (["run", "--skip-files", "-1"], "--skip-files"),
        (["sl", "games", "--max-workers-trmph", "0"], "--max-workers-trmph"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert f"'{option}'" in res.output, res.output


@pytest.mark.slow  # a whole (empty) flow run with its temporary Prefect server
def test_run_freezes_the_seed_flags_into_the_run_config(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir", str(run_dir)]
    cmd += ["--generations", "1", "--no-selfplay", "--no-preprocessing", "--no-shuffling"]
    cmd += ["--no-training", "--no-evaluation", "--existing-shuffled-data-dir", "old"]
    cmd += ["--skip-files", "0", "--skip-files", "2", "--max-workers-trmph", "3"]
    env = prefect_env(tmp_path / "ph") | {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    # from another folder: the config path is relative to it, the run dir too
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    frozen = yaml.safe_load((run_dir / "config.yaml").read_text())["data"]
    assert frozen["mix"]["existing_dirs"] == [str(tmp_path / "old")]
    assert frozen["mix"]["skip_files"] == [0, 2]
    assert frozen["max_workers"] == 3
