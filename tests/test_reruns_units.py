"""Reruns without a flow: content fingerprints, the key split, --force plans, the locks."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zeroloop.config import load_config
from zeroloop.data import fingerprint
from zeroloop.data.fingerprint import fingerprints, path_fingerprint
from zeroloop.flows.force import ForcePlan, ForceSpec, parse_force
from zeroloop.locks import RunDirBusy
from zeroloop.rundir import RunDir
from zeroloop.tasks.cache import EXECUTION_ONLY, STAGE_SECTIONS, TOP_UP, stage_depends, stage_identity

STAGES = tuple(STAGE_SECTIONS)


def _all_keys(config) -> dict[str, str]:
    return {s: stage_depends(config, s) for s in STAGES}


def test_directory_fingerprint_follows_contents(tmp_path: Path) -> None:
    d = tmp_path / "games"
    (d / "sub").mkdir(parents=True)
    (d / "a.trmph").write_text("#4,a1b2\n")
    (d / "sub" / "b.arrow").write_bytes(b"x" * 100)
    first = path_fingerprint(d)
    assert path_fingerprint(d) == first
    # Summaries, temporaries, a stage's _intermediate/ and quarantine/ are not data.
    (d / "summary.json").write_text("{}")
    (d / ".chunk-1.tmp").write_bytes(b"t")
    (d / "_intermediate").mkdir()
    (d / "_intermediate" / "c.arrow").write_bytes(b"y")
    (d / "quarantine").mkdir()
    (d / "quarantine" / "bad.trmph").write_text("junk")
    assert path_fingerprint(d) == first
    (d / "c.trmph").write_text("#4,c3\n")  # a new file
    second = path_fingerprint(d)
    assert second != first
    (d / "c.trmph").write_text("#4,c4\n")  # same name and size, other bytes
    assert path_fingerprint(d) not in (first, second)
    (d / "c.trmph").unlink()
    assert path_fingerprint(d) == first
    assert path_fingerprint(tmp_path / "nothing") == "missing"
    assert set(fingerprints([d, d / "a.trmph"])) == {str(d), str(d / "a.trmph")}


def test_saved_memo_spares_rereading_unchanged_files(tmp_path: Path) -> None:
    fingerprint.forget()
    f = tmp_path / "a.feather"
    f.write_bytes(b"one")
    first = path_fingerprint(f)
    fingerprint.save_memo(tmp_path / "memo.json")
    fingerprint.forget()
    assert fingerprint.load_memo(tmp_path / "memo.json") == 1
    st = f.stat()
    with open(f, "r+b") as fh:  # same inode, size and mtime: the memo answers
        fh.write(b"two")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path_fingerprint(f) == first
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # a newer file is read again
    assert path_fingerprint(f) != first
    fingerprint.forget()
    assert fingerprint.load_memo(tmp_path / "missing.json") == 0


def _changed(value: Any) -> str:
    """Another valid value of a config key, as a --set value."""
    if isinstance(value, bool):
        return str(not value).lower()
    if isinstance(value, int):
        return str(value + 1)
    if isinstance(value, float):
        return str(value + 0.5 if value == 0 else value * 2)
    if value in ("none", "lz4", "zstd"):
        return "lz4" if value != "lz4" else "zstd"
    return "/tmp/elsewhere"  # paths: str or None


def _get(config, dotted: str) -> Any:
    obj = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


EXECUTION_KEYS = [f"{s}.{k}" for s, keys in EXECUTION_ONLY.items() for k in keys]
# Optional numbers (None by default) that _changed would turn into a path.
OTHER_VALUE = {"selfplay.gpu_memory_fraction": 0.5}


@pytest.mark.parametrize("dotted", EXECUTION_KEYS)
def test_execution_only_keys_move_no_key(dotted: str) -> None:
    base = load_config(None)
    value = _get(base, dotted)  # the key exists (a rename would fail here)
    other = load_config(None, [f"{dotted}={OTHER_VALUE.get(dotted, _changed(value))}"])
    assert _get(other, dotted) != value
    assert _all_keys(other) == _all_keys(base)


def test_orchestration_section_is_in_no_key() -> None:
    base = load_config(None)
    other = load_config(None, ["orchestration.num_cpus=3", "orchestration.generations=9"])
    assert _all_keys(other) == _all_keys(base)


@pytest.mark.parametrize(
    ("dotted", "value", "moved"),
    [
        ("mcts.num_simulations", "7", {"selfplay", "evaluate"}),
        ("mcts.dirichlet_total", "10.83", {"selfplay", "evaluate"}),
        ("mcts.unvisited_mode", "reduction", {"selfplay", "evaluate"}),
        ("mcts.forced_playouts", "2", {"selfplay", "evaluate"}),
        ("selfplay.num_games", "9", {"selfplay"}),
        ("data.position_selector", "final", {"preprocess"}),
        ("data.compression", "zstd", {"preprocess", "shuffle"}),
        ("shuffle.num_buckets", "3", {"shuffle"}),
        ("train.steps", "7", {"train"}),
        ("data.loader.seed", "5", {"train"}),
        ("eval.num_games", "8", {"evaluate"}),
        ("eval.gating_threshold", "0.6", {"evaluate", "promote"}),
        ("model.channels", "16", {"init-model", "selfplay", "train"}),
    ],
)
def test_result_keys_move_their_stages_only(dotted: str, value: str, moved: set[str]) -> None:
    base, other = _all_keys(load_config(None)), _all_keys(load_config(None, [f"{dotted}={value}"]))
    assert {s for s in STAGES if base[s] != other[s]} == moved


def test_top_up_keys_re_run_but_keep_the_outputs() -> None:
    assert TOP_UP == {"selfplay": ("selfplay.num_games",)}
    a, b = load_config(None), load_config(None, ["selfplay.num_games=999"])
    assert stage_depends(a, "selfplay") != stage_depends(b, "selfplay")
    assert stage_identity(a, "selfplay") == stage_identity(b, "selfplay")
    c = load_config(None, ["mcts.num_simulations=7"])
    assert stage_identity(a, "selfplay") != stage_identity(c, "selfplay")


def test_promote_key_includes_the_decision() -> None:
    c = load_config(None)
    models = {"candidate": "c1", "opponent": "o1"}
    yes = stage_depends(c, "promote", **models, promote=True, reason="r")
    assert yes != stage_depends(c, "promote", **models, promote=False, reason="r")
    assert yes != stage_depends(c, "promote", **(models | {"candidate": "c2"}), promote=True, reason="r")


def test_parse_force() -> None:
    assert parse_force(["train", "evaluate@2"]) == [ForceSpec("train"), ForceSpec("evaluate", 2)]
    with pytest.raises(ValueError, match="unknown stage 'trian'"):
        parse_force(["trian@2"])
    for bad in ("train@", "train@0", "train@x", "train@-1"):
        with pytest.raises(ValueError, match="GEN must be a generation number"):
            parse_force([bad])


def test_force_plan_invalidates_later_stages_and_generations() -> None:
    plan = ForcePlan(parse_force(["train@2"]))
    assert not any(plan.forces(1, s) for s in ("selfplay", "train", "promote"))
    assert [s for s in ("selfplay", "preprocess", "shuffle") if plan.forces(2, s)] == []
    assert all(plan.forces(2, s) for s in ("train", "evaluate", "promote"))
    assert all(plan.forces(3, s) for s in ("selfplay", "preprocess", "train"))
    assert not plan.repins(2) and plan.repins(3)
    every = ForcePlan(parse_force(["shuffle"]))  # no @GEN: from generation 1 on
    assert not every.forces(1, "preprocess") and every.forces(1, "shuffle") and every.forces(2, "selfplay")
    assert not ForcePlan().forces(1, "selfplay")


def test_remove_outputs_keeps_quarantine(tmp_path: Path) -> None:
    rd = RunDir.at(tmp_path)
    pos = rd.positions_dir(2)
    (pos / "train").mkdir(parents=True)
    (pos / "train" / "s.feather").write_bytes(b"s")
    (pos / "summary.json").write_text("{}")
    (pos / "quarantine").mkdir()
    (pos / "quarantine" / "bad.trmph").write_text("evidence")
    rd.model_path(2).parent.mkdir(parents=True)
    rd.model_path(2).write_bytes(b"m")
    rd.remove_outputs(2, "preprocess")
    rd.remove_outputs(2, "train")
    assert [p.name for p in pos.iterdir()] == ["quarantine"]
    assert not rd.model_path(2).exists()
    assert rd.generation_of(rd.model_path(12)) == 12 and rd.generation_of(tmp_path / "x.zlm") is None


MARK_MANY = """
import sys
from zeroloop.rundir import RunDir
rd, w = RunDir.at(sys.argv[1]), int(sys.argv[2])
for i in range(40):
    rd.mark_done(w * 1000 + i, "selfplay", {"i": i})
