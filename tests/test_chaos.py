"""The chaos benchmark, short: 3 SIGKILLs of `zeroloop run`'s process group on the
tiny 4x4 config, then every check of benchmarks/chaos.py must hold."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[1]


def _chaos():
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "benchmarks" / "chaos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = module
    spec.loader.exec_module(module)
    return module


def test_three_kills_then_everything_checks_out(tmp_path: Path) -> None:
    chaos = _chaos()
    out = tmp_path / "chaos.json"
    rc = chaos.main(
        [
            "--kills",
            "3",
            "--generations",
            "1",
            "--seed",
            "1",
            "--workdir",
            str(tmp_path / "w"),
            "--out",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    failed = {k: c["detail"] for k, c in report["checks"].items() if not c["ok"]}
    assert rc == 0, failed
    assert report["attempted"] == 3 and report["survived"] == 3
    assert sum(report["kills_by_stage"].values()) == 3
    assert report["kills_by_stage"].get("selfplay", 0) >= 1  # the first kill aims at self-play
