"""Presets by name from any folder, `zeroloop init`, and paths relative to the config file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zeroloop.cli import app
from zeroloop.config import ConfigError, load_config
from zeroloop.config.presets import preset_names, preset_text

REPO = Path(__file__).resolve().parents[1]


def test_presets_ship_in_the_package_and_configs_are_the_same_files() -> None:
    assert preset_names() == ["default", "quick", "sl"]
    for name in preset_names():
        repo_copy = REPO / "configs" / f"{name}.yaml"
        # configs/ keeps working for scripts and docs, and cannot drift from the package.
        assert repo_copy.read_text() == preset_text(name), name
        assert load_config(repo_copy) == load_config(name)


def test_preset_by_name_from_another_folder(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run(
        [sys.executable, "-m", "zeroloop", "config", "show", "sl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    shown = yaml.safe_load(res.stdout)
    assert shown["name"] == "sl" and shown["orchestration"]["selfplay"] is False


def test_unknown_preset_says_which_exist() -> None:
    with pytest.raises(ConfigError, match="not a preset: default, quick, sl"):
        load_config("quik")


def test_sl_preset_is_set_for_supervised_learning() -> None:
    sl = load_config("sl")
    assert sl.data.window.mode == "all"  # a pool larger than all data
    assert sl.data.window.chunks_per_network == 0  # a new epoch at once
    assert sl.data.window.max_reuse is None
    assert sl.orchestration.selfplay is False


def test_paths_in_a_config_are_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "c.yaml").write_text(
        "data:\n"
        "  trmph_dirs: [games, /abs/games]\n"
        "  quarantine_dir: bad\n"
        "  mix: {existing_dirs: [../old]}\n"
        "eval: {references: [random, 'model:models/a.zlm@50', 'mcts:20']}\n"
        "selfplay: {compilation_cache_dir: cache}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = load_config("../project/c.yaml")
    assert c.data.trmph_dirs == [str(project / "games"), "/abs/games"]
    assert c.data.quarantine_dir == str(project / "bad")
    assert c.data.mix.existing_dirs == [str(tmp_path / "old")]
    assert c.eval.references == ["random", f"model:{project / 'models/a.zlm'}@50", "mcts:20"]
    assert c.selfplay.compilation_cache_dir == str(project / "cache")
    # --set values are typed in the shell, so they stay relative to where it runs
    c = load_config("../project/c.yaml", ["data.trmph_dirs=[here]"])
    assert c.data.trmph_dirs == ["here"]


def test_init_writes_an_editable_preset_copy(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["init", str(tmp_path / "p"), "--preset", "default"])
    assert res.exit_code == 0, res.output
    written = tmp_path / "p" / "zeroloop.yaml"
    assert preset_text("default") in written.read_text()
    assert load_config(written) == load_config("default")
    again = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert again.exit_code == 2 and "--force" in again.output
    bad = runner.invoke(app, ["init", str(tmp_path / "q"), "--preset", "nope"])
    assert bad.exit_code == 2 and "--preset 'nope'" in bad.output and "quick" in bad.output
    assert not (tmp_path / "q").exists()


def test_served_deployments_work_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zeroloop.flows.serve import build_deployments

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    rl, sl = build_deployments("mine.yaml", "runs/a", "sl", "runs/b")
    assert rl.parameters == {"config_path": str(tmp_path / "mine.yaml"), "run_dir": str(tmp_path / "runs/a")}
    assert sl.parameters["config_path"] == "sl"
    monkeypatch.chdir("/")
    assert load_config(rl.parameters["config_path"]).name == "mine"
    assert load_config(sl.parameters["config_path"]).name == "sl"
