"""The run directory: where every stage reads and writes, and the manifest of what finished.

Layout (see docs/data-formats.md):

    RUN_DIR/config.yaml            frozen resolved config
    RUN_DIR/manifest.json          stages finished per generation, with their summaries
    RUN_DIR/selfplay/gen-NNNN/     game chunks (*.arrow + *.trmph)
    RUN_DIR/positions/gen-NNNN/    position shards (train/, test/)
    RUN_DIR/shuffled/gen-NNNN/     shuffled training shards for that generation
    RUN_DIR/checkpoints/gen-NNNN/  trainer checkpoints (Orbax)
    RUN_DIR/models/gen-NNNN.zlm    exported models; models/best.json points at the best
    RUN_DIR/eval/gen-NNNN.json     evaluation results; eval/elo.json the Elo ladder

No Prefect or Ray here: the CLI's `status` and the flows both read it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeroloop.data.atomic import write_json_atomic

STAGES: tuple[str, ...] = ("selfplay", "preprocess", "shuffle", "train", "evaluate")


def gen_name(generation: int) -> str:
    return f"gen-{generation:04d}"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run. Generation 0 is the initial (random) model."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> RunDir:
        return cls(Path(path).resolve())

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def selfplay_dir(self, generation: int) -> Path:
        return self.root / "selfplay" / gen_name(generation)

    def positions_dir(self, generation: int) -> Path:
        return self.root / "positions" / gen_name(generation)

    def shuffled_dir(self, generation: int) -> Path:
        return self.root / "shuffled" / gen_name(generation)

    def checkpoint_dir(self, generation: int) -> Path:
        return self.root / "checkpoints" / gen_name(generation)

    def model_path(self, generation: int) -> Path:
        return self.root / "models" / f"{gen_name(generation)}.zlm"

    def eval_path(self, generation: int) -> Path:
        return self.root / "eval" / f"{gen_name(generation)}.json"

    @property
    def ladder_path(self) -> Path:
        return self.root / "eval" / "elo.json"

    @property
    def best_pointer(self) -> Path:
        return self.root / "models" / "best.json"

    # ---- best model -------------------------------------------------------------------

    def best_generation(self) -> int | None:
        """Generation of the current best model, or None before the first model exists."""
        try:
            return int(json.loads(self.best_pointer.read_text())["generation"])
        except (FileNotFoundError, KeyError, ValueError):
            return None

    def best_model(self) -> Path | None:
        gen = self.best_generation()
        return None if gen is None else self.model_path(gen)

    def set_best(self, generation: int, reason: str) -> None:
        write_json_atomic(
            self.best_pointer,
            {"generation": generation, "model": str(self.model_path(generation)), "reason": reason},
        )

    # ---- manifest ---------------------------------------------------------------------

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {"generations": {}}

    def mark_done(self, generation: int, stage: str, summary: dict[str, Any]) -> None:
        """Record that `stage` of `generation` finished, with its summary (atomic)."""
        manifest = self.read_manifest()
        gens = manifest.setdefault("generations", {})
        gens.setdefault(gen_name(generation), {})[stage] = {
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "summary": summary,
        }
        write_json_atomic(self.manifest_path, manifest)

    def pinned(self, generation: int, key: str, value: Callable[[], str]) -> str:
        """The value recorded for `key` in `generation`, recording `value()` the first time.

        A generation's inputs (which model it plays with, which model it must beat) have
        to be the same when a run is resumed or repeated, even after later generations
        have moved the best-model pointer; otherwise resumed stages would miss their
        cache and, worse, a generation could be evaluated against itself.
        """
        manifest = self.read_manifest()
        inputs = manifest.setdefault("inputs", {}).setdefault(gen_name(generation), {})
        if key not in inputs:
            inputs[key] = value()
            write_json_atomic(self.manifest_path, manifest)
        return str(inputs[key])

    def clear_stage(self, generation: int, stage: str) -> None:
        manifest = self.read_manifest()
        manifest.get("generations", {}).get(gen_name(generation), {}).pop(stage, None)
        write_json_atomic(self.manifest_path, manifest)

    def finished_stages(self, generation: int) -> dict[str, Any]:
        return self.read_manifest().get("generations", {}).get(gen_name(generation), {})

    def generations_done(self) -> list[int]:
        """Generations whose every stage finished, ascending."""
        done = []
        for name, stages in self.read_manifest().get("generations", {}).items():
            if all(s in stages for s in ("train",)):
                done.append(int(name.split("-")[1]))
        return sorted(done)
