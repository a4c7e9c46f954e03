"""Base class shared by every config section: strict, frozen, documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated on assignment.

    Sections are frozen so that a resolved config can be hashed into cache keys and
    compared between runs without anyone mutating it behind the orchestrator's back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
