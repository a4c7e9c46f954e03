"""Run by tests/test_trainer_devices.py in a process with two CPU devices.

XLA_FLAGS=--xla_force_host_platform_device_count=2 must be set before JAX starts,
so this runs as its own process. Prints one JSON line with what the test checks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from zeroloop.config import load_config
from zeroloop.trainer.checkpoints import CheckpointStore
from zeroloop.trainer.engine import TrainEngine
from zeroloop.trainer.synthetic import SyntheticBatches
from zeroloop.trainer.train_stage import run_training

N, B = 3, 8
TINY = [
    f"game.board_size={N}",
    "model.blocks=1",
    "model.channels=8",
    "model.policy_channels=4",
    "model.value_channels=2",
    "model.value_hidden=8",
    f"train.batch_size={B}",
    "train.log_every=1",
    "train.heartbeat_seconds=0",
    "train.progress_bar=false",
    "train.tensorboard=false",
    "train.checkpoint.async_save=false",
    "train.ema_decay=0.9",
    "train.learning_rate=0.01",
]


def losses(devices: int, steps: int) -> list[float]:
    c = load_config(None, [*TINY, f"train.devices={devices}"])
    engine = TrainEngine(c.model, c.train, steps, 0)
    from zeroloop.model.network import create_model

    state = engine.init_state(create_model(c.model, c.train.seed))
    batches = SyntheticBatches(B, N, seed=5)
    out = []
    for _ in range(steps):
        state, m = engine.train_step(state, engine.select_batch(next(batches)))
        out.append(float(m["loss"]))
    shards = {len(x.sharding.device_set) for x in jax.tree.leaves(state.params)}
    return out, sorted(shards)


class Killed(Exception):
    pass


class DiesAt(SyntheticBatches):
    """Synthetic batches that die like a killed process when batch `at` is asked for."""

    def __init__(self, at: int | None) -> None:
        super().__init__(B, N, seed=7)
        self.at = at

    def __next__(self) -> dict[str, np.ndarray]:
        if self.index == self.at:
            raise Killed
        return super().__next__()


def relay(tmp: Path) -> dict[str, object]:
    """Train on 2 devices, die, resume on 1, die, resume on 2; against 6 straight steps on 1."""

    def run(work: Path, devices: int, dies_at: int | None) -> dict[str, object]:
        c = load_config(
            None, [*TINY, f"train.devices={devices}", "train.steps=6", "train.checkpoint.every=2"]
        )
        try:
            s = run_training(c, [], [], work, batches=DiesAt(dies_at))
        except Killed:
            return {"killed_after_checkpoint": CheckpointStore(work / "checkpoints").latest_step()}
        return {"final_step": s.final_step, "resumed_from": s.resumed_from}

    straight = run(tmp / "straight", 1, None)
    legs = [run(tmp / "relay", 2, 3), run(tmp / "relay", 1, 5), run(tmp / "relay", 2, None)]
    a, _, _ = CheckpointStore(tmp / "straight" / "checkpoints").restore_raw(6)
    b, _, _ = CheckpointStore(tmp / "relay" / "checkpoints").restore_raw(6)
    diff = max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
        for x, y in zip(jax.tree.leaves(a["params"]), jax.tree.leaves(b["params"]), strict=True)
    )
    return {"straight": straight, "legs": legs, "max_param_diff": diff}


def main() -> None:
    tmp = Path(sys.argv[1])
    one, one_shards = losses(1, 8)
    two, two_shards = losses(2, 8)
    out = {
        "devices": jax.local_device_count(),
        "loss_1": one,
        "loss_2": two,
        "shards_1": one_shards,
        "shards_2": two_shards,
        "relay": relay(tmp),
    }
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
