"""Set bad input files aside, with a note saying why, so a stage can go on.

A corrupt file left in a run's data directory would be read (and fail) again by every
later stage; deleting it would lose evidence. Quarantine keeps the file, out of the
scanners' way, next to a `<name>.reason.txt` that says where it came from and what
was wrong.

Only files the pipeline wrote are moved: those under a run directory's `selfplay/`,
`positions/` or `shuffled/` folders (a run directory is one holding `config.yaml`),
and a stage's own `_intermediate/` files. A user's own input file is never moved or
deleted: it gets the reason note only (`moved_to` is empty), and is skipped again,
and noted again in the same note, by every rerun.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from zeroloop.data.atomic import write_text_atomic
from zeroloop.data.sources import INTERMEDIATE_DIR

QUARANTINE_DIR = "quarantine"
REASON_SUFFIX = ".reason.txt"
RUN_MARKER = "config.yaml"
PIPELINE_DIRS = frozenset({"selfplay", "positions", "shuffled"})


def pipeline_owned(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a file the pipeline wrote (and so may be moved); see the module doc."""
    p = Path(path).resolve()
    if INTERMEDIATE_DIR in p.parts[:-1]:
        return True
    for parent in p.parents:
        if (parent / RUN_MARKER).is_file():
            return p.parts[len(parent.parts)] in PIPELINE_DIRS
    return False


@dataclass(frozen=True)
class QuarantinedFile:
    """A file moved to quarantine: where it was, where it is now, and why."""

    source: str
    moved_to: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "moved_to": self.moved_to, "reason": self.reason}


def _free_name(directory: Path, name: str) -> Path:
    """`directory/name`, or `name.1`, `name.2`, ... if taken (two runs may quarantine twins)."""
    candidate = directory / name
    k = 0
    while candidate.exists() or candidate.with_name(candidate.name + REASON_SUFFIX).exists():
        k += 1
        candidate = directory / f"{name}.{k}"
    return candidate


def _note_for(qdir: Path, src: Path) -> Path | None:
    """An existing note (of a file left in place) about `src`, to update rather than repeat."""
    first = f"source: {src}\n"
    for note in qdir.glob(f"{src.name}*{REASON_SUFFIX}"):
        try:
            text = note.read_text()
        except OSError:
            continue
        if text.startswith(first) and "\nnot moved: " in text:
            return note
    return None


def quarantine_file(
    path: str | os.PathLike[str],
    reason: str,
    quarantine_dir: str | os.PathLike[str],
    move: bool | None = None,
) -> QuarantinedFile:
    """Set `path` aside: write `<name>.reason.txt` in `quarantine_dir`, and move the file
    there when the pipeline wrote it (`move`, default `pipeline_owned(path)`).

    The reason file is written first, so a crash between the two steps leaves a note
    (harmless) rather than an unexplained file. If the file cannot be moved (read-only
    source, vanished meanwhile) it stays where it is and the note says so; the caller
    still reports it and skips it.
    """
    src = Path(path)
    qdir = Path(quarantine_dir)
    qdir.mkdir(parents=True, exist_ok=True)
    move = pipeline_owned(src) if move is None else move
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    note = f"source: {src}\nreason: {reason}\ntime: {when}\n"
    if not move:
        free = _free_name(qdir, src.name)
        kept = _note_for(qdir, src) or free.with_name(free.name + REASON_SUFFIX)
        write_text_atomic(kept, note + "not moved: not a file the pipeline wrote (inputs are never moved)\n")
        return QuarantinedFile(str(src), "", reason)
    dest = _free_name(qdir, src.name)
    write_text_atomic(dest.with_name(dest.name + REASON_SUFFIX), note)
    try:
        shutil.move(str(src), str(dest))
    except OSError as exc:
        write_text_atomic(dest.with_name(dest.name + REASON_SUFFIX), note + f"not moved: {exc}\n")
        return QuarantinedFile(str(src), "", reason)
    return QuarantinedFile(str(src), str(dest), reason)
