"""Find input files: game chunks and TRMPH files (preprocess), position shards (shuffle).

Inputs are files or directories searched recursively. A `SourceProvider` remembers what
it has handed out, so calling `poll()` again returns only files that arrived since (the
lczero loader's `file_path_provider` stage, done by rescanning instead of inotify so it
also works on network file systems).

Never read: names starting with `.` or ending in `.tmp` (a writer's in-progress file,
renamed into place when complete), and the `quarantine/` and `_intermediate/` folders
that the data stages keep inside their own output directories. Any other file that is
not for the stage (a `.parquet`, a `.feather` where game chunks are read, a `.txt`) is
not read and not touched, but reported (`Skipped`), so "0 inputs" never hides a wrong
path; only bookkeeping files (`*.json`, `*.yaml`, `*.log`, `*.md`) pass unmentioned.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

GAME_CHUNK_SUFFIX = ".arrow"
TRMPH_SUFFIX = ".trmph"
POSITION_SHARD_SUFFIX = ".feather"
INTERMEDIATE_DIR = "_intermediate"
SKIP_DIRS = frozenset({"quarantine", INTERMEDIATE_DIR})
# Files the stages and people keep beside data; never reported as skipped inputs.
BOOKKEEPING_SUFFIXES = (".json", ".yaml", ".yml", ".log", ".md")
_KNOWN_KINDS = {
    ".parquet": "a Parquet file (zeroloop reads Arrow IPC; convert it, e.g. with pyarrow)",
    GAME_CHUNK_SUFFIX: "a game chunk",
    TRMPH_SUFFIX: "a TRMPH game file",
    POSITION_SHARD_SUFFIX: "a position shard",
}


class NoUsableInput(ValueError):
    """A stage found nothing it could use under its inputs (what it found is in the message)."""


@dataclass(frozen=True)
class Skipped:
    """A file under the inputs that this stage does not read, and why (it is left alone)."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": str(self.path), "reason": self.reason}


def describe(entry: dict[str, str]) -> str:
    """`PATH: reason` of a skipped or quarantined entry (reasons may already name the path)."""
    reason, source = entry["reason"], entry["source"]
    return reason if reason.startswith(source) else f"{source}: {reason}"


def _skip_reason(name: str, suffixes: Sequence[str]) -> str:
    suffix = Path(name).suffix.lower()
    kind = _KNOWN_KINDS.get(suffix, f"an unknown kind of file ({suffix or 'no suffix'})")
    return f"not an input of this stage: {kind}; expected {' or '.join(suffixes)}"


def _is_bookkeeping(name: str) -> bool:
    return name.lower().endswith(BOOKKEEPING_SUFFIXES) or name.endswith(".reason.txt")


def is_temporary(name: str) -> bool:
    """A file another process is still writing (or a stray leftover of one)."""
    return name.startswith(".") or name.endswith(".tmp")


def scan_inputs(
    inputs: Iterable[str | os.PathLike[str]], suffixes: Sequence[str]
) -> tuple[list[Path], list[Skipped]]:
    """(files under `inputs` whose name ends in one of `suffixes`, files passed over).

    Both sorted by path. A file named directly is taken if it has a wanted suffix,
    whatever its directory, and reported otherwise. Sorting makes runs reproducible:
    the same inputs give the same order, the same dedupe winners and the same chunks.
    Missing inputs raise FileNotFoundError, because a typo in a path should not look
    like "no data".
    """
    wanted = tuple(suffixes)
    found: set[Path] = set()
    skipped: dict[Path, Skipped] = {}

    def consider(path: Path) -> None:
        name = path.name
        if is_temporary(name):
            return
        if name.endswith(wanted):
            found.add(path)
        elif not _is_bookkeeping(name):
            skipped[path] = Skipped(path, _skip_reason(name, wanted))

    for item in inputs:
        path = Path(item)
        if path.is_file():
            consider(path)
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"input {path} does not exist")
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
            for name in files:
                consider(Path(root) / name)
    return sorted(found), [skipped[p] for p in sorted(skipped)]


def scan_files(inputs: Iterable[str | os.PathLike[str]], suffixes: Sequence[str]) -> list[Path]:
    """The wanted files of `scan_inputs` (the others are not reported)."""
    return scan_inputs(inputs, suffixes)[0]


@dataclass(frozen=True)
class Source:
    """One input file and how to read it: kind is "chunk" or "trmph"."""

    path: Path
    kind: str


def classify(paths: Iterable[Path]) -> tuple[list[Source], list[Path]]:
    """Split found files into sources to read and TRMPH companions to skip.

    Self-play writes `x.trmph` beside each chunk `x.arrow` with the same games, for
    people and other tools. Reading both would count every game twice and, worse, the
    TRMPH copy has no search targets; so a TRMPH file with a chunk beside it is skipped
    (and reported) - unless the chunk turns out damaged, when preprocess reads the twin
    instead (`companions` is what makes that possible). Chunks come first so that
    dedupe keeps the richer record.
    """
    paths = list(paths)
    chunk_stems = {p.with_suffix("") for p in paths if p.name.endswith(GAME_CHUNK_SUFFIX)}
    chunks = [Source(p, "chunk") for p in paths if p.name.endswith(GAME_CHUNK_SUFFIX)]
    trmph: list[Source] = []
    companions: list[Path] = []
    for p in paths:
        if p.name.endswith(TRMPH_SUFFIX):
            if p.with_suffix("") in chunk_stems:
                companions.append(p)
            else:
                trmph.append(Source(p, "trmph"))
    return chunks + trmph, companions


class SourceProvider:
    """Hands out input files once each; `poll()` rescans and returns only new ones.

    inputs:   files or directories (searched recursively).
    suffixes: the file kinds wanted, e.g. (".arrow", ".trmph") or (".feather",).
    """

    def __init__(self, inputs: Iterable[str | os.PathLike[str]], suffixes: Sequence[str]) -> None:
        self.inputs = [Path(p) for p in inputs]
        self.suffixes = tuple(suffixes)
        self._seen: set[Path] = set()
        self._skipped_seen: set[Path] = set()
        self.skipped: list[Skipped] = []  # files passed over so far, each listed once

    def poll(self) -> list[Path]:
        """Files not handed out before, sorted by path."""
        found, skipped = scan_inputs(self.inputs, self.suffixes)
        new = [p for p in found if p not in self._seen]
        self._seen.update(new)
        for s in skipped:
            if s.path not in self._skipped_seen:
                self._skipped_seen.add(s.path)
                self.skipped.append(s)
        return new

    @property
    def seen(self) -> int:
        return len(self._seen)


def expand_shards_reporting(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Skipped]]:
    """Position shard files named by `paths` (files or directories), in the order given,
    and the other files found there (not read; see `scan_inputs`).

    Directories are expanded in sorted order. Unlike `scan_files`, the order of the
    arguments is kept: a window lists generations oldest first and mixing relies on it.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    passed: list[Skipped] = []
    for item in paths:
        found, skipped = scan_inputs([item], (POSITION_SHARD_SUFFIX,))
        for p in found:
            if p not in seen:
                seen.add(p)
                out.append(p)
        for sk in skipped:
            if sk.path not in seen:
                seen.add(sk.path)
                passed.append(sk)
    return out, passed


def expand_shards(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The shards of `expand_shards_reporting` (the other files are not reported)."""
    return expand_shards_reporting(paths)[0]
