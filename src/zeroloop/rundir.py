"""The run directory: where every stage reads and writes, and the manifest of what finished.

Layout (see docs/data-formats.md):

    RUN_DIR/config.yaml            frozen resolved config
    RUN_DIR/manifest.json          stages finished per generation, with their summaries
    RUN_DIR/.run.lock              held by the flow run using the directory (zeroloop.locks)
    RUN_DIR/selfplay/gen-NNNN/     game chunks (*.arrow + *.trmph)
    RUN_DIR/positions/gen-NNNN/    position shards (train/, test/)
    RUN_DIR/shuffled/gen-NNNN/     shuffled training shards for that generation
    RUN_DIR/checkpoints/gen-NNNN/  trainer checkpoints (Orbax)
    RUN_DIR/models/gen-NNNN.zlm    exported models; models/best.json points at the best
    RUN_DIR/eval/gen-NNNN.json     evaluation results; eval/elo.json the Elo ladder

No Prefect or Ray here: the CLI's `status` and the flows both read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeroloop.data.atomic import write_json_atomic
from zeroloop.data.quarantine import QUARANTINE_DIR
from zeroloop.locks import RunLock, file_lock

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

    def generation_of(self, model: str | os.PathLike[str]) -> int | None:
        """The generation of a model file of this run (models/gen-NNNN.zlm), else None."""
        p = Path(model)
        m = re.fullmatch(r"gen-(\d+)\.zlm", p.name)
        return int(m.group(1)) if m and p.resolve().parent == self.root / "models" else None

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

    def run_lock(self) -> RunLock:
        """The lock a flow run holds on this directory for its lifetime (zeroloop.locks)."""
        return RunLock(self.root / ".run.lock")

    # ---- stage outputs ----------------------------------------------------------------

    def stage_outputs(self, generation: int, stage: str) -> list[Path]:
        """What `stage` of `generation` writes (removed when it is forced or its inputs changed).

        The Elo ladder is not here: its records are keyed and replaced by the evaluation.
        """
        return {
            "selfplay": [self.selfplay_dir(generation)],
            "preprocess": [self.positions_dir(generation)],
            "shuffle": [self.shuffled_dir(generation)],
            "train": [self.checkpoint_dir(generation), self.model_path(generation)],
            "evaluate": [self.eval_path(generation)],
        }.get(stage, [])

    def remove_outputs(self, generation: int, stage: str) -> list[Path]:
        """Delete the stage's outputs, keeping any `quarantine/` (moved-aside input files)."""
        removed = []
        for out in self.stage_outputs(generation, stage):
            if out.is_dir():
                for child in out.iterdir():
                    if child.name == QUARANTINE_DIR:
                        continue
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
                removed.append(out)
            elif out.exists():
                out.unlink()
                removed.append(out)
        return removed

    # ---- manifest ---------------------------------------------------------------------
    # Every change is read-modify-write under an flock on RUN_DIR/.manifest.lock and
    # lands by atomic rename, so concurrent writers (two flows, a flow and a CLI command)
    # never lose each other's updates and a reader never sees half a file.

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {"generations": {}}

    @contextlib.contextmanager
    def _manifest_update(self) -> Iterator[dict[str, Any]]:
        with file_lock(self.root / ".manifest.lock"):
            manifest = self.read_manifest()
            yield manifest
            write_json_atomic(self.manifest_path, manifest)

    def mark_done(self, generation: int, stage: str, summary: dict[str, Any]) -> None:
        """Record that `stage` of `generation` finished, with its summary.

        The flow calls this with the result a task returned, i.e. after Prefect stored
        that result, never from inside the task: a kill in between leaves the stage
        unmarked, and the next run's Cached task marks it. So the manifest never claims
        a stage that Prefect would run again.
        """
        with self._manifest_update() as manifest:
            gens = manifest.setdefault("generations", {})
            gens.setdefault(gen_name(generation), {})[stage] = {
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "summary": summary,
            }

    def record_identity(self, generation: int, stage: str, identity: str) -> str | None:
        """Record what the stage's outputs are being made from; return what was recorded before."""
        with self._manifest_update() as manifest:
            made = manifest.setdefault("made_from", {}).setdefault(gen_name(generation), {})
            previous = made.get(stage)
            made[stage] = identity
        return previous

    def recorded_identity(self, generation: int, stage: str) -> str | None:
        return self.read_manifest().get("made_from", {}).get(gen_name(generation), {}).get(stage)

    def clear_pins(self, after: int) -> None:
        """Forget the pinned inputs of generations after `after` (their history changed)."""
        with self._manifest_update() as manifest:
            pins = manifest.get("inputs", {})
            for name in [n for n in pins if int(n.split("-")[1]) > after]:
                del pins[name]

    def pinned(self, generation: int, key: str, value: Callable[[], str]) -> str:
        """The value recorded for `key` in `generation`, recording `value()` the first time.

        A generation's inputs (which model it plays with, which model it must beat) have
        to be the same when a run is resumed or repeated, even after later generations
        have moved the best-model pointer; otherwise resumed stages would miss their
        cache and, worse, a generation could be evaluated against itself.
        """
        with self._manifest_update() as manifest:
            inputs = manifest.setdefault("inputs", {}).setdefault(gen_name(generation), {})
            if key not in inputs:
                inputs[key] = value()
            return str(inputs[key])

    def clear_stage(self, generation: int, stage: str) -> None:
        with self._manifest_update() as manifest:
            manifest.get("generations", {}).get(gen_name(generation), {}).pop(stage, None)

    def finished_stages(self, generation: int) -> dict[str, Any]:
        return self.read_manifest().get("generations", {}).get(gen_name(generation), {})

    def generations_done(self) -> list[int]:
        """Generations whose every stage finished, ascending."""
        done = []
        for name, stages in self.read_manifest().get("generations", {}).items():
            if all(s in stages for s in ("train",)):
                done.append(int(name.split("-")[1]))
        return sorted(done)
