"""Model provenance: an exported model records each shard's hash and rows, its parent,
the config hash, the code version and whether the data was synthetic; `zeroloop
describe MODEL` prints it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from tests.test_trainer_shards import config, write_shard
from zeroloop.cli import app
from zeroloop.model.file import read_model_header, save_model_file
from zeroloop.model.network import create_model
from zeroloop.trainer.provenance import config_sha256
from zeroloop.trainer.train_stage import run_training

runner = CliRunner()


def test_export_records_shards_parent_config_and_code(tmp_path: Path) -> None:
    shards = [str(write_shard(tmp_path / "data" / f"s{i}.feather", 20 + 12 * i, i)) for i in range(2)]
    cfg = config()
    # The parent: a generation-1 model file, as the loop's previous generation leaves it.
    parent = create_model(cfg.model, seed=0)
    save_model_file(tmp_path / "a.zlm", parent, cfg.game, {"generation": 1, "step": 6})
    run_training(cfg, [str(tmp_path / "data")], [], tmp_path / "b", init_model=tmp_path / "a.zlm",
                 export_path=tmp_path / "b.zlm", metadata={"generation": 2})  # fmt: skip
    header, _ = read_model_header(tmp_path / "b.zlm")
    prov = header.metadata["provenance"]
    digests = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in shards]
    assert [s["sha256"] for s in prov["shards"]] == digests
    assert [s["rows"] for s in prov["shards"]] == [20, 32] and prov["rows"] == 52
    assert prov["synthetic"] is False and prov["config_sha256"] == config_sha256(cfg)
    assert prov["parent"]["generation"] == 1 and prov["parent"]["step"] == 6
    assert prov["parent"]["sha256"] == hashlib.sha256((tmp_path / "a.zlm").read_bytes()).hexdigest()
    assert prov["code"]["package"] == "0.1.0"

    r = runner.invoke(app, ["describe", str(tmp_path / "b.zlm")])
    assert r.exit_code == 0, r.output
    for digest, rows in zip(digests, ("20 rows", "32 rows"), strict=True):
        line = next(x for x in r.output.splitlines() if digest in x)
        assert rows in line
    assert "2 shards, 52 rows" in r.output and "generation 1, step 6" in r.output
    assert "synthetic data" in r.output
    if prov["code"]["git_commit"]:  # a source checkout (not an installed wheel)
        assert prov["code"]["git_commit"][:12] in r.output


def test_synthetic_training_and_bad_model_file(tmp_path: Path) -> None:
    tiny = ["--set", "game.board_size=3", "--set", "model.blocks=1", "--set", "model.channels=8",
            "--set", "train.progress_bar=false", "--set", "train.tensorboard=false"]  # fmt: skip
    r = runner.invoke(app, ["train", *tiny, "--synthetic", "--steps", "1", "--batch-size", "4",
                            "-w", str(tmp_path / "w"), "--export", str(tmp_path / "m.zlm")])  # fmt: skip
    assert r.exit_code == 0, r.output
    header, _ = read_model_header(tmp_path / "m.zlm")
    assert header.metadata["provenance"]["synthetic"] is True
    assert header.metadata["provenance"]["parent"] is None
    r = runner.invoke(app, ["describe", str(tmp_path / "m.zlm")])
    assert r.exit_code == 0 and "yes" in r.output and "random initial weights" in r.output
    (tmp_path / "junk.zlm").write_bytes(b"not a model")
    r = runner.invoke(app, ["describe", str(tmp_path / "junk.zlm")])
    assert r.exit_code == 1 and "not a zeroloop model file" in r.output
