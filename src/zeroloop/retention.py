"""Disk retention for a run directory: what is kept of finished generations.

Applied by the loop after each generation when `data.cleanup` is on (with cleanup
off, everything stays, for debugging). For each kind of output the newest K
generations whose consumer stage finished keep it (`orchestration.retention`):

    kind          directory                        removable once        default K
    shuffled      shuffled/gen-N/                  train of gen N done   2
    checkpoints   checkpoints/gen-N/               train of gen N done   2
    intermediate  {positions,shuffled}/gen-N/_intermediate/
                                                   that stage done       0
    selfplay      selfplay/gen-N/                  preprocess done       None (all)

Models, position shards, eval results and the Elo ladder are never removed: the
best-model pointer, the training window and a rerun's plan (which model a generation
starts from, which positions form its window) are computed from them, so removing
them would change a finished generation's cache key on rerun.

Crash safety: a directory is first renamed to `<name>.removing` (atomic), recorded in
RUN_DIR/retention.json, then deleted; a kill in between leaves a `.removing`
directory that the next pass deletes. No Prefect or Ray here (status reads it too).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeroloop.config.orchestration import RetentionConfig
from zeroloop.data.atomic import write_json_atomic
from zeroloop.data.fingerprint import data_file_digests, path_fingerprint
from zeroloop.data.sources import INTERMEDIATE_DIR
from zeroloop.rundir import RunDir, gen_name

REMOVING = ".removing"
RECORD_FILE = "retention.json"
# Top-level run-directory entries reported by `disk_usage`, in pipeline order.
DISK_STAGES: tuple[str, ...] = (
    "selfplay",
    "positions",
    "shuffled",
    "checkpoints",
    "models",
    "eval",
    ".prefect",
)


@dataclass
class RetentionReport:
    """What one retention pass removed: run-relative paths and the bytes freed."""

    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"removed": list(self.removed), "bytes_freed": self.bytes_freed}


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (0 if it does not exist); links are not followed."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # a stage's temp file, gone meanwhile
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def disk_usage(rd: RunDir) -> dict[str, int]:
    """Bytes per stage directory of the run ({"selfplay": ..., ..., "other": ...})."""
    out = {name.lstrip("."): tree_bytes(rd.root / name) for name in DISK_STAGES}
    everything = tree_bytes(rd.root)
    out["other"] = max(everything - sum(out.values()), 0)
    return out


def _generations(parent: Path) -> list[int]:
    """Generation numbers of the gen-NNNN directories under `parent`, ascending."""
    if not parent.is_dir():
        return []
    gens = []
    for p in parent.iterdir():
        if p.is_dir() and p.name.startswith("gen-") and p.name[4:].isdigit():
            gens.append(int(p.name[4:]))
    return sorted(gens)


def _finished(rd: RunDir, generation: int, stage: str) -> bool:
    return stage in rd.finished_stages(generation)


def _candidates(rd: RunDir, policy: RetentionConfig, upto: int) -> list[Path]:
    """Directories the policy removes, oldest first (only generations <= upto)."""
    # (kind, parent dir, stage that must have finished, sub-directory or None)
    # Intermediate directories first: they may sit inside a directory removed later.
    kinds: list[tuple[int | None, Path, str, str | None]] = [
        (policy.intermediate, rd.root / "positions", "preprocess", INTERMEDIATE_DIR),
        (policy.intermediate, rd.root / "shuffled", "shuffle", INTERMEDIATE_DIR),
        (policy.shuffled, rd.root / "shuffled", "train", None),
        (policy.checkpoints, rd.root / "checkpoints", "train", None),
        (policy.selfplay, rd.root / "selfplay", "preprocess", None),
    ]
    out: list[Path] = []
    for keep, parent, stage, sub in kinds:
        if keep is None:
            continue
        done = [
            g
            for g in _generations(parent)
            if g <= upto
            and _finished(rd, g, stage)
            and (sub is None or (parent / gen_name(g) / sub).exists())
        ]
        old = done[: max(len(done) - keep, 0)]
        out += [parent / gen_name(g) / sub if sub else parent / gen_name(g) for g in old]
    return out


def _remove(path: Path) -> None:
    """Rename out of the way (atomic), then delete: a reader never sees half a directory."""
    doomed = path.with_name(path.name + REMOVING)
    if doomed.exists():
        shutil.rmtree(doomed)
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def _leftovers(rd: RunDir) -> list[Path]:
    """`.removing` directories a killed pass left behind."""
    found: list[Path] = []
    for parent in ("shuffled", "checkpoints", "selfplay", "positions"):
        base = rd.root / parent
        if base.is_dir():
            found += sorted(base.glob(f"*{REMOVING}")) + sorted(base.glob(f"gen-*/*{REMOVING}"))
    return found


def apply_retention(rd: RunDir, policy: RetentionConfig, upto: int) -> RetentionReport:
    """Remove what `policy` does not keep among generations <= `upto`; record it.

    Safe to repeat: what is gone stays gone, a killed pass is finished by the next.
    """
    report = RetentionReport()
    for leftover in _leftovers(rd):
        report.bytes_freed += tree_bytes(leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    targets = _candidates(rd, policy, upto)
    if not targets:
        return report
    record_path = rd.root / RECORD_FILE
    record = read_record(rd)
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    for path in targets:
        size = tree_bytes(path)
        rel = str(path.relative_to(rd.root))
        # With its fingerprint: the cache keys of the stages that read it stay the same.
        record["removed"][rel] = {
            "at": now,
            "bytes": size,
            "fingerprint": path_fingerprint(path),
            "files": data_file_digests(path),
        }
        # Recorded before it goes, so a rerun knows the directory was removed on purpose.
        write_json_atomic(record_path, record)
        _remove(path)
        report.removed.append(rel)
        report.bytes_freed += size
    return report


def stable_fingerprint(rd: RunDir, path: str | os.PathLike[str]) -> str:
    """`path_fingerprint(path)`, or, for a path retention removed (or a data file inside
    one), the fingerprint it had when it went: a rerun's cache keys stay the same."""
    p = Path(path)
    if p.exists():
        return path_fingerprint(p)
    try:
        rel = p.absolute().relative_to(rd.root.absolute())
    except ValueError:
        return path_fingerprint(p)
    removed = read_record(rd)["removed"]
    for ancestor in [rel, *rel.parents]:
        entry = removed.get(str(ancestor))
        if not entry or "fingerprint" not in entry:
            continue
        if ancestor == rel:
            return str(entry["fingerprint"])
        digest = entry.get("files", {}).get(str(rel.relative_to(ancestor)))
        if digest:
            return str(digest)
    return path_fingerprint(p)


def stable_fingerprints(rd: RunDir, paths: Sequence[str | os.PathLike[str]]) -> dict[str, str]:
    """{path: stable_fingerprint(rd, path)} for each input path."""
    return {str(p): stable_fingerprint(rd, p) for p in paths}


def read_record(rd: RunDir) -> dict[str, Any]:
    """RUN_DIR/retention.json: {"removed": {run-relative path: {"at", "bytes"}}}."""
    try:
        data = json.loads((rd.root / RECORD_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {"removed": {}}
    if not isinstance(data, dict) or not isinstance(data.get("removed"), dict):
        return {"removed": {}}
    return data
