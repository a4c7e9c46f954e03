"""Supervised training from TRMPH files with self-play disabled: `zeroloop sl DIR`."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.flow_helpers import prefect_env, write_tiny_config
from zeroloop.data.synthetic import random_game
from zeroloop.games.trmph import format_record

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def test_sl_train_from_trmph(tmp_path: Path) -> None:
    games = tmp_path / "games" / "nested"
    games.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(200):
        moves, winner = random_game(4, rng)
        lines.append(format_record(4, moves, winner))
    lines.insert(5, "#4,a1a1")  # a bad record: reported and skipped, not fatal
    (games / "random.trmph").write_text("\n".join(lines) + "\n")
    config = write_tiny_config(tmp_path)
    run_dir = tmp_path / "run"
    env = prefect_env(tmp_path / "prefect-home")
    cmd = [
        sys.executable,
        "-m",
        "zeroloop",
        "sl",
        str(tmp_path / "games"),
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]
    assert "selfplay" not in manifest
    assert {"preprocess", "shuffle", "train", "evaluate", "promote"} <= set(manifest)
    pre = manifest["preprocess"]["summary"]
    assert pre["games_out"] + pre["duplicates"] == 200  # random 4x4 games can repeat
    assert pre["bad_games"] == 1
    assert not (run_dir / "selfplay").exists()
    assert (run_dir / "models" / "gen-0001.zlm").exists()
