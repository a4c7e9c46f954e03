"""Orchestration pieces that need no stage: cache keys, manifest, generation plans."""

from pathlib import Path

import pytest

from zeroloop.config import load_config
from zeroloop.flows.plan import StageSwitches, plan_generation
from zeroloop.rundir import RunDir
from zeroloop.tasks.cache import StageCachePolicy, stage_depends


def _key(**inputs):
    return StageCachePolicy().compute_key(None, inputs, {})


def test_cache_key_ignores_everything_but_identity() -> None:
    base = {"run_dir": "/r", "generation": 1, "stage": "selfplay", "depends": "abc"}
    k = _key(**base)
    # Actor handles, callbacks and big configs do not change the key...
    assert _key(**base, actor=object(), config_json={"x": 1}) == k
    # ...while each identity field does.
    for field, value in (("run_dir", "/s"), ("generation", 2), ("stage", "train"), ("depends", "x")):
        assert _key(**(base | {field: value})) != k


def test_cache_key_requires_identity_inputs() -> None:
    with pytest.raises(ValueError, match="missing cache-key inputs"):
        _key(run_dir="/r", generation=1)


def test_stage_depends_tracks_only_relevant_sections() -> None:
    a = load_config(None)
    more_steps = load_config(None, ["train.steps=7"])
    other_board = load_config(None, ["game.board_size=9"])
    assert stage_depends(a, "selfplay") == stage_depends(more_steps, "selfplay")
    assert stage_depends(a, "train") != stage_depends(more_steps, "train")
    assert stage_depends(a, "selfplay") != stage_depends(other_board, "selfplay")
    assert stage_depends(a, "selfplay", model="m1") != stage_depends(a, "selfplay", model="m2")


def test_manifest_round_trip(tmp_path: Path) -> None:
    rd = RunDir.at(tmp_path)
    assert rd.finished_stages(1) == {}
    rd.mark_done(1, "selfplay", {"games": 10})
    rd.mark_done(1, "train", {"final_loss": 1.5})
    assert set(rd.finished_stages(1)) == {"selfplay", "train"}
    assert rd.generations_done() == [1]
    rd.clear_stage(1, "train")
    assert set(rd.finished_stages(1)) == {"selfplay"}
    assert rd.best_generation() is None
    rd.set_best(3, "test")
    assert rd.best_generation() == 3 and rd.best_model() == rd.model_path(3)


def test_plan_switches(tmp_path: Path) -> None:
    rd = RunDir.at(tmp_path)
    config = load_config(None, ["data.trmph_dirs=[/data/games]"])
    plan = plan_generation(rd, config, 1, StageSwitches())
    assert plan.run_selfplay and plan.run_preprocess and plan.run_train
    assert plan.preprocess_inputs == [str(rd.selfplay_dir(1)), "/data/games"]
    # External TRMPH files enter the run once.
    assert plan_generation(rd, config, 2, StageSwitches()).preprocess_inputs == [str(rd.selfplay_dir(2))]
    sl = plan_generation(rd, config, 1, StageSwitches(selfplay=False))
    assert not sl.run_selfplay and sl.preprocess_inputs == ["/data/games"]
    no_trmph = plan_generation(rd, config, 1, StageSwitches(trmph_processing=False))
    assert no_trmph.preprocess_inputs == [str(rd.selfplay_dir(1))]
    existing = plan_generation(
        rd, config, 1, StageSwitches(selfplay=False, trmph_processing=False, selfplay_dir="/old/sp")
    )
    assert existing.preprocess_inputs == ["/old/sp"]
    nothing = plan_generation(rd, load_config(None), 1, StageSwitches(selfplay=False))
    assert not nothing.run_preprocess


def test_pinned_generation_inputs_survive_promotion(tmp_path: Path) -> None:
    rd = RunDir.at(tmp_path)
    rd.set_best(1, "test")
    first = rd.pinned(2, "best_model", lambda: str(rd.best_model()))
    rd.set_best(2, "promoted later")
    # A rerun of generation 2 sees the model it started with, not the new best.
    assert rd.pinned(2, "best_model", lambda: str(rd.best_model())) == first == str(rd.model_path(1))
    assert rd.pinned(3, "best_model", lambda: str(rd.best_model())) == str(rd.model_path(2))


