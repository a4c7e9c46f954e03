"""Where a model came from: the data, parent model, config and code it was trained with.

KataGo's habit: a model file says what it was trained on, so a strange model can be
traced back to its shards and a result reproduced. `build_provenance` is called at
export and stored under the model file's `provenance` metadata key:

    {"shards": [{"path", "sha256", "rows"}, ...], "rows": total, "synthetic": bool,
     "parent": {"path", "sha256", "generation", "step"} | None,
     "config_sha256": str, "code": {"package": "0.1.0", "git_commit": str | None,
     "git_dirty": bool | None}}

`provenance_rows` and `shard_lines` print it for `zeroloop describe MODEL`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import zeroloop
from zeroloop.config.root import ZeroloopConfig
from zeroloop.data.shards import shard_rows
from zeroloop.data.sources import expand_shards
from zeroloop.model.file import read_model_header

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks so big shards stay cheap."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def shard_records(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """One {"path", "sha256", "rows"} per shard file under `paths` (files or directories)."""
    return [{"path": str(p), "sha256": file_sha256(p), "rows": shard_rows(p)} for p in expand_shards(paths)]


def config_sha256(config: ZeroloopConfig) -> str:
    """Hash of the whole resolved config (sorted JSON), to tell two trainings' settings apart."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The package version and, when the source is a git checkout, its commit and dirty flag."""
    out: dict[str, Any] = {"package": zeroloop.__version__, "git_commit": None, "git_dirty": None}
    src = Path(zeroloop.__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=src, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None  # no git on this machine
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit:
        out["git_commit"] = commit
        # Only the package's own files count: other people's scratch files are not the code.
        status = git("status", "--porcelain", "--untracked-files=no", "--", ".")
        out["git_dirty"] = bool(status) if status is not None else None
    return out


def parent_record(init_model: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The model training started from: its path, file hash and its own generation and step."""
    if init_model is None or not Path(init_model).is_file():
        return None
    header, _ = read_model_header(init_model)
    return {
        "path": str(init_model),
        "sha256": file_sha256(init_model),
        "generation": header.metadata.get("generation"),
        "step": header.metadata.get("step"),
    }


def build_provenance(
    config: ZeroloopConfig,
    train_shards: Sequence[str | os.PathLike[str]],
    init_model: str | os.PathLike[str] | None,
    synthetic: bool,
) -> dict[str, Any]:
    """The provenance record of a model trained on `train_shards` from `init_model`.

    synthetic: True when the batches were random (trainer.synthetic), not read from shards.
    """
    shards = [] if synthetic else shard_records(train_shards)
    return {
        "shards": shards,
        "rows": sum(s["rows"] for s in shards),
        "synthetic": synthetic,
        "parent": parent_record(init_model),
        "config_sha256": config_sha256(config),
        "code": code_version(),
    }


def provenance_rows(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A model file's metadata as (field, value) rows: generation, step, then provenance."""
    rows = [(k, str(meta[k])) for k in ("generation", "step", "start_step", "weights") if k in meta]
    prov = meta.get("provenance")
    if not isinstance(prov, Mapping):
        trained = meta.get("trained_on") or []
        rows.append(("provenance", "none recorded (model exported before provenance was kept)"))
        rows += [("trained_on", str(p)) for p in trained]
        return rows
    code = prov.get("code") or {}
    commit = code.get("git_commit")
    version = str(code.get("package"))
    if commit:
        version += f" (git {commit[:12]}{', uncommitted changes' if code.get('git_dirty') else ''})"
    rows += [
        ("code", version),
        ("config sha256", str(prov.get("config_sha256"))),
        ("synthetic data", "yes" if prov.get("synthetic") else "no"),
    ]
    parent = prov.get("parent")
    if parent:
        rows.append(
            (
                "parent model",
                f"{parent['path']} (generation {parent.get('generation')}, step {parent.get('step')}, "
                f"sha256 {str(parent.get('sha256'))[:16]})",
            )
        )
    else:
        rows.append(("parent model", "none (random initial weights)"))
    shards = prov.get("shards") or []
    rows.append(("shards", f"{len(shards)} shards, {int(prov.get('rows', 0)):,} rows"))
    return rows


def shard_lines(meta: Mapping[str, Any]) -> list[str]:
    """One `sha256  rows  path` line per shard of a model file's provenance (full hashes)."""
    prov = meta.get("provenance")
    shards = prov.get("shards") or [] if isinstance(prov, Mapping) else []
    return [f"{s['sha256']}  {s['rows']:>10,} rows  {s['path']}" for s in shards]
