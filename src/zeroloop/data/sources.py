"""Find input files: game chunks and TRMPH files (preprocess), position shards (shuffle).

Inputs are files or directories searched recursively. A `SourceProvider` remembers what
it has handed out, so calling `poll()` again returns only files that arrived since (the
lczero loader's `file_path_provider` stage, done by rescanning instead of inotify so it
also works on network file systems).

Never read: names starting with `.` or ending in `.tmp` (a writer's in-progress file,
renamed into place when complete), and the `quarantine/` and `_intermediate/` folders
that the data stages keep inside their own output directories.
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


def is_temporary(name: str) -> bool:
    """A file another process is still writing (or a stray leftover of one)."""
    return name.startswith(".") or name.endswith(".tmp")


def scan_files(inputs: Iterable[str | os.PathLike[str]], suffixes: Sequence[str]) -> list[Path]:
    """Every file under `inputs` whose name ends in one of `suffixes`, sorted by path.

    A file named directly is taken if it has a wanted suffix, whatever its directory.
    Sorting makes runs reproducible: the same inputs give the same order, the same
    dedupe winners and the same chunks. Missing inputs raise FileNotFoundError, because
    a typo in a path should not look like "no data".
    """
    found: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_file():
            if path.name.endswith(tuple(suffixes)) and not is_temporary(path.name):
                found.add(path)
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"input {path} does not exist")
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
            for name in files:
                if name.endswith(tuple(suffixes)) and not is_temporary(name):
                    found.add(Path(root) / name)
    return sorted(found)


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
    (and reported). Chunks come first so that dedupe keeps the richer record.
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

    def poll(self) -> list[Path]:
        """Files not handed out before, sorted by path."""
        new = [p for p in scan_files(self.inputs, self.suffixes) if p not in self._seen]
        self._seen.update(new)
        return new

    @property
    def seen(self) -> int:
        return len(self._seen)


def expand_shards(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Position shard files named by `paths` (files or directories), in the order given.

    Directories are expanded in sorted order. Unlike `scan_files`, the order of the
    arguments is kept: a window lists generations oldest first and mixing relies on it.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for item in paths:
        for p in scan_files([item], (POSITION_SHARD_SUFFIX,)):
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out
