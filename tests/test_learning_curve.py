"""The learning-curve benchmark's bookkeeping: timing, verdict and the reproduce line."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("learning_curve", REPO / "benchmarks" / "learning_curve.py")
assert _spec is not None and _spec.loader is not None
lc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lc)


def _manifest(run_dir: Path, finished: dict[int, str]) -> None:
    gens = {f"gen-{g:04d}": {"train": {"finished_at": stamp}} for g, stamp in finished.items()}
    (run_dir / "manifest.json").write_text(json.dumps({"generations": gens}))
    (run_dir / "config.yaml").write_text("name: test\n")


def test_skip_loop_measures_from_recorded_loop_start(tmp_path: Path) -> None:
    _manifest(tmp_path, {1: "2026-11-23T00:25:24", 2: "2026-11-23T00:26:54"})
    start = time.mktime(time.strptime("2026-11-23T00:23:33", "%Y-%m-%dT%H:%M:%S"))
    lc.record_loop_times(tmp_path, start, start + 600)
    times = lc.generation_times(tmp_path, None)
    assert times == {1: 111.0, 2: 201.0}


def test_skip_loop_without_record_falls_back_to_config_file(tmp_path: Path) -> None:
    _manifest(tmp_path, {1: "2026-11-23T00:25:24"})
    stamp = time.mktime(time.strptime("2026-11-23T00:24:24", "%Y-%m-%dT%H:%M:%S"))
    os.utime(tmp_path / "config.yaml", (stamp, stamp))
    assert lc.generation_times(tmp_path, None) == {1: 60.0}


def _row(generation: int, minutes: float, rate: float) -> dict:
    return {"generation": generation, "minutes": minutes, "mcts:1000": (rate, rate - 0.1, rate + 0.1)}


def test_verdict_needs_the_goal_within_the_time_limit() -> None:
    args = lc.parse_args(["--budgets", "200", "1000", "--minutes", "60"])
    rows = [_row(0, 0.0, 0.0), _row(10, 30.0, 0.85), _row(20, 70.0, 0.95)]
    text = lc.verdict(args, rows)
    assert text.startswith("Goal not reached: best 95.0%")  # reached, but only after 60 minutes
    rows.insert(2, _row(15, 55.0, 0.9))
    assert lc.verdict(args, rows).startswith("Goal reached: generation 15 won 90.0%")


def test_verdict_with_hold_needs_every_later_point() -> None:
    args = lc.parse_args(["--budgets", "1000", "--minutes", "5", "--goal", "0.95", "--hold", "0.9"])
    rows = [_row(6, 2.8, 0.975), _row(7, 3.1, 0.875), _row(8, 3.4, 0.95), _row(9, 6.0, 0.925)]
    text = lc.verdict(args, rows)
    # Generation 6 is a peak (7 falls below 90%); from 8 on every point holds.
    assert text.startswith("Goal reached: generation 8 won 95.0%") and "at least 92.5%" in text
    rows.append(_row(10, 7.0, 0.85))
    assert lc.verdict(args, rows).startswith("Goal not reached")


def test_reproduce_command_reruns_a_skip_loop_measurement_in_one_go() -> None:
    argv = "--set game.board_size=7 --run-dir runs/c --skip-loop --workers 2 --budgets 1000 "
    argv += "--games 40 --every 10 --sims 400 --minutes 60 --goal 0.9 --hold 0.85"
    cmd = lc.reproduce_command(lc.parse_args(argv.split()), last_generation=44)
    flat = " ".join(part.strip(" \\") for part in cmd.splitlines())
    assert "--skip-loop" not in flat
    for part in ("--set game.board_size=7", "--generations 44", "--every 10", "--sims 400", "--workers 2",
                 "--goal 0.9", "--hold 0.85"):  # fmt: skip
        assert part in flat


def test_reproduce_command_keeps_the_loops_time_limit() -> None:
    # A curve stopped by --loop-minutes is rerun the same way, not for the --generations ceiling.
    argv = ["--run-dir", "runs/c", "--generations", "400", "--loop-minutes", "120", "--budgets", "1000"]
    cmd = lc.reproduce_command(lc.parse_args(argv), last_generation=None)
    flat = " ".join(part.strip(" \\") for part in cmd.splitlines())
    assert "--generations 400 --loop-minutes 120" in flat
