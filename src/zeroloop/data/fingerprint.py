"""Content fingerprints of a stage's inputs: what a cache key needs to notice a change.

A path alone cannot tell a rerun that new games arrived in the same directory, so a
stage's cache key hashes what the path holds: for a file its bytes, for a directory the
sorted listing of (relative name, size, content hash) of its data files. Hashing is
blake2b over the bytes in 1 MiB blocks. The hash of each (path, size, mtime, inode)
seen is kept, in the process and, through `load_memo`/`save_memo`, in the run
directory, so a file is read once in a run's life, not once per rerun. That is safe
because the project never rewrites a data file in place: a new version is a new file
renamed into place, with a new inode and mtime.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

# Files that carry a stage's data: game chunks, TRMPH records, position shards, models.
DATA_SUFFIXES: tuple[str, ...] = (".arrow", ".trmph", ".feather", ".parquet", ".zlm")
_BLOCK = 1 << 20
_seen: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: Path) -> str:
    """blake2b-128 of the file's bytes (memoised per path, size, mtime and inode)."""
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if memo not in _seen:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
        _seen[memo] = h.hexdigest()
    return _seen[memo]


def _data_files(root: Path, suffixes: Sequence[str]) -> Iterable[Path]:
    """Data files under `root`, skipping hidden and `_private` entries (temporaries,
    a stage's `_intermediate/`) and `quarantine/` (files a stage set aside)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")) and d != "quarantine")
        for name in sorted(filenames):
            if not name.startswith((".", "_")) and name.endswith(tuple(suffixes)):
                yield Path(dirpath) / name


def path_fingerprint(path: str | os.PathLike[str], suffixes: Sequence[str] = DATA_SUFFIXES) -> str:
    """Fingerprint of one file or directory tree ('missing' when nothing is there).

    A directory's fingerprint covers the names (relative to it), sizes and content hashes
    of its data files, so adding, removing, renaming or rewriting one changes it, while
    its summary files, temporaries and modification times do not.
    """
    p = Path(path)
    if p.is_file():
        return file_digest(p)
    if not p.is_dir():
        return "missing"
    h = hashlib.blake2b(digest_size=16)
    for f in _data_files(p, suffixes):
        h.update(f"{f.relative_to(p)}\0{f.stat().st_size}\0{file_digest(f)}\n".encode())
    return h.hexdigest()


def data_file_digests(
    root: str | os.PathLike[str], suffixes: Sequence[str] = DATA_SUFFIXES
) -> dict[str, str]:
    """{name relative to `root`: file_digest} of the data files a directory fingerprint covers."""
    p = Path(root)
    return {str(f.relative_to(p)): file_digest(f) for f in _data_files(p, suffixes)} if p.is_dir() else {}


def load_memo(path: str | os.PathLike[str]) -> int:
    """Add the file hashes saved at `path` to this process's memo; returns how many."""
    try:
        rows = json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return 0  # no memo yet, or a damaged one: hash again
    for name, size, mtime, ino, digest in rows:
        _seen[(name, size, mtime, ino)] = digest
    return len(rows)


def forget() -> None:
    """Empty this process's memo (the next fingerprint reads every file again)."""
    _seen.clear()


def save_memo(path: str | os.PathLike[str]) -> None:
    """Save the memo's entries for files that still exist as they were (atomic)."""
    from zeroloop.data.atomic import write_text_atomic

    rows = []
    for (name, size, mtime, ino), digest in _seen.items():
        try:
            st = os.stat(name)
        except FileNotFoundError:
            continue
        if (st.st_size, st.st_mtime_ns, st.st_ino) == (size, mtime, ino):
            rows.append([name, size, mtime, ino, digest])
    write_text_atomic(path, json.dumps(rows))


def fingerprints(paths: Sequence[str | os.PathLike[str]]) -> dict[str, str]:
    """{path: path_fingerprint(path)} for each input path (order kept by the caller's list)."""
    return {str(p): path_fingerprint(p) for p in paths}
