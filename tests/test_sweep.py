"""`zeroloop sweep`: the sweep definition (parsing, checks, results files) and, marked
slow, real Ray Tune sweeps on synthetic batches: two trials under ASHA, and a sweep
killed mid-way that resumes to the end."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from zeroloop.workers.sweep import (
    SweepError,
    TrialRow,
    format_value,
    make_spec,
    parse_param,
    save_or_check_spec,
    write_results,
)

TINY = [
    "game.board_size=3",
    "model.blocks=1",
    "model.channels=8",
    "model.policy_channels=4",
    "model.value_channels=2",
    "model.value_hidden=8",
    "train.batch_size=8",
    "train.log_every=1",
    "train.validation.every=2",
    "train.validation.batches=1",
    "train.checkpoint.every=2",
    "train.checkpoint.async_save=false",
    "train.tensorboard=false",
    "train.heartbeat_seconds=0",
    "orchestration.num_cpus=2",
]


def test_params_parse_and_values_round_trip() -> None:
    p = parse_param("train.learning_rate=1e-3,0.01")
    assert p.values == (0.001, 0.01) and not p.is_range
    r = parse_param("train.learning_rate=log:1e-4..1e-2")
    assert r.is_range and r.log and (r.low, r.high) == (1e-4, 1e-2)
    assert parse_param("train.optimizer=adamw,sgd").values == ("adamw", "sgd")
    # PyYAML reads `1e-05` as a string; the value written back must read as a float.
    assert yaml.safe_load(format_value(1e-05)) == 1e-05
    for bad, says in (
        ("train.learning_rate", "expected KEY="),
        ("train.learning_rate=0.1..0.01", "LOW < HIGH"),
        ("train.learning_rate=log:0..1", "LOW > 0"),
        ("train.learning_rate=log:0.1", "takes a range"),
    ):
        with pytest.raises(SweepError, match=says):
            parse_param(bad)


def test_spec_checks_every_point_before_ray(tmp_path: Path) -> None:
    lr = parse_param("train.learning_rate=0.001,0.01")
    spec = make_spec(tmp_path, None, TINY, [lr], synthetic=True, steps=4)
    assert spec.metric == "val_loss" and spec.steps == 4
    assert spec.trial_config({"train.learning_rate": 0.01}).train.learning_rate == 0.01
    with pytest.raises(Exception, match="train.batch_size"):
        make_spec(tmp_path, None, TINY, [parse_param("train.batch_size=8,-1")], synthetic=True)
    with pytest.raises(SweepError, match="needs --search random"):
        make_spec(tmp_path, None, TINY, [parse_param("train.learning_rate=1e-4..1e-2")], synthetic=True)
    with pytest.raises(SweepError, match="--train"):
        make_spec(tmp_path, None, TINY, [lr])
    with pytest.raises(SweepError, match="validation metrics need --test"):
        make_spec(tmp_path, None, TINY, [lr], train_shards=["x"], metric="val_loss")
    # A resume must be the same sweep.
    assert save_or_check_spec(spec) is False and save_or_check_spec(spec) is True
    other = make_spec(tmp_path, None, TINY, [lr], synthetic=True, steps=8)
    with pytest.raises(SweepError, match="steps differ"):
        save_or_check_spec(other)


def test_config_path_is_absolute_for_trials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my.yaml").write_text("train: {steps: 3}\n")
    monkeypatch.chdir(tmp_path)
    spec = make_spec(tmp_path / "out", "my.yaml", TINY, [parse_param("train.learning_rate=0.01")],
                     synthetic=True)  # fmt: skip
    assert spec.config == str(tmp_path / "my.yaml") and spec.steps == 3
    monkeypatch.chdir("/")  # as a Tune trial, elsewhere
    assert spec.trial_config({"train.learning_rate": 0.01}).train.steps == 3


def test_reporter_holds_the_last_step_until_the_trial_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray import tune

    from zeroloop.workers.sweep_tune import _Reporter

    reported: list[dict] = []
    monkeypatch.setattr(tune, "report", lambda metrics: reported.append(dict(metrics)))
    path = tmp_path / "metrics.jsonl"
    rows = [(1, "train", 3.0), (2, "train", 2.9), (2, "val", 3.1), (3, "train", 2.8), (4, "train", 2.7)]
    path.write_text("".join(json.dumps({"step": s, "split": k, "loss": v}) + "\n" for s, k, v in rows))
    with path.open("a") as f:
        f.write('{"step": 4, "split": "v')  # half a line: the trainer is writing it
    reporter = _Reporter(path, "val_loss", end_step=4)
    reporter(3, 4)
    # Nothing before the metric exists; step 2's train and val rows in one report; step 4 held back.
    assert [(r["step"], r["val_loss"]) for r in reported] == [(2, 3.1), (3, 3.1)]
    with path.open("a") as f:
        f.write('al", "loss": 2.95}\n')
    reporter.poll(final=True)
    assert [(r["step"], r["val_loss"], r["train_loss"]) for r in reported[2:]] == [(4, 2.95, 2.7)]


def test_results_csv_and_best_yaml(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, None, TINY, [parse_param("train.learning_rate=0.001,0.01,0.1")],
                     synthetic=True, steps=4)  # fmt: skip
    rows = [
        TrialRow("a", {"train.learning_rate": 0.001}, "finished", 4, {"val_loss": 2.5}),
        TrialRow("b", {"train.learning_rate": 0.01}, "finished", 4, {"val_loss": 2.1}),
        # Lower loss, but stopped early by ASHA at step 2: not the best.
        TrialRow("c", {"train.learning_rate": 0.1}, "stopped by ASHA", 2, {"val_loss": 1.0}),
    ]
    csv_path, best = write_results(spec, rows)
    got = list(csv.DictReader(csv_path.open()))
    assert [r["trial"] for r in got] == ["b", "a", "c"] and got[0]["train.learning_rate"] == "0.01"
    assert yaml.safe_load(best.read_text())["train"]["learning_rate"] == 0.01


def _sweep_cmd(out: Path, grace: int = 2, steps: int = 4) -> list[str]:
    sets = [x for s in TINY for x in ("--set", s)]
    return [sys.executable, "-m", "zeroloop", "sweep", "--synthetic", "-o", str(out), *sets,
            "-p", "train.learning_rate=0.001,0.03", "--steps", str(steps), "--grace-steps", str(grace),
            "--max-concurrent", "1"]  # fmt: skip


def _env() -> dict[str, str]:
    return dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sweep_on_ray_tune(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = subprocess.run(_sweep_cmd(out), env=_env(), capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted(r["train.learning_rate"] for r in rows) == ["0.001", "0.03"]
    assert all(r["val_loss"] for r in rows) and rows[0]["status"] == "finished"
    assert float(rows[0]["val_loss"]) <= min(float(r["val_loss"]) for r in rows if r["status"] == "finished")
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["train"]["learning_rate"] == float(rows[0]["train.learning_rate"])
    assert "finished" in done.stdout and "best.yaml" in done.stdout
    assert len(list((out / "trials").iterdir())) == 2


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sweep_killed_resumes(tmp_path: Path) -> None:
    from zeroloop.trainer.checkpoints import CheckpointStore

    out = tmp_path / "sweep"
    # grace = steps: ASHA stops no trial, so both must end finished after the resume.
    # 40 steps with a checkpoint every 2 keep the second trial running for seconds (each
    # save is synchronous), so the kill below lands inside it even on an idle machine.
    cmd = _sweep_cmd(out, grace=40, steps=40)
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        # Kill (SIGKILL, the whole process group) once the first trial has finished and the
        # second has written its first checkpoint.
        deadline = time.monotonic() + 700
        while time.monotonic() < deadline:
            trials = sorted((out / "trials").glob("*")) if (out / "trials").exists() else []
            finished = [t for t in trials if (t / "summary.json").exists()]
            running = [t for t in trials if t not in finished and (t / "checkpoints").exists()]
            if finished and running and CheckpointStore(running[0] / "checkpoints").latest_step():
                break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.2)
        else:
            pytest.fail("the sweep never reached its second trial's first checkpoint")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first, second = finished[0], running[0]
    first_metrics = (first / "metrics.jsonl").read_text()
    killed_at = CheckpointStore(second / "checkpoints").latest_step()
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming sweep" in done.stdout
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 and all(r["val_loss"] for r in rows), rows
    assert sorted(p.name for p in (out / "trials").iterdir()) == sorted([first.name, second.name])
    # The finished trial trained no step again; the interrupted one went on from its checkpoint.
    assert (first / "metrics.jsonl").read_text() == first_metrics
    summary = json.loads((second / "summary.json").read_text())
    assert summary["final_step"] == 40 and summary["resumed_from"] is not None
    assert summary["resumed_from"] >= killed_at