def _fake_chunks(monkeypatch: pytest.MonkeyPatch, rows_per_dir: dict[str, list[int]]) -> None:
    """Stand-in for shard reading: each train directory holds chunks of the given rows."""
    from zeroloop.data import window

    def chunk_infos(paths):
        return [window.ChunkInfo(Path(p), r) for p in paths for r in rows_per_dir.get(str(p), [])]

    monkeypatch.setattr(window, "chunk_infos", chunk_infos)


def test_training_waits_for_chunks_per_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rd = RunDir.at(tmp_path)
    config = load_config(None, ["data.window.chunks_per_network=3"])
    rd.model_path(0).parent.mkdir(parents=True)
    rd.model_path(0).write_bytes(b"m")
    for g in (1, 2):
        (rd.positions_dir(g) / "train").mkdir(parents=True)
    train = {str(rd.positions_dir(g) / "train"): [100, 100] for g in (1, 2)}
    _fake_chunks(monkeypatch, train)
    assert not plan_generation(rd, config, 1, StageSwitches()).ready_to_train()  # 2 new < 3
    # Generation 1 trained nothing, so generation 2 counts its chunks too: 4 >= 3.
    plan2 = plan_generation(rd, config, 2, StageSwitches())
    assert plan2.ready_to_train()
    assert plan2.init_model == str(rd.model_path(0))  # newest model, not a missing gen-0001
    # SL (0) never waits.
    sl = load_config(None, ["data.window.chunks_per_network=0"])
    assert plan_generation(rd, sl, 1, StageSwitches()).ready_to_train()


def test_train_steps_capped_by_max_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rd = RunDir.at(tmp_path)
    (rd.positions_dir(1) / "train").mkdir(parents=True)
    (rd.positions_dir(1) / "summary.json").write_text("{}")
    _fake_chunks(monkeypatch, {str(rd.positions_dir(1) / "train"): [640]})
    base = ["train.steps=1000", "train.batch_size=64", "data.window.mode=all"]
    uncapped = plan_generation(rd, load_config(None, base), 1, StageSwitches())
    assert uncapped.train_steps() == 1000
    capped = plan_generation(rd, load_config(None, [*base, "data.window.max_reuse=2"]), 1, StageSwitches())
    assert capped.train_steps() == 20  # 2 uses x 640 positions / 64 per batch


def test_train_steps_follow_the_new_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rd = RunDir.at(tmp_path)
    for g in (1, 2, 3):
        (rd.positions_dir(g) / "train").mkdir(parents=True)
    rd.model_path(1).parent.mkdir(parents=True)
    rd.model_path(1).write_bytes(b"m")  # generation 1 trained; 2 (waited) and 3 are new
    rows = {1: [6400], 2: [640], 3: [1280]}
    _fake_chunks(monkeypatch, {str(rd.positions_dir(g) / "train"): r for g, r in rows.items()})
    base = ["train.steps=1000", "train.batch_size=64", "data.window.mode=all"]
    tied = load_config(None, [*base, "data.window.samples_per_new_position=4"])
    assert plan_generation(rd, tied, 3, StageSwitches()).train_steps() == 120  # 4 x 1920 / 64
    few = load_config(None, [*base, "train.steps=50", "data.window.samples_per_new_position=4"])
    assert plan_generation(rd, few, 3, StageSwitches()).train_steps() == 50  # train.steps is the ceiling
    both = load_config(None, [*base, "data.window.samples_per_new_position=4", "data.window.max_reuse=0.2"])
    assert plan_generation(rd, both, 3, StageSwitches()).train_steps() == 26  # 0.2 x 8320 / 64
    assert plan_generation(rd, load_config(None, base), 3, StageSwitches()).train_steps() == 1000
