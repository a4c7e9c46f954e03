"""Presets shipped inside the package, and where a config's relative paths point.

`--config quick` names a preset (`src/zeroloop/presets/quick.yaml`, read through
importlib.resources, so it works from any folder and from an installed wheel);
anything else is a path to a YAML file. `configs/*.yaml` in the repository are
symlinks to the package files, so there is one copy of each preset.

Paths written inside a config file (data.trmph_dirs, data.mix.existing_dirs, ...)
are relative to the folder of that file, not to the folder a command starts in:
a config and its data can then move together, and `zeroloop serve` or a Prefect
worker started elsewhere reads the same files.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any


class PresetError(ValueError):
    """A preset name that does not exist; the message lists the presets there are."""


def _presets_dir() -> Any:
    # A folder of data files in the zeroloop package (package-data in pyproject.toml).
    return resources.files("zeroloop") / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets, e.g. ['default', 'quick', 'sl']."""
    root = _presets_dir()
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def is_preset_name(spec: str | os.PathLike[str]) -> bool:
    """True for a bare preset name such as 'quick' (a path never is one)."""
    text = os.fspath(spec)
    return os.sep not in text and "/" not in text and text in preset_names()


def preset_text(name: str) -> str:
    """The YAML text of preset `name` (with its comments, for `zeroloop init`)."""
    if name not in preset_names():
        raise PresetError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    return (_presets_dir() / f"{name}.yaml").read_text()


def config_spec_for_another_process(spec: str | os.PathLike[str]) -> str:
    """A preset name as it is, a path made absolute: for flow runs started elsewhere."""
    return os.fspath(spec) if is_preset_name(spec) else str(Path(spec).absolute())


def _resolve(base: Path, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    return value if path.is_absolute() else os.path.normpath(base / path)


def resolve_relative_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the path-valued keys of a config file's raw mapping absolute against `base`.

    Only keys that name files or folders are touched: data.trmph_dirs,
    data.mix.existing_dirs, data.quarantine_dir, selfplay.compilation_cache_dir
    (unless 'auto') and the PATH of eval.references entries 'model:PATH[@SIMS]'.
    Values of the wrong type are left for validation to report.
    """
    base = base.absolute()
    data = raw.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("trmph_dirs"), list):
            data["trmph_dirs"] = [_resolve(base, v) for v in data["trmph_dirs"]]
        if "quarantine_dir" in data:
            data["quarantine_dir"] = _resolve(base, data["quarantine_dir"])
        mix = data.get("mix")
        if isinstance(mix, dict) and isinstance(mix.get("existing_dirs"), list):
            mix["existing_dirs"] = [_resolve(base, v) for v in mix["existing_dirs"]]
    selfplay = raw.get("selfplay")
    if isinstance(selfplay, dict) and selfplay.get("compilation_cache_dir") not in (None, "auto"):
        selfplay["compilation_cache_dir"] = _resolve(base, selfplay["compilation_cache_dir"])
    ev = raw.get("eval")
    if isinstance(ev, dict) and isinstance(ev.get("references"), list):
        ev["references"] = [_resolve_reference(base, v) for v in ev["references"]]
    return raw


def _resolve_reference(base: Path, spec: Any) -> Any:
    if not isinstance(spec, str) or not spec.startswith("model:"):
        return spec
    path, at, sims = spec[len("model:") :].rpartition("@") if "@" in spec else (spec[6:], "", "")
    return f"model:{_resolve(base, path)}{at}{sims}"
