"""The ablation benchmark's bookkeeping: which generation an arm is judged by, and its self-play figures."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # ablation.py imports learning_curve as a sibling
_spec = importlib.util.spec_from_file_location("ablation", REPO / "benchmarks" / "ablation.py")
assert _spec is not None and _spec.loader is not None
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)

START = "2026-12-02T08:00:00"


def _stamp(minutes: float) -> str:
    t = time.mktime(time.strptime(START, "%Y-%m-%dT%H:%M:%S")) + minutes * 60
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def _arm_dir(root: Path, arm: str, finished: dict[int, float], selfplay: dict[int, dict]) -> Path:
    run_dir = root / arm
    (run_dir / "benchmark").mkdir(parents=True)
    gens = {
        f"gen-{g:04d}": {"train": {"finished_at": _stamp(m)}, "selfplay": {"summary": selfplay.get(g, {})}}
        for g, m in finished.items()
    }
    (run_dir / "manifest.json").write_text(json.dumps({"generations": gens}))
    start = time.mktime(time.strptime(START, "%Y-%m-%dT%H:%M:%S"))
    (run_dir / "benchmark" / "loop.json").write_text(json.dumps({"start": start, "end": start + 1200}))
    return run_dir


def _summary(games: int, positions: int, seconds: float, rows: int, live: float, first: float) -> dict:
    return {
        "games": games,
        "new_positions": positions,
        "stage_seconds": seconds,
        "searched_rows": rows,
        "live_row_share": live,
        "first_player_win_rate": first,
        "mean_game_length": positions / games,
    }


def test_selfplay_figures_weigh_each_generation_by_its_size(tmp_path: Path) -> None:
    run_dir = _arm_dir(
        tmp_path,
        "base",
        {1: 1.0, 2: 2.0},
        {1: _summary(100, 1000, 10.0, 1000, 0.9, 0.5), 2: _summary(300, 3000, 10.0, 3000, 0.98, 0.7)},
    )
    f = ab.selfplay_figures(run_dir, [1, 2])
    assert f["positions_per_second"] == pytest.approx(4000 / 20)
    assert f["live_row_share"] == pytest.approx((900 + 2940) / 4000)
    assert f["first_player_win_rate"] == pytest.approx((50 + 210) / 400)
    assert f["selfplay_games"] == 400 and f["mean_game_length"] == pytest.approx(10.0)


def test_an_arm_is_judged_by_the_last_model_within_the_budget_and_not_rerun(tmp_path: Path) -> None:
    _arm_dir(
        tmp_path,
        "edge",
        {1: 5.0, 2: 14.5, 3: 15.5},
        {g: _summary(10, 100, 1.0, 100, 1.0, 0.5) for g in (1, 2, 3)},
    )
    args = ab.parse_args(["--arms", "edge", "--run-root", str(tmp_path), "--minutes", "15"])
    r = ab.run_arm(args, "edge")  # no model files here: the arm is recorded without a win rate
    assert r["generation"] == 2 and r["minutes"] == pytest.approx(14.5)
    assert r["selfplay_games"] == 20  # generation 3 finished after the budget and does not count
    assert r["win_rate"] is None and r["overrides"] == ["model.edge_input=true"]
    saved = tmp_path / "edge" / "benchmark" / "ablation-arm.json"
    assert json.loads(saved.read_text())["generation"] == 2
    saved.write_text(json.dumps({**r, "generation": 99}))
    assert ab.run_arm(args, "edge")["generation"] == 99  # measured arms are read, not run again


def test_table_names_every_arm_and_the_command(tmp_path: Path) -> None:
    args = argparse.Namespace(
        minutes=15.0,
        budget=1000,
        games=40,
        sims=128,
        run_root="runs/a",
        config="quick",
        base_set=ab.BASE_SET,
        seed=0,
        name="ablation-7x7",
    )
    row = {
        "arm": "gumbel",
        "label": "Gumbel",
        "overrides": ["mcts.mode=gumbel"],
        "generation": 20,
        "minutes": 14.8,
        "win_rate": 0.75,
        "win_rate_low": 0.6,
        "win_rate_high": 0.86,
        "positions_per_second": 900.0,
        "live_row_share": 0.95,
        "first_player_win_rate": 0.6,
        "mean_game_length": 30.0,
    }
    text = ab.markdown(args, [row])
    assert "--arms gumbel" in text and "`mcts.mode=gumbel`" in text and "75.0%" in text
    assert "7x7" in text


def test_a_base_with_its_own_shared_settings_is_not_called_the_presets_defaults(tmp_path: Path) -> None:
    for arm in ("base", "forced"):
        _arm_dir(tmp_path, arm, {1: 5.0}, {1: _summary(10, 100, 1.0, 100, 1.0, 0.5)})
    puct = ["--base-set", *ab.BASE_SET, "mcts.mode=puct"]
    args = ab.parse_args(["--run-root", str(tmp_path), *puct])
    assert ab.run_arm(args, "base")["label"] == "the preset with --base-set"
    assert ab.run_arm(args, "forced")["label"] == ab.ARMS["forced"][0]
    plain = ab.parse_args(["--run-root", str(tmp_path / "plain")])
    _arm_dir(tmp_path / "plain", "base", {1: 5.0}, {1: _summary(10, 100, 1.0, 100, 1.0, 0.5)})
    assert ab.run_arm(plain, "base")["label"] == ab.ARMS["base"][0]


def test_an_arm_the_preset_refuses_is_named_before_any_loop_runs(tmp_path: Path) -> None:
    gumbel = ab.parse_args(["--run-root", str(tmp_path), "--arms", "base", "forced", "fpu"])
    errors = ab.arm_config_errors(gumbel)
    assert [e.split(":")[0] for e in errors] == ["arm forced", "arm fpu"]
    assert "mcts.forced_playouts" in errors[0] and "mcts.unvisited_mode" in errors[1]
    with pytest.raises(SystemExit, match="arm forced"):
        ab.main(["--run-root", str(tmp_path), "--arms", "base", "forced"])
    assert not (tmp_path / "base").exists()  # nothing ran
    puct = ["--base-set", *ab.BASE_SET, "mcts.mode=puct"]
    puct_arms = ab.parse_args(["--arms", "base", "forced", "fpu", "dirichlet-total", *puct])
    assert ab.arm_config_errors(puct_arms) == []


def test_seed_gives_every_arm_the_same_loop_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loops: dict[str, list[str]] = {}

    def fake_loop(run_dir: Path, config: str, overrides: list[str], minutes: float, generations: int) -> None:
        loops[run_dir.name] = overrides
        _arm_dir(run_dir.parent, run_dir.name, {1: 5.0}, {1: _summary(10, 100, 1.0, 100, 1.0, 0.5)})

    monkeypatch.setattr(ab, "run_loop_for", fake_loop)
    args = ab.parse_args(["--run-root", str(tmp_path), "--arms", "base", "swap", "--seed", "3"])
    assert ab.arm_config_errors(args) == []  # every seed key is a real config key
    for arm in args.arms:
        ab.run_arm(args, arm)
    seeds = [f"{k}=3" for k in ab.SEED_KEYS]
    assert loops["base"] == [*ab.BASE_SET, *seeds]
    assert loops["swap"] == [*ab.BASE_SET, *seeds, "game.swap=true"]
    assert not any(o.startswith("eval.seed") for o in loops["base"])  # same measurement openings
    assert "--seed 3" in ab.markdown(args, [])
    plain = ab.parse_args(["--run-root", str(tmp_path / "plain")])
    assert ab.shared_overrides(plain) == ab.BASE_SET and "--seed" not in ab.markdown(plain, [])
