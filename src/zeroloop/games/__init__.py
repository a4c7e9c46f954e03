"""Hex rules (JAX env and numpy helpers) and the TRMPH format. Imports nothing else of ours."""

from zeroloop.games.hex import BLACK, NO_WINNER, NUM_OBS_PLANES, WHITE, Hex, HexState

__all__ = ["BLACK", "NO_WINNER", "NUM_OBS_PLANES", "WHITE", "Hex", "HexState"]
