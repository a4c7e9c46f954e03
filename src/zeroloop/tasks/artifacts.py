"""Dashboard artifacts: live progress per stage, summary tables, per-generation notes."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)


def artifact_key(*parts: object) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower())).strip(
        "-"
    )


def run_name(run_dir: str | os.PathLike[str]) -> str:
    """The run's name in artifact keys: its directory's name, slugified (`runs/My Run` -> `my-run`).

    Every key of a run starts with it, so two runs on one Prefect server do not
    overwrite each other's artifacts.
    """
    return artifact_key(Path(run_dir).resolve().name) or "run"


class StageProgress:
    """A progress artifact updated as a stage goes; at most one API call per `interval` s."""

    def __init__(self, stage: str, generation: int, interval: float = 2.0, run: str = "run") -> None:
        self.description = f"{run}: {stage}, generation {generation}"
        self.interval = interval
        self._last = 0.0
        self._id: UUID | None = create_progress_artifact(
            0.0, key=artifact_key(run, stage, "progress"), description=self.description
        )

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._id is None or (now - self._last < self.interval and done < total):
            return
        self._last = now
        pct = 100.0 * min(done, total) / max(total, 1)
        update_progress_artifact(self._id, pct, description=f"{self.description}: {done}/{total}")

    def finish(self) -> None:
        if self._id is not None:
            update_progress_artifact(self._id, 100.0, description=f"{self.description}: done")


def summary_table(stage: str, generation: int, summary: dict[str, Any], run: str = "run") -> None:
    """One table artifact per stage and generation (key `RUN-STAGE-gen-G`), flat key/value rows."""
    rows = [{"metric": k, "value": _short(v)} for k, v in _flatten(summary).items()]
    create_table_artifact(
        rows,
        key=artifact_key(run, stage, "gen", generation),
        description=f"{run}: {stage} summary, generation {generation}",
    )


def ladder_artifact(run_dir: Any) -> None:
    """The run's Elo ladder as a table artifact (key `RUN-elo-ladder`), newest version on top."""
    from zeroloop.evaluation.ladder import ladder_rows, load_ladder

    rows = [{k: _short(v) for k, v in row.items()} for row in ladder_rows(load_ladder(run_dir))]
    if rows:
        run = run_name(run_dir)
        create_table_artifact(rows, key=artifact_key(run, "elo-ladder"), description=f"{run}: Elo ladder")


def publish_generation(run_dir: str | os.PathLike[str], generation: int) -> list[str]:
    """The generation's note (`RUN-generation-G`) and the run's dashboard (`RUN-dashboard`).

    The note: each stage's results in a table, with units, and one sample game as an
    SVG board. The dashboard: charts of strength, losses and self-play over every
    generation so far, and a table row per generation; each generation adds a version.
    Returns the keys written.
    """
    from zeroloop.rundir import RunDir
    from zeroloop.tasks.dashboard import dashboard_markdown, generation_markdown

    rd, run = RunDir.at(run_dir), run_name(run_dir)
    keys = [artifact_key(run, "generation", generation), artifact_key(run, "dashboard")]
    try:
        note, board = generation_markdown(rd, run, generation), dashboard_markdown(rd, run)
    except Exception as exc:  # pictures must never fail a training run; say why and go on
        get_run_logger().warning("dashboard for generation %d not drawn: %r", generation, exc)
        return []
    create_markdown_artifact(note, key=keys[0], description=f"{run}: generation {generation}")
    create_markdown_artifact(board, key=keys[1], description=f"{run}: charts after generation {generation}")
    return keys


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}{k}.")
        elif not isinstance(v, list | tuple) or len(v) <= 8:
            out[f"{prefix}{k}"] = v
    return out


def _short(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    return v if isinstance(v, int | str | bool) or v is None else str(v)


ProgressFn = Callable[[int, int], None]
