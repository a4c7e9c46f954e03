"""Cache keys for stage tasks: (run directory, generation, stage, what the stage depends on).

A finished stage is skipped when the flow runs again (a retry, the dashboard's Retry,
or the same `zeroloop run` command) because its persisted result is found under the
same key. "What the stage depends on" is the config keys that change its result
(`stage_config`) and content fingerprints of its input files (zeroloop.data.fingerprint),
so new files in an input directory are a miss and a change of a worker count is not.
Anything not in the key, such as Ray actor handles or progress callbacks, cannot cause
a spurious miss. docs/orchestration.md has the table of what each change re-runs.
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

# The config sections (or dotted keys) each stage's output depends on; a change
# elsewhere reuses it. What an earlier stage made reaches a later stage's key through the
# content fingerprints of its files, so e.g. data.position_selector is in preprocess's
# key only: shuffle and train see its effect in the position shards.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "init-model": ("game", "model"),
    "selfplay": ("game", "model", "mcts", "selfplay"),
    "preprocess": ("game", "data"),
    "shuffle": ("game", "shuffle", "data.compression"),
    "train": ("game", "model", "train", "data.q_ratio", "data.loader", "data.mix"),
    "evaluate": ("game", "mcts", "eval"),
    # The decision itself (promote or not, from the evaluation) is in promote's key too.
    "promote": ("eval.gating", "eval.gating_threshold", "eval.gating_confidence"),
}

# Keys inside a stage's sections that the stage does not read (later stages do).
NOT_READ: dict[str, tuple[str, ...]] = {
    # data.trmph_dirs reaches preprocess as its input paths, fingerprinted by content.
    "preprocess": ("data.window", "data.mix", "data.loader", "data.q_ratio", "data.trmph_dirs"),
}

# Keys that change how a stage runs but not what it produces: worker counts, batch sizes
# of the arena, progress and logging, checkpoint cadence, temporary-file settings. They
# are left out of every stage's key, so changing one leaves finished stages Cached.
# (The `orchestration` section is in no stage's key at all: Ray address, CPUs,
# generations.) Self-play's games do not depend on its worker count or batch size:
# each game's seed comes from (seed, worker, sequence) and any mix of games is a valid
# generation, so those are execution settings too. Tested in
# tests/test_orchestration_units.py: each key here exists and moves no key.
EXECUTION_ONLY: dict[str, tuple[str, ...]] = {
    "selfplay": (
        "num_workers",
        "batch_size",
        "cpus_per_worker",
        "gpus_per_worker",
        "gpu_memory_fraction",
        "compilation_cache_dir",
        "max_worker_restarts",
        "keep_workers",  # a reused actor starts fresh games from the batch seed, like a new one
    ),
    "data": ("max_workers", "cleanup", "quarantine_dir", "loader.prefetch_batches"),
    "shuffle": ("max_workers", "temp_compression"),
    "train": (
        "devices",  # data parallelism: the same steps, up to float rounding
        "log_every",
        "heartbeat_seconds",
        "progress_bar",
        "tensorboard",
        "checkpoint.every",
        "checkpoint.keep",
        "checkpoint.auto_resume",
        "checkpoint.async_save",
    ),
    "eval": ("batch_size", "num_workers", "cpus_per_worker"),
}

# Keys that say how much of a stage's output to make: a change re-runs the stage (it is
# in the key), which goes on from the outputs on disk instead of starting again (it is
# not in the output identity). Raising selfplay.num_games plays only the extra games.
TOP_UP: dict[str, tuple[str, ...]] = {"selfplay": ("selfplay.num_games",)}

KEY_FIELDS = ("run_dir", "generation", "stage", "depends")


@dataclass(frozen=True)
class StageKey:
    """A stage's cache-key part (`depends`) and the identity of the outputs it makes."""

    depends: str
    identity: str


def _drop(tree: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        if p not in tree:
            return
        tree = tree[p]
    tree.pop(leaf, None)


def _pick(dumped: dict[str, Any], dotted: str, out: dict[str, Any]) -> None:
    *parents, leaf = dotted.split(".")
    src, dst = dumped, out
    for p in parents:
        src, dst = src[p], dst.setdefault(p, {})
    dst[leaf] = src[leaf]


def stage_config(config: ZeroloopConfig, stage: str) -> dict[str, Any]:
    """The config a stage's result depends on: its keys less execution-only and unread ones."""
    dumped = config.model_dump(mode="json")
    out: dict[str, Any] = {}
    for dotted in STAGE_SECTIONS[stage]:
        _pick(dumped, dotted, out)
    for section, keys in EXECUTION_ONLY.items():
        for key in keys:
            _drop(out, f"{section}.{key}")
    for dotted in NOT_READ.get(stage, ()):
        _drop(out, dotted)
    return out


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_depends(config: ZeroloopConfig, stage: str, **extra: Any) -> str:
    """Cache key part: hash of `stage_config` plus `extra` inputs (content fingerprints, flags)."""
    return _digest(stage_config(config, stage) | {"extra": extra})


def stage_identity(config: ZeroloopConfig, stage: str, **extra: Any) -> str:
    """What the stage's outputs on disk were made from: `stage_depends` less the TOP_UP keys.

    The flow records it per generation and stage before the stage runs; when the next
    run's identity differs, the outputs on disk belong to other inputs and are removed
    before the stage runs again (a mere resume finds the same identity and goes on).
    """
    cfg = stage_config(config, stage)
    for dotted in TOP_UP.get(stage, ()):
        _drop(cfg, dotted)
    return _digest(cfg | {"extra": extra})


def stage_key(config: ZeroloopConfig, stage: str, **extra: Any) -> StageKey:
    """`stage_depends` and `stage_identity` of one stage with the same inputs."""
    return StageKey(stage_depends(config, stage, **extra), stage_identity(config, stage, **extra))


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
