"""`--force STAGE[@GEN]`: which (generation, stage) pairs a forced rerun redoes (pure).

Forcing a stage redoes it and invalidates everything that was built on it: the later
stages of the same generation and every stage of the later generations (each
generation plays with, trains from and is judged against the models before it).
Without @GEN the stage is forced in every generation, which is the same as forcing it
from generation 1 on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The order of a generation's stages; a forced stage invalidates those after it.
STAGE_ORDER: tuple[str, ...] = ("selfplay", "preprocess", "shuffle", "train", "evaluate", "promote")
FORCEABLE: tuple[str, ...] = STAGE_ORDER

_SPEC = re.compile(r"(?P<stage>[a-z-]+)(?:@(?P<gen>.*))?")


@dataclass(frozen=True)
class ForceSpec:
    """One `STAGE[@GEN]`: generation None means every generation (from 1 on)."""

    stage: str
    generation: int | None = None

    @property
    def first_generation(self) -> int:
        return self.generation or 1


def parse_force(specs: Iterable[str] | None) -> list[ForceSpec]:
    """Parse `--force` values; ValueError with a one-line message for a bad one."""
    out = []
    for raw in specs or []:
        m = _SPEC.fullmatch(raw.strip())
        stage = m.group("stage") if m else raw
        if not m or stage not in FORCEABLE:
            raise ValueError(f"--force {raw!r}: unknown stage {stage!r}; choose from {', '.join(FORCEABLE)}")
        gen = m.group("gen")
        if gen is None:
            out.append(ForceSpec(stage))
            continue
        if not gen.isdigit() or int(gen) < 1:
            raise ValueError(f"--force {raw!r}: GEN must be a generation number >= 1 (e.g. {stage}@2)")
        out.append(ForceSpec(stage, int(gen)))
    return out


@dataclass(frozen=True)
class ForcePlan:
    """The union of the forced specs' effects."""

    specs: Sequence[ForceSpec] = ()

    def forces(self, generation: int, stage: str) -> bool:
        """Is `stage` of `generation` forced, directly or as a later stage of a forced one?"""
        i = STAGE_ORDER.index(stage)
        return any(
            generation > s.first_generation
            or (generation == s.first_generation and i >= STAGE_ORDER.index(s.stage))
            for s in self.specs
        )

    def repins(self, generation: int) -> bool:
        """Must `generation` choose its best model again (an earlier generation is redone)?"""
        return any(generation > s.first_generation for s in self.specs)
