"""Render the config reference (docs/config.md) from the pydantic models themselves,
so the documentation cannot drift from the code (a test compares the two)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from zeroloop.config.root import ZeroloopConfig

HEADER = """\
# Config reference

Generated from the pydantic models by `zeroloop config reference > docs/config.md`;
a test fails when this file and the code disagree.

A config is a YAML file of sections, or the name of a preset shipped in the package
(`quick`, `default`, `sl`; `configs/` links to them, and `zeroloop init DIR --preset
NAME` writes an editable copy). Relative paths in a file are taken from the file's
folder. Every key is optional; unknown keys are errors. Override any key on the
command line with `--set SECTION.KEY=VALUE`
(the value is YAML: `--set mcts.temperature='[[0, 1.0], [0.5, 0.1]]'`).
`zeroloop config show FILE` prints the fully resolved config; `zeroloop config validate
FILE` checks one. Changing a `game` key or a model architecture key in an existing
run directory is refused; the model's training-only keys (`dropout_rate`, the norm
momenta and clips, `virtual_batch_size`) may change (see docs/orchestration.md).
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    return json.dumps(value, default=str)


def _type(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("|", "\\|")


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for name, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(meta, name, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _section(lines: list[str], prefix: str, model: type[BaseModel], level: int) -> None:
    """Append one section's table, then its nested sub-sections (e.g. `data.window`)."""
    lines += [f"{'#' * level} `{prefix}`", ""]
    doc = (model.__doc__ or "").strip().splitlines()
    if doc:
        lines += [doc[0], ""]
    nested: list[tuple[str, type[BaseModel]]] = []
    rows = []
    for key, field in model.model_fields.items():
        if _is_section(field.annotation):
            nested.append((f"{prefix}.{key}", field.annotation))  # type: ignore[arg-type]
            continue
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{prefix}.{key}` | {_type(field)} | `{_default(field)}` | {_constraints(field)} | {desc} |"
        )
    if rows:
        lines += [
            "| key | type | default | allowed | meaning |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    for sub_prefix, sub_model in nested:
        _section(lines, sub_prefix, sub_model, level + 1)


def render_reference() -> str:
    lines = [HEADER]
    for name, section_field in ZeroloopConfig.model_fields.items():
        if _is_section(section_field.annotation):
            _section(lines, name, section_field.annotation, 2)  # type: ignore[arg-type]
        else:
            lines += [
                f"- `{name}` ({_type(section_field)}, default {_default(section_field)}): "
                f"{section_field.description or ''}",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"
