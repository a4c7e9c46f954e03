"""Disk retention: the newest K finished generations keep each output; models and
positions always stay; `data.cleanup: false` keeps everything; status shows disk use."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from tests.flow_helpers import TINY_CONFIG, prefect_env
from zeroloop.cli.status_view import render_status
from zeroloop.config.orchestration import RetentionConfig
from zeroloop.retention import REMOVING, apply_retention, disk_usage, read_record, stable_fingerprint
from zeroloop.rundir import RunDir


def fake_run(root: Path, generations: int, unfinished: int | None = None) -> RunDir:
    """A run directory with every stage's output for `generations` generations (files of 100 bytes)."""
    rd = RunDir.at(root)
    for g in range(1, generations + 1):
        for path in (
            rd.selfplay_dir(g) / "chunk-0.arrow",
            rd.positions_dir(g) / "train" / "chunk-0.feather",
            rd.positions_dir(g) / "_intermediate" / "part.feather",
            rd.shuffled_dir(g) / "shard-0.feather",
            rd.shuffled_dir(g) / "_intermediate" / "manifest.json",
            rd.checkpoint_dir(g) / "checkpoints" / "10" / "state",
            rd.model_path(g),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 100)
        stages = ("selfplay", "preprocess", "shuffle", "train") if g != unfinished else ("selfplay",)
        for stage in stages:
            rd.mark_done(g, stage, {})
    (root / "config.yaml").write_text("name: fake\n")
    return rd


def test_keeps_the_newest_k_finished_generations(tmp_path: Path) -> None:
    rd = fake_run(tmp_path, 4, unfinished=1)
    policy = RetentionConfig(shuffled=1, checkpoints=2, intermediate=0, selfplay=3)
    report = apply_retention(rd, policy, upto=4)
    gens = lambda sub: sorted(p.name for p in (tmp_path / sub).glob("gen-*"))  # noqa: E731
    # Generation 1 never finished training: its shuffled window and checkpoints stay (a
    # resumed run needs them), whatever K says.
    assert gens("shuffled") == ["gen-0001", "gen-0004"]
    assert gens("checkpoints") == ["gen-0001", "gen-0003", "gen-0004"]
    assert gens("selfplay") == ["gen-0001", "gen-0002", "gen-0003", "gen-0004"]  # 3 preprocessed kept
    assert not list(tmp_path.glob("positions/gen-000[234]/_intermediate"))
    assert (tmp_path / "positions/gen-0001/_intermediate").exists()  # its preprocess is not done
    assert gens("positions") == ["gen-0001", "gen-0002", "gen-0003", "gen-0004"]
    assert len(list(tmp_path.glob("models/*.zlm"))) == 4  # models are never removed
    assert report.bytes_freed == 100 * len(report.removed)
    assert set(read_record(rd)["removed"]) == set(report.removed)
    assert not list(tmp_path.rglob(f"*{REMOVING}"))
    # Repeating is a no-op; only generations up to `upto` are looked at.
    assert apply_retention(rd, policy, upto=4).removed == []
    assert apply_retention(rd, RetentionConfig(checkpoints=0), upto=3).removed == ["checkpoints/gen-0003"]


def test_removed_inputs_keep_their_fingerprints(tmp_path: Path) -> None:
    # A rerun's cache keys hash the stages' inputs: a window retention removed must hash
    # as it did, or every old generation's training would look changed and run again.
    rd = fake_run(tmp_path, 3)
    window = rd.shuffled_dir(1)
    before = stable_fingerprint(rd, window)
    shard = window / "shard-0.feather"
    shard_before = stable_fingerprint(rd, shard)
    apply_retention(rd, RetentionConfig(shuffled=1), upto=3)
    assert not window.exists()
    assert stable_fingerprint(rd, window) == before
    assert stable_fingerprint(rd, shard) == shard_before
    assert stable_fingerprint(rd, tmp_path / "never-there") == "missing"


