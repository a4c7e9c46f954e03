"""JAX memory settings for processes that share one GPU (self-play actors and the trainer).

JAX preallocates 75% of a GPU in the first process that touches it, so a second
process on the same card runs out of memory. Processes sharing a card must each
turn preallocation off and cap their share: XLA_PYTHON_CLIENT_PREALLOCATE=false and
XLA_PYTHON_CLIENT_MEM_FRACTION, read once when JAX starts its GPU backend.
"""

from __future__ import annotations

import logging
import os

from zeroloop.config import ZeroloopConfig

log = logging.getLogger(__name__)

PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"
MEM_FRACTION = "XLA_PYTHON_CLIENT_MEM_FRACTION"


def shares_gpu(config: ZeroloopConfig) -> bool:
    """True when self-play actors take a fraction of a GPU (several per card)."""
    return 0 < config.selfplay.gpus_per_worker < 1


def actor_gpu_env(config: ZeroloopConfig) -> dict[str, str]:
    """Environment variables for one self-play actor (empty unless actors share a GPU).

    The actor's cap is `selfplay.gpu_memory_fraction`, by default 90% of its GPU share
    (0.9 x gpus_per_worker), leaving room for CUDA's own context per process.
    """
    if not shares_gpu(config):
        return {}
    sp = config.selfplay
    fraction = sp.gpu_memory_fraction if sp.gpu_memory_fraction is not None else 0.9 * sp.gpus_per_worker
    return {PREALLOCATE: "false", MEM_FRACTION: f"{fraction:.3f}"}


def share_gpu_in_this_process(config: ZeroloopConfig) -> None:
    """Let the driver (trainer, evaluation) share the GPU with the actors.

    Sets XLA_PYTHON_CLIENT_PREALLOCATE=false for this process when actors share a GPU
    and the user has not set it, so the trainer allocates what it uses instead of 75%
    of the card. It must run before JAX first touches a device; if that already
    happened, it says so instead.
    """
    if not shares_gpu(config) or PREALLOCATE in os.environ:
        return
    from jax._src import xla_bridge  # JAX has no public "backends started?" query

    if xla_bridge.backends_are_initialized():
        log.warning(
            "self-play actors share a GPU, but JAX already started in this process: "
            "set %s=false (and %s) before starting zeroloop so the trainer leaves them room",
            PREALLOCATE,
            MEM_FRACTION,
        )
        return
    os.environ[PREALLOCATE] = "false"
