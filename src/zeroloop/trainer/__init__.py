"""The JAX trainer: losses, optimizer, schedules, the training loop, checkpoints, export.

Imports JAX, Flax, Optax, Orbax and numpy only (no Prefect, no Ray), so it runs on
a machine that has only JAX, e.g. a GPU box. Submodules are imported on demand.
"""
