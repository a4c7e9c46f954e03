"""Dashboard artifacts: live progress per stage, summary tables, per-generation notes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)


def artifact_key(*parts: object) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


class StageProgress:
    """A progress artifact updated as a stage goes; at most one API call per `interval` s."""

    def __init__(self, stage: str, generation: int, interval: float = 2.0) -> None:
        self.description = f"{stage}, generation {generation}"
        self.interval = interval
        self._last = 0.0
        self._id: UUID | None = create_progress_artifact(
            0.0, key=artifact_key(stage, "progress"), description=self.description
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


def summary_table(stage: str, generation: int, summary: dict[str, Any]) -> None:
    """One table artifact per stage and generation, flat key/value rows."""
    rows = [{"metric": k, "value": _short(v)} for k, v in _flatten(summary).items()]
    create_table_artifact(
        rows,
        key=artifact_key(stage, "gen", generation),
        description=f"{stage} summary, generation {generation}",
    )


def ladder_artifact(run_dir: Any) -> None:
    """The run's Elo ladder as a table artifact (key `elo-ladder`), newest version on top."""
    from zeroloop.evaluation.ladder import ladder_rows, load_ladder

    rows = [{k: _short(v) for k, v in row.items()} for row in ladder_rows(load_ladder(run_dir))]
    if rows:
        create_table_artifact(rows, key="elo-ladder", description="Elo ladder of the run")


def generation_note(generation: int, markdown: str) -> None:
    create_markdown_artifact(
        markdown, key=artifact_key("generation", generation), description=f"generation {generation}"
    )


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
