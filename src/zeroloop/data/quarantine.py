"""Move bad input files aside, with a note saying why, so a stage can go on.

A corrupt file left in an input directory would fail every later run the same way;
deleting it would lose evidence. Quarantine keeps the file, out of the scanners' way,
next to a `<name>.reason.txt` that says where it came from and what was wrong.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from zeroloop.data.atomic import write_text_atomic

QUARANTINE_DIR = "quarantine"
REASON_SUFFIX = ".reason.txt"


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


def quarantine_file(
    path: str | os.PathLike[str], reason: str, quarantine_dir: str | os.PathLike[str]
) -> QuarantinedFile:
    """Move `path` into `quarantine_dir` and write `<name>.reason.txt` beside it.

    The reason file is written first, so a crash between the two steps leaves a note
    (harmless) rather than an unexplained file. If the file cannot be moved (read-only
    source, vanished meanwhile) it stays where it is and the note says so; the caller
    still reports it and skips it.
    """
    src = Path(path)
    qdir = Path(quarantine_dir)
    qdir.mkdir(parents=True, exist_ok=True)
    dest = _free_name(qdir, src.name)
    note = f"source: {src}\nreason: {reason}\ntime: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
    write_text_atomic(dest.with_name(dest.name + REASON_SUFFIX), note)
    try:
        shutil.move(str(src), str(dest))
    except OSError as exc:
        write_text_atomic(dest.with_name(dest.name + REASON_SUFFIX), note + f"not moved: {exc}\n")
        return QuarantinedFile(str(src), "", reason)
    return QuarantinedFile(str(src), str(dest), reason)
