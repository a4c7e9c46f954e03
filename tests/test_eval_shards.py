"""`zeroloop eval`: a model file or checkpoint over position shards, with dumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tests.test_trainer_cli import TINY
from tests.test_trainer_shards import write_shard
from zeroloop.cli import app
from zeroloop.config import load_config
from zeroloop.config.game import GameConfig
from zeroloop.model.file import load_model_file, save_model_file
from zeroloop.model.network import create_model, value_from_head

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("eval")
    (root / "shards").mkdir()
    write_shard(root / "shards" / "a.feather", 40, 1)
    write_shard(root / "shards" / "b.feather", 13, 2)  # 53 rows: the last batch is padded
    sets = [s for s in TINY if s != "--set"]
    cfg = load_config(None, sets)
    model = create_model(cfg.model, 0)
    save_model_file(root / "m.zlm", model, GameConfig(board_size=3, swap=True))
    return root, root / "m.zlm"


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float((x * w).sum() / w.sum())


def test_model_file_metrics_match_an_independent_forward(setup: tuple[Path, Path]) -> None:
    root, model_path = setup
    dump = root / "out.npz"
    args = ["eval", str(root / "shards"), "--model", str(model_path), *TINY, "--batch-size", "16"]
    r = runner.invoke(app, [*args, "--dump", str(dump)])
    assert r.exit_code == 0, r.output
    assert "53" in r.output and "value_sign_accuracy" in r.output and "policy_accuracy" in r.output
    d = np.load(dump)
    assert d["obs"].shape == (53, 3, 3, 3) and d["policy"].shape == (53, 10)
    np.testing.assert_allclose(d["policy"].sum(-1), 1.0, atol=1e-5)
    # The network run here, outside the evaluator, gives the dumped outputs.
    net, _ = load_model_file(model_path)
    out = net.forward(d["obs"])
    np.testing.assert_allclose(np.asarray(value_from_head(out.value_out)), d["value"], atol=1e-5)
    legal_logits = np.where(d["legal"], np.asarray(out.policy_logits), -np.inf)
    top1 = legal_logits.argmax(-1) == d["policy_target"].argmax(-1)
    np.testing.assert_array_equal(top1, d["top1_hit"])
    np.testing.assert_array_equal(np.sign(d["value"]) == np.sign(d["z"]), d["sign_hit"])
    # The printed means are the weighted means of the per-position values.
    from zeroloop.trainer.evaluate_shards import evaluate_shards

    cfg = load_config(None, [s for s in TINY if s != "--set"])
    res = evaluate_shards(net, [root / "shards"], cfg, batch_size=16)
    w = d["weight"]
    assert res.positions == 53
    assert res.metrics["policy_accuracy"] == pytest.approx(_wmean(top1, w), abs=1e-5)
    assert res.metrics["value_sign_accuracy"] == pytest.approx(_wmean(d["sign_hit"], w), abs=1e-5)
    assert res.metrics["policy_loss"] == pytest.approx(_wmean(d["policy_loss"], w), rel=1e-4)
    assert res.metrics["value_loss"] == pytest.approx(_wmean(d["value_loss"], w), rel=1e-4)
    # The batch size changes nothing but speed.
    res7 = evaluate_shards(net, [root / "shards"], cfg, batch_size=7)
    assert res7.metrics["policy_loss"] == pytest.approx(res.metrics["policy_loss"], rel=1e-4)


def test_arrow_dump_and_max_positions(setup: tuple[Path, Path]) -> None:
    root, model_path = setup
    dump = root / "out.arrow"
    args = ["eval", str(root / "shards"), "-m", str(model_path), *TINY, "--max-positions", "20"]
    r = runner.invoke(app, [*args, "--dump", str(dump)])
    assert r.exit_code == 0, r.output
    table = pa.ipc.open_file(str(dump)).read_all()
    assert table.num_rows == 20
    assert table.schema.metadata[b"shape.obs"] == b"3,3,3"
    obs = np.asarray(table.column("obs").combine_chunks().flatten()).reshape(20, 3, 3, 3)
    assert set(np.unique(obs)) <= {0.0, 1.0}


def test_checkpoint_of_a_training_run(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    root, _ = setup
    work = tmp_path / "work"
    train = ["train", *TINY, "--synthetic", "--steps", "2", "--batch-size", "8", "-w", str(work)]
    r = runner.invoke(app, train)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", str(root / "shards"), "--model", str(work), *TINY])
    assert r.exit_code == 0, r.output
    assert "step 2" in r.output
    bad = runner.invoke(app, ["eval", str(root / "shards"), "--model", str(work), *TINY, "--step", "7"])
    assert bad.exit_code == 2 and "--step 7" in bad.output


def test_bad_arguments_name_the_option(setup: tuple[Path, Path]) -> None:
    root, model_path = setup
    base = ["eval", str(root / "shards"), "--model", str(model_path), *TINY]
    r = runner.invoke(app, [*base, "--weights", "best"])
    assert r.exit_code == 2 and "--weights 'best'" in r.output
    r = runner.invoke(app, [*base, "--dump", str(root / "x.txt")])
    assert r.exit_code == 2 and "--dump" in r.output and ".npz" in r.output
    r = runner.invoke(app, ["eval", str(root / "shards"), "--model", str(root / "nope.zlm"), *TINY])
    assert r.exit_code == 2 and "nope.zlm" in r.output
    r = runner.invoke(app, [*base[:4], "--set", "game.board_size=4"])
    assert r.exit_code == 2 and "board_size" in r.output
