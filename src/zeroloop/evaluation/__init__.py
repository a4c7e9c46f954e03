"""Evaluation: the arena and gating, win-rate and Elo statistics, the Elo ladder,
reference opponents (random, OpenSpiel MCTS), our model as an agent, GTP and play.

Submodules are imported where used: the GTP engine and the ladder should not pay for
JAX or OpenSpiel unless they need them.
"""
