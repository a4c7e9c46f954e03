"""End to end in-process: the rl-loop flow runs two generations of a tiny config, then
reruns: unchanged (execution settings changed only) everything is Cached; with
`--force train@2` exactly generation 2's train, evaluate and promote run again."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flow_helpers import prefect_env, task_states, write_tiny_config
from zeroloop.rundir import RunDir

pytestmark = pytest.mark.timeout(1200)

STAGES = ("selfplay", "preprocess", "shuffle", "train", "evaluate", "promote")
TASKS = {"init-model"} | {f"{s}-gen-{g:04d}" for s in STAGES for g in (1, 2)}
# Worker counts, batch sizes of the arena and logging change how stages run, not what
# they make: a rerun with these changed must find every stage Cached.
EXECUTION_ONLY = [
    "eval.batch_size=2",
    "selfplay.num_workers=2",
    "selfplay.batch_size=4",
    "data.max_workers=2",
    "shuffle.max_workers=2",
    "train.log_every=1",
]


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def test_two_generations_then_cached_and_forced_reruns(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    run_dir = tmp_path / "run"
    home = tmp_path / "prefect-home"
    env = prefect_env(home)
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir", str(run_dir)]
    first = _run(cmd, env)

    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]
    for gen in ("gen-0001", "gen-0002"):
        assert set(STAGES) <= set(manifest[gen])
        assert (run_dir / "models" / f"{gen}.zlm").exists()
        assert (run_dir / "eval" / f"{gen}.json").exists()
        assert manifest[gen]["selfplay"]["summary"]["games"] >= 16
    # Gating is off in the tiny config: every generation is promoted, so the last is best.
    assert json.loads((run_dir / "models" / "best.json").read_text())["generation"] == 2
    assert "gen-0002" in first.stdout  # the status table

    kept = {p: p.read_bytes() for p in [run_dir / "eval" / "elo.json", run_dir / "models" / "best.json"]}
    RunDir.at(run_dir).clear_stage(1, "shuffle")  # the manifest loses an entry...
    sets = [arg for key in EXECUTION_ONLY for arg in ("--set", key)]
    _run([*cmd, *sets], env)
    # Nothing ran, so the ladder holds no second copy of any game and best did not move.
    assert {p: p.read_bytes() for p in kept} == kept
    # ...and the Cached task's returned result puts it back.
    assert "shuffle" in json.loads((run_dir / "manifest.json").read_text())["generations"]["gen-0001"]

    forced = _run([*cmd, "--force", "train@2"], env)
    assert "best model is generation" in forced.stdout
    manifest = json.loads((run_dir / "manifest.json").read_text())["generations"]
    assert set(STAGES) <= set(manifest["gen-0002"])  # the forced stages are marked again
    # Really trained again: from generation 1's model, not its own finished checkpoint.
    assert not manifest["gen-0002"]["train"]["summary"]["resumed_from"]

    runs = task_states(home)
    assert len(runs) == 3
    assert set(runs[0]) == TASKS and set(runs[0].values()) == {"Completed"}
    assert runs[1] == {name: "Cached" for name in TASKS}
    redone = {f"{s}-gen-0002" for s in ("train", "evaluate", "promote")}
    assert runs[2] == {name: "Completed" if name in redone else "Cached" for name in TASKS}


def test_bad_force_and_busy_run_dir_are_one_line_errors(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    env = prefect_env(tmp_path / "prefect-home")
    cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir", str(tmp_path / "r")]

    def refused(args: list[str], message: str) -> None:
        out = subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr

    refused(["--force", "trian"], "unknown stage 'trian'")
    refused(["--force", "train@0"], "GEN must be a generation number")
    with RunDir.at(tmp_path / "r").run_lock():  # as a flow run in progress holds it
        refused([], "another flow run is using this run directory")
