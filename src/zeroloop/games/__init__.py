"""Hex rules (JAX env and numpy helpers) and the TRMPH format. Imports nothing else of ours.

The JAX environment is loaded on first use of `Hex`/`HexState` (PEP 562), so that
`zeroloop.games.board`, `.trmph` and `.geometry` - what the data workers use - come
without importing JAX.
"""

from __future__ import annotations

from typing import Any

from zeroloop.games.geometry import BLACK, NO_WINNER, NUM_OBS_PLANES, WHITE

__all__ = ["BLACK", "NO_WINNER", "NUM_OBS_PLANES", "WHITE", "Hex", "HexState"]


def __getattr__(name: str) -> Any:
    if name in ("Hex", "HexState"):
        from zeroloop.games import hex as _hex

        return getattr(_hex, name)
    raise AttributeError(f"module 'zeroloop.games' has no attribute {name!r}")
