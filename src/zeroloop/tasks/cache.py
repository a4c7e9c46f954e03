"""Cache keys for stage tasks: (run directory, generation, stage, what the stage depends on).

A finished stage is skipped when the flow runs again (a retry, the dashboard's Retry,
or the same `zeroloop run` command) because its persisted result is found under the
same key. Anything not in the key, such as Ray actor handles or progress callbacks,
cannot cause a spurious miss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.filesystems import LocalFileSystem

from zeroloop.config import ZeroloopConfig

# The config sections each stage's output depends on; a change elsewhere reuses it.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "selfplay": ("game", "model", "mcts", "selfplay"),
    "preprocess": ("game", "data"),
    "shuffle": ("game", "data", "shuffle"),
    "train": ("game", "model", "train", "data"),
    "evaluate": ("game", "mcts", "eval"),
    "promote": ("eval",),
}

KEY_FIELDS = ("run_dir", "generation", "stage", "depends")


def stage_depends(config: ZeroloopConfig, stage: str, **extra: Any) -> str:
    """Hash of the config sections `stage` depends on plus `extra` inputs (paths, flags)."""
    dumped = config.model_dump(mode="json")
    payload = {s: dumped[s] for s in STAGE_SECTIONS[stage]} | {"extra": extra}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class StageCachePolicy(CachePolicy):
    """Key = hash of the task's `run_dir`, `generation`, `stage` and `depends` inputs."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        missing = [k for k in KEY_FIELDS if k not in inputs]
        if missing:
            raise ValueError(f"stage task is missing cache-key inputs: {missing}")
        key = json.dumps({k: inputs[k] for k in KEY_FIELDS}, sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def run_storage(run_dir: str | Path) -> tuple[CachePolicy, str]:
    """Cache policy and result-storage slug that keep Prefect's records inside the run.

    Keeping them in RUN_DIR/.prefect means a run directory on shared storage carries its
    own resume state, whichever machine or Prefect server picks it up.
    """
    root = Path(run_dir).resolve() / ".prefect"
    name = "zeroloop-" + hashlib.sha1(str(root).encode()).hexdigest()[:12]
    LocalFileSystem(basepath=str(root / "results")).save(name, overwrite=True)
    policy = StageCachePolicy().configure(key_storage=str(root / "keys"))
    return policy, f"local-file-system/{name}"
