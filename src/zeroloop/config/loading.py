"""Load configs from YAML, apply `--set key=value` overrides, and compare runs.

Errors always name the key, the value given and what is allowed, because a user
staring at a 200-line YAML file should not have to guess which line is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from zeroloop.config.model import TRAINING_KEYS
from zeroloop.config.presets import is_preset_name, preset_names, preset_text, resolve_relative_paths
from zeroloop.config.root import ZeroloopConfig

# Sections whose change makes old data, checkpoints or models meaningless for a run...
IDENTITY_KEYS: tuple[str, ...] = ("game.", "model.")
# ...except the model's training-only knobs (dropout, norm momenta): same weights.
MUTABLE_IDENTITY_KEYS: frozenset[str] = frozenset(f"model.{k}" for k in TRAINING_KEYS)


class ConfigError(ValueError):
    """A config could not be loaded; the message names the file, key and value."""


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        given = e.get("input")
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (given {given!r})")
            continue
        msg = e["msg"]
        allowed = e.get("ctx", {}).get("expected")
        detail = f"; allowed: {allowed}" if allowed and str(allowed) not in msg else ""
        given_text = "" if isinstance(given, dict) else f" (given {given!r})"
        lines.append(f"  {key}: {msg}{given_text}{detail}")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `train.batch_size=256` into (["train", "batch_size"], 256); the value is YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.batch_size=256")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: empty key part in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML: {exc}") from exc
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `raw` with each `KEY=VALUE` override set (nested by dots)."""
    result: dict[str, Any] = _deep_copy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in raw.items()}


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> ZeroloopConfig:
    try:
        return ZeroloopConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> ZeroloopConfig:
    """Load a YAML config (or the defaults when `path` is None) and apply overrides.

    `path` is a preset name ('quick', 'default', 'sl': shipped in the package) or a
    YAML file; relative paths inside a file are taken from the file's folder.
    """
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        base = Path(path).absolute().parent
        try:
            if is_preset_name(path):
                data, source = preset_text(os.fspath(path)).encode(), f"preset {os.fspath(path)}"
            else:
                data = Path(path).read_bytes()
        except OSError as exc:
            hint = "" if os.sep in str(path) else f" (and not a preset: {', '.join(preset_names())})"
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}{hint}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        except RecursionError:  # absurdly deep nesting ([[[[...)
            raise ConfigError(f"{path}: not a usable config: nested too deeply") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        raw = resolve_relative_paths(loaded, base)
    if overrides:
        raw = apply_overrides(raw, overrides)
        source += " with --set " + " ".join(overrides)
    return config_from_dict(raw, source)


def config_to_yaml(config: ZeroloopConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def flatten(config: ZeroloopConfig) -> dict[str, Any]:
    """{"train.batch_size": 256, ...} for every leaf value."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}{k}.", v)
        else:
            out[prefix[:-1]] = node

    walk("", config.model_dump(mode="json"))
    return out


def config_differences(
    old: ZeroloopConfig, new: ZeroloopConfig, prefixes: tuple[str, ...] | None = None
) -> list[tuple[str, Any, Any]]:
    """Keys (under `prefixes`, or all) whose values differ, as (key, old, new)."""
    a, b = flatten(old), flatten(new)
    keys = sorted(set(a) | set(b))
    diffs = [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]
    if prefixes is not None:
        diffs = [d for d in diffs if d[0].startswith(prefixes)]
    return diffs


def write_run_config(run_dir: str | os.PathLike[str], config: ZeroloopConfig) -> Path:
    """Freeze `config` into RUN_DIR/config.yaml, refusing a run whose identity differs.

    A run directory holds data, checkpoints and models made under one game and model
    definition; continuing it under another would silently mix incompatible files.
    Other differences (more games, more steps, and the model's training-only knobs
    such as dropout_rate, which leave the parameter tree as it is) are allowed and the
    file is updated.
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    path = run / "config.yaml"
    if path.exists():
        old = load_config(path)
        diffs = [
            d for d in config_differences(old, config, IDENTITY_KEYS) if d[0] not in MUTABLE_IDENTITY_KEYS
        ]
        if diffs:
            detail = "\n".join(f"  {k}: run has {o!r}, new config has {n!r}" for k, o, n in diffs)
            raise ConfigError(
                f"{path}: this run was started with a different game or model; "
                f"use a new run directory or restore these keys:\n{detail}"
            )
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(config_to_yaml(config))
    os.replace(tmp, path)
    return path