"""


def test_concurrent_manifest_updates_are_not_lost(tmp_path: Path) -> None:
    # Three processes (zeroloop.rundir alone imports in well under a second).
    procs = [subprocess.Popen([sys.executable, "-c", MARK_MANY, str(tmp_path), str(w)]) for w in (1, 2, 3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    # Without the lock, read-modify-write from three processes drops entries.
    assert len(RunDir.at(tmp_path).read_manifest()["generations"]) == 120


def test_second_flow_run_on_a_run_directory_is_refused(tmp_path: Path) -> None:
    rd = RunDir.at(tmp_path)
    with rd.run_lock():
        with pytest.raises(RunDirBusy, match="another flow run is using this run directory"):
            rd.run_lock().acquire()
    rd.run_lock().acquire().release()  # free again once the holder is gone


def test_identity_and_pins(tmp_path: Path) -> None:
    rd = RunDir.at(tmp_path)
    assert rd.record_identity(1, "train", "a") is None
    assert rd.record_identity(1, "train", "b") == "a" and rd.recorded_identity(1, "train") == "b"
    for g in (1, 2, 3):
        rd.pinned(g, "best_model", lambda: "m")
    rd.clear_pins(after=1)
    assert set(rd.read_manifest()["inputs"]) == {"gen-0001"}
