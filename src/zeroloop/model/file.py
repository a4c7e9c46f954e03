"""The model file: weights + model config + game + metadata, one msgpack file.

msgpack (via flax.serialization) is parsed, never unpickled, so a model file from
elsewhere cannot run code. Files are written to a temporary name and renamed into
place, so a reader never sees half a model.

`weights_crc32` (8 hex digits) is the CRC-32 of the msgpack-serialised weight tree;
readers recompute it, so flipped bytes in the weights (which msgpack would happily
parse into other numbers) are a ModelFileError, not a silently different player.
Files written before the field existed are read without that check.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, serialization

from zeroloop.config.game import GameConfig
from zeroloop.config.model import ModelConfig
from zeroloop.model.network import PolicyValueNet, create_model

FORMAT = "zeroloop-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, unreadable or does not match the expected structure."""


@dataclass(frozen=True)
class ModelFile:
    """What a model file holds besides the weights."""

    model_config: ModelConfig
    game: GameConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def save_model_file(
    path: str | os.PathLike[str],
    model: PolicyValueNet,
    game: GameConfig,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write `model` (its current weights and batch-norm statistics) to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = nnx.to_pure_dict(nnx.state(model, nnx.Not(nnx.RngState)))
    weights = jax.tree.map(np.asarray, state)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": json.dumps(model.config.model_dump(mode="json")),
        "game": json.dumps(game.model_dump(mode="json")),
        "metadata": json.dumps(metadata or {}, default=str),
        "weights": weights,
        "weights_crc32": _weights_crc(weights),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialization.msgpack_serialize(payload))
    os.replace(tmp, path)
    return path


def _weights_crc(weights: Any) -> str:
    return f"{zlib.crc32(serialization.msgpack_serialize(weights)):08x}"


def read_model_header(path: str | os.PathLike[str]) -> tuple[ModelFile, dict[str, Any]]:
    """Parse a model file: (header, raw weight tree). Raises ModelFileError."""
    path = Path(path)
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except Exception as exc:  # msgpack raises several types for garbage
        raise ModelFileError(f"{path}: not a zeroloop model file ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a zeroloop model file (no '{FORMAT}' header)")
    if payload.get("version") != VERSION:
        raise ModelFileError(
            f"{path}: model file version {payload.get('version')} is not supported "
            f"(this zeroloop reads version {VERSION})"
        )
    stored = payload.get("weights_crc32")
    if stored is not None:
        try:
            actual = _weights_crc(payload.get("weights"))
        except Exception as exc:  # a damaged tree may not even serialise again
            raise ModelFileError(f"{path}: damaged model file (weights unreadable: {exc})") from None
        if actual != stored:
            raise ModelFileError(
                f"{path}: damaged model file (weights checksum mismatch: stored {stored}, content {actual})"
            )
    try:
        header = ModelFile(
            model_config=ModelConfig.model_validate(json.loads(payload["model_config"])),
            game=GameConfig.model_validate(json.loads(payload["game"])),
            metadata=json.loads(payload["metadata"]),
        )
    except Exception as exc:
        raise ModelFileError(f"{path}: bad model file header: {exc}") from None
    return header, payload["weights"]


def load_model_file(path: str | os.PathLike[str]) -> tuple[PolicyValueNet, ModelFile]:
    """Build the network the file describes and load its weights into it.

    The model comes back in eval mode (batch-norm running statistics, no dropout):
    a model file is for playing; call `model.train()` to change that.
    """
    header, weights = read_model_header(path)
    model = create_model(header.model_config)
    load_weights_into(model, weights, source=str(path))
    model.eval()
    return model, header


def load_weights_into(model: PolicyValueNet, weights: dict[str, Any], source: str) -> None:
    """Replace `model`'s weights by `weights`, refusing any difference in structure."""
    state = nnx.state(model, nnx.Not(nnx.RngState))
    expected = nnx.to_pure_dict(state)
    exp_leaves = dict(_leaf_items(expected))
    got_leaves = dict(_leaf_items(weights))
    missing = sorted(set(exp_leaves) - set(got_leaves))
    extra = sorted(set(got_leaves) - set(exp_leaves))
    shapes = [
        f"{k}: expected {exp_leaves[k].shape}, file has {np.shape(got_leaves[k])}"
        for k in sorted(set(exp_leaves) & set(got_leaves))
        if tuple(exp_leaves[k].shape) != tuple(np.shape(got_leaves[k]))
    ]
    if missing or extra or shapes:
        lines = [f"{source}: weights do not match the model config"]
        lines += [f"  missing: {k}" for k in missing[:10]]
        lines += [f"  unexpected: {k}" for k in extra[:10]]
        lines += [f"  shape {s}" for s in shapes[:10]]
        raise ModelFileError("\n".join(lines))
    # jnp (not numpy) arrays: msgpack's numpy buffers are read-only, and batch norm in
    # training mode updates its statistics in place.
    cast = jax.tree.map(lambda e, g: jnp.asarray(g, dtype=e.dtype), expected, _align(expected, weights))
    nnx.replace_by_pure_dict(state, cast)
    nnx.update(model, state)


def _leaf_items(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        out: list[tuple[str, Any]] = []
        for k, v in tree.items():
            out += _leaf_items(v, f"{prefix}{k}/")
        return out
    return [(prefix[:-1], tree)]


def _align(expected: Any, got: Any) -> Any:
    """msgpack turns int dict keys (list indices) into strings; follow `expected`'s keys."""
    if isinstance(expected, dict):
        return {k: _align(v, got[str(k)] if str(k) in got else got[k]) for k, v in expected.items()}
    return got
