"""Data-parallel training over two CPU devices (XLA's forced host device count).

The work runs in a subprocess (tests/devices_script.py): the device count is fixed
when JAX starts, and this pytest process has started it already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zeroloop.config import load_config
from zeroloop.trainer.devices import DataParallel, select_devices
from zeroloop.trainer.engine import TrainEngine

SCRIPT = Path(__file__).with_name("devices_script.py")
# f32 reductions summed in another order (two partial sums and an all-reduce).
LOSS_RTOL = 1e-5
PARAM_ATOL = 1e-5


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory: pytest.TempPathFactory) -> dict:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path_factory.mktemp("devices"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_two_devices_match_one(two_devices: dict) -> None:
    assert two_devices["devices"] == 2
    # The two-device state really lives on both devices; the one-device state on one.
    assert two_devices["shards_1"] == [1] and two_devices["shards_2"] == [2]
    np.testing.assert_allclose(two_devices["loss_2"], two_devices["loss_1"], rtol=LOSS_RTOL)


def test_checkpoint_moves_between_device_counts(two_devices: dict) -> None:
    relay = two_devices["relay"]
    assert relay["legs"][0] == {"killed_after_checkpoint": 2}  # written on 2 devices
    assert relay["legs"][1] == {"killed_after_checkpoint": 4}  # resumed on 1, written on 1
    assert relay["legs"][2] == {"final_step": 6, "resumed_from": 4}  # resumed on 2
    assert relay["max_param_diff"] < PARAM_ATOL


def test_more_devices_than_exist_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"train\.devices=64: only \d+ local device"):
        select_devices(64)


def test_batch_must_split_evenly() -> None:
    parallel = DataParallel(select_devices(1) * 2)  # the same device twice: a 2-wide mesh
    with pytest.raises(ValueError, match=r"train\.batch_size=7 does not divide by the 2"):
        parallel.check_batch_size(7)


def test_default_uses_every_local_device() -> None:
    c = load_config(None, ["game.board_size=3", "model.blocks=1", "model.channels=8", "train.batch_size=4"])
    assert c.train.devices == 0
    engine = TrainEngine(c.model, c.train, 1, 0)
    import jax

    assert engine.parallel.size == jax.local_device_count()
