from pathlib import Path

import pytest

from zeroloop.config import ConfigError, load_config, write_run_config

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_presets_are_valid(path: Path) -> None:
    load_config(path)


def test_override_sets_nested_value() -> None:
    cfg = load_config(None, ["train.batch_size=64", "game.board_size=9", "mcts.mode=gumbel"])
    assert cfg.train.batch_size == 64
    assert cfg.game.board_size == 9
    assert cfg.mcts.mode == "gumbel"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  batch_sise: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    assert "train.batch_sise: unknown key" in str(exc.value)
    assert str(f) in str(exc.value)


def test_bad_value_names_key_value_and_allowed() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["mcts.mode=alphabeta", "game.board_size=40"])
    msg = str(exc.value)
    assert "mcts.mode" in msg and "'alphabeta'" in msg and "'puct'" in msg
    assert "game.board_size" in msg and "40" in msg and "19" in msg


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(None, ["train.batch_size"])


def test_schedule_must_start_at_zero() -> None:
    with pytest.raises(ConfigError, match="mcts.temperature"):
        load_config(None, ["mcts.temperature=[[0.1, 1.0]]"])


def test_run_dir_refuses_identity_change(tmp_path: Path) -> None:
    write_run_config(tmp_path, load_config(None, ["game.board_size=5"]))
    # More games is fine.
    write_run_config(tmp_path, load_config(None, ["game.board_size=5", "selfplay.num_games=9"]))
    with pytest.raises(ConfigError) as exc:
        write_run_config(tmp_path, load_config(None, ["game.board_size=7", "model.blocks=1"]))
    msg = str(exc.value)
    assert "game.board_size: run has 5, new config has 7" in msg
    assert "model.blocks" in msg
    assert load_config(tmp_path / "config.yaml").selfplay.num_games == 9


def test_config_reference_doc_is_current() -> None:
    from zeroloop.config.reference import render_reference

    doc = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert doc.read_text() == render_reference(), (
        "docs/config.md is stale: run `zeroloop config reference > docs/config.md`"
    )


def test_puct_only_search_options_are_refused_under_gumbel() -> None:
    """Gumbel search has no Dirichlet noise, forced playouts or first-play value: setting them
    with mcts.mode=gumbel is an error naming the keys, not a silent no-op."""
    with pytest.raises(ValueError, match=r"mcts\.forced_playouts, mcts\.unvisited_mode: PUCT search only"):
        load_config(None, ["mcts.mode=gumbel", "mcts.forced_playouts=2", "mcts.unvisited_mode=reduction"])
    with pytest.raises(ValueError, match=r"mcts\.dirichlet_total"):
        load_config("quick", ["mcts.dirichlet_total=10.83"])
    puct = load_config("quick", ["mcts.mode=puct", "mcts.forced_playouts=2", "mcts.dirichlet_total=10.83"])
    assert puct.mcts.forced_playouts == 2 and puct.mcts.dirichlet_total == 10.83
