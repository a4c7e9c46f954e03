"""Exact solver for small Hex boards. Imports only `zeroloop.games` (and numpy)."""

from zeroloop.solver.search import Budget, Solver, SolveResult, position_after, solve

__all__ = ["Budget", "SolveResult", "Solver", "position_after", "solve"]
