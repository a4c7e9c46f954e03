"""Data parallelism over the local devices: a one-axis mesh, batch sharded, state replicated.

With `train.devices` devices the global batch of `train.batch_size` rows is split into
equal slices, one per device; parameters, optimizer state and averages are replicated.
XLA (GSPMD) inserts the all-reduces, so the losses, gradients and batch-norm statistics
are those of the whole batch: the step computes what one device would compute on the
same batch, up to the order of floating-point reductions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def select_devices(requested: int) -> list[jax.Device]:
    """The devices to train on: every local device (`requested` = 0) or the first `requested`.

    Raises ValueError naming `train.devices` when more are asked for than this process sees.
    """
    local = jax.local_devices()
    if requested == 0:
        return list(local)
    if requested > len(local):
        kinds = ", ".join(sorted({d.platform for d in local}))
        raise ValueError(
            f"train.devices={requested}: only {len(local)} local device(s) ({kinds}) are visible; "
            f"use train.devices=0 (all) or a number up to {len(local)}"
        )
    return list(local[:requested])


class DataParallel:
    """Placement of the training state (replicated) and of batches (split on axis 0).

    devices: the mesh's devices, in order. A batch whose row count does not divide by
    the device count (a last validation batch) is replicated instead: still correct,
    only not split.
    """

    def __init__(self, devices: list[jax.Device]) -> None:
        if not devices:
            raise ValueError("DataParallel needs at least one device")
        self.devices = devices
        self.mesh = Mesh(np.array(devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec(AXIS))

    @property
    def size(self) -> int:
        return len(self.devices)

    def check_batch_size(self, batch_size: int) -> None:
        """Refuse a training batch that cannot be split evenly (names the keys)."""
        if batch_size % self.size:
            raise ValueError(
                f"train.batch_size={batch_size} does not divide by the {self.size} training devices "
                f"(train.devices); use a multiple of {self.size}"
            )

    def put_state(self, tree: Any) -> Any:
        """`tree` (a TrainState or weights) replicated on every device."""
        return jax.device_put(tree, self.replicated)

    def put_batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """`batch` ({name: [B, ...] array}) split over the devices along B."""
        rows = {int(np.shape(v)[0]) for v in batch.values()}
        even = len(rows) == 1 and next(iter(rows)) % self.size == 0
        sharding = self.split if even else self.replicated
        return {k: jax.device_put(v, sharding) for k, v in batch.items()}

    def abstract(self, tree: Any) -> Any:
        """Shape/dtype structs of `tree` carrying the replicated sharding (Orbax restore targets)."""
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated), tree)
