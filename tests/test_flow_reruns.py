"""Reruns after a change of input contents: the changed stage and everything downstream
run again (Prefect states Completed, not Cached), the stages before it stay Cached."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.flow_helpers import prefect_env, task_states, write_tiny_config
from zeroloop.data.synthetic import random_game
from zeroloop.games.trmph import format_record

pytestmark = [pytest.mark.timeout(2400), pytest.mark.slow]

DOWNSTREAM = ("preprocess", "shuffle", "train", "evaluate", "promote")


def _run(cmd: list[str], env: dict[str, str]) -> None:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def _write_games(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.write_text("".join(format_record(4, *random_game(4, rng)) + "\n" for _ in range(n)))


def test_new_trmph_files_rerun_preprocess_and_downstream(tmp_path: Path) -> None:
    games = tmp_path / "games"
    games.mkdir()
    _write_games(games / "a.trmph", 100, seed=0)
    run_dir = tmp_path / "run"
    home = tmp_path / "prefect-home"
    cmd = [sys.executable, "-m", "zeroloop", "sl", str(games), "--config", str(write_tiny_config(tmp_path))]
    cmd += ["--run-dir", str(run_dir)]
    _run(cmd, prefect_env(home))
    before = json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]

    _write_games(games / "b.trmph", 60, seed=1)  # same directory, same path in the config
    _run(cmd, prefect_env(home))
    after = json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]
    assert after["preprocess"]["summary"]["games_in"] == before["preprocess"]["summary"]["games_in"] + 60

    runs = task_states(home)
    assert len(runs) == 2
    assert runs[1] == {"init-model": "Cached"} | {f"{s}-gen-0001": "Completed" for s in DOWNSTREAM}


def test_raised_num_games_reruns_selfplay_and_downstream(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    run_dir = tmp_path / "run"
    home = tmp_path / "prefect-home"
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir", str(run_dir)]
    cmd += ["--generations", "1"]
    _run(cmd, prefect_env(home))
    chunks = set(run_dir.glob("selfplay/gen-0001/*.arrow"))

    _run([*cmd, "--set", "selfplay.num_games=24"], prefect_env(home))
    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]
    assert manifest["selfplay"]["summary"]["games"] >= 24
    # The 16 games already played were kept: only the extra games were played.
    assert chunks < set(run_dir.glob("selfplay/gen-0001/*.arrow"))

    runs = task_states(home)
    assert runs[1] == {"init-model": "Cached"} | {
        f"{s}-gen-0001": "Completed" for s in ("selfplay", *DOWNSTREAM)
    }
