"""End to end in-process: the rl-loop flow runs two generations of a tiny config."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flow_helpers import prefect_env, write_tiny_config

pytestmark = pytest.mark.timeout(900)


def test_two_generations_then_cached_rerun(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    run_dir = tmp_path / "run"
    env = prefect_env(tmp_path / "prefect-home")
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir", str(run_dir)]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]
    for gen in ("gen-0001", "gen-0002"):
        assert {"selfplay", "preprocess", "shuffle", "train", "evaluate", "promote"} <= set(manifest[gen])
        assert (run_dir / "models" / f"{gen}.zlm").exists()
        assert (run_dir / "eval" / f"{gen}.json").exists()
        assert manifest[gen]["selfplay"]["summary"]["games"] >= 16
    # Gating is off in the tiny config: every generation is promoted, so the last is best.
    assert json.loads((run_dir / "models" / "best.json").read_text())["generation"] == 2
    assert "gen-0002" in first.stdout  # the status table

    # Running again finds every stage in Prefect's cache: nothing is recomputed.
    chunk_times = {p: p.stat().st_mtime_ns for p in run_dir.glob("selfplay/**/*.arrow")}
    model_times = {p: p.stat().st_mtime_ns for p in run_dir.glob("models/gen-*.zlm")}
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in run_dir.glob("selfplay/**/*.arrow")} == chunk_times
    assert {p: p.stat().st_mtime_ns for p in run_dir.glob("models/gen-*.zlm")} == model_times
