"""SIGKILL the flow in the middle of training, run again: finished stages are not redone
(Prefect reports them Cached) and training goes on from its checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flow_helpers import prefect_env, task_states, write_tiny_config

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def _training_started(run_dir: Path) -> bool:
    # Orbax writes RUN_DIR/checkpoints/gen-0001/checkpoints/<step> once a save completes.
    ckpt = run_dir / "checkpoints" / "gen-0001" / "checkpoints"
    return ckpt.exists() and any(p.name.isdigit() for p in ckpt.iterdir())


def test_kill_during_training_then_resume(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path, train="steps: 2000, checkpoint: {every: 20, async_save: false}")
    run_dir = tmp_path / "run"
    home = tmp_path / "prefect-home"
    env = prefect_env(home)
    cmd = [
        sys.executable,
        "-m",
        "zeroloop",
        "run",
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
        "--generations",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while not _training_started(run_dir):
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the flow and everything it started
    proc.wait()

    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]
    assert {"selfplay", "preprocess", "shuffle"} <= set(manifest) and "train" not in manifest
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=800)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    # Prefect's own record of the resumed run: what had finished came from the cache.
    # (File times would not show it: the stages skip finished work on disk by themselves.)
    resumed = task_states(home)[-1]
    assert {k: resumed[k] for k in ("init-model", "selfplay-gen-0001", "preprocess-gen-0001")} == {
        "init-model": "Cached",
        "selfplay-gen-0001": "Cached",
        "preprocess-gen-0001": "Cached",
    }
    assert resumed["shuffle-gen-0001"] == "Cached" and resumed["train-gen-0001"] == "Completed"
    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]
    assert {"selfplay", "preprocess", "shuffle", "train", "evaluate", "promote"} <= set(manifest)
    assert (manifest["train"]["summary"]["resumed_from"] or 0) > 0  # went on from a checkpoint
    assert (run_dir / "models" / "gen-0001.zlm").exists()
