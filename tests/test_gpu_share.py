"""JAX memory settings when self-play actors share a GPU."""

from __future__ import annotations

import os
import subprocess
import sys

from zeroloop.config import load_config
from zeroloop.workers.gpu_share import actor_gpu_env


def test_whole_gpus_or_cpu_need_no_settings() -> None:
    assert actor_gpu_env(load_config(None, [])) == {}
    assert actor_gpu_env(load_config(None, ["selfplay.gpus_per_worker=1"])) == {}


def test_shared_gpu_turns_preallocation_off_and_caps_memory() -> None:
    env = actor_gpu_env(load_config(None, ["selfplay.gpus_per_worker=0.25"]))
    assert env == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.225"}
    env = actor_gpu_env(
        load_config(None, ["selfplay.gpus_per_worker=0.25", "selfplay.gpu_memory_fraction=0.1"])
    )
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.100"


def test_driver_process_stops_preallocating_before_jax_starts() -> None:
    code = (
        "import os\n"
        "from zeroloop.config import load_config\n"
        "from zeroloop.workers.gpu_share import share_gpu_in_this_process\n"
        "share_gpu_in_this_process(load_config(None, ['selfplay.gpus_per_worker=0.5']))\n"
        "print(os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_PYTHON_CLIENT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "false"