def test_none_keeps_all_and_a_killed_pass_is_finished(tmp_path: Path) -> None:
    rd = fake_run(tmp_path, 3)
    none = RetentionConfig(shuffled=None, checkpoints=None, intermediate=None, selfplay=None)
    assert apply_retention(rd, none, upto=3).removed == []
    # A pass killed between the rename and the delete leaves a .removing directory.
    (tmp_path / "checkpoints" / "gen-0001").rename(tmp_path / "checkpoints" / f"gen-0001{REMOVING}")
    report = apply_retention(rd, none, upto=3)
    assert report.bytes_freed == 100 and not list(tmp_path.rglob(f"*{REMOVING}"))


def test_status_shows_disk_use_per_stage(tmp_path: Path) -> None:
    rd = fake_run(tmp_path, 2)
    usage = disk_usage(rd)
    assert usage["selfplay"] == 200 and usage["positions"] == 400 and usage["models"] == 200
    apply_retention(rd, RetentionConfig(shuffled=1), upto=2)
    console = Console(record=True, width=120)
    render_status(tmp_path, console)
    text = console.export_text()
    assert "disk use" in text and "checkpoints" in text and "200 B" in text
    assert "retention removed" in text


def _listing(run_dir: Path) -> dict[str, list[str]]:
    return {
        sub: sorted(p.name for p in (run_dir / sub).glob("gen-*"))
        for sub in ("selfplay", "positions", "shuffled", "checkpoints")
    } | {"models": sorted(p.name for p in (run_dir / "models").glob("gen-*.zlm"))}


def _tiny_run(tmp_path: Path) -> Callable[..., None]:
    """A function running `zeroloop run` of the tiny config (fewer games and steps) on a run dir."""
    text = TINY_CONFIG.replace("selfplay: {num_games: 16", "selfplay: {num_games: 8").replace(
        "steps: 20", "steps: 4"
    )
    config = tmp_path / "tiny.yaml"
    config.write_text(text)
    env = prefect_env(tmp_path / "prefect-home")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"

    def run(run_dir: Path, generations: int, *sets: str) -> None:
        cmd = [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir", str(run_dir)]
        cmd += ["--generations", str(generations), "--no-evaluation"]
        for s in sets:
            cmd += ["--set", s]
        for _ in range(3):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3000)
            # On an overloaded machine Ray's raylet may miss its fixed 30 s start-up
            # window; the run resumes like any other.
            if done.returncode == 0 or "timed out during startup" not in done.stderr:
                break
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    return run


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_three_generations_keep_only_k(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    _tiny_run(tmp_path)(
        kept, 3, "orchestration.retention.shuffled=1", "orchestration.retention.checkpoints=1"
    )
    listing = _listing(kept)
    three = ["gen-0001", "gen-0002", "gen-0003"]
    assert listing["shuffled"] == ["gen-0003"] and listing["checkpoints"] == ["gen-0003"]
    assert listing["selfplay"] == listing["positions"] == three
    assert listing["models"] == ["gen-0000.zlm", *(f"{g}.zlm" for g in three)]
    assert not list(kept.rglob("_intermediate"))
    removed = json.loads((kept / "retention.json").read_text())["removed"]
    assert set(removed) == {f"{k}/gen-000{g}" for k in ("shuffled", "checkpoints") for g in (1, 2)}


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_cleanup_false_keeps_everything(tmp_path: Path) -> None:
    # `zeroloop run` used to clean up whatever data.cleanup said.
    everything = tmp_path / "everything"
    _tiny_run(tmp_path)(everything, 2, "data.cleanup=false", "orchestration.retention.shuffled=1")
    listing = _listing(everything)
    two = ["gen-0001", "gen-0002"]
    assert listing["shuffled"] == listing["checkpoints"] == listing["selfplay"] == two
    # cleanup off: the stages' own intermediate files stay too.
    assert (everything / "positions" / "gen-0001" / "_intermediate").exists()
    assert not (everything / "retention.json").exists()
