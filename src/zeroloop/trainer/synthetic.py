"""Synthetic training batches: for tests, benchmarks, `describe` and smoke runs.

Not a data loader: the positions are random stone patterns, not games. They have
the batch contract's keys, shapes and invariants (policy sums to 1 over legal moves,
owner in {-1, 0, 1}, z = sign of the value target) and a deterministic, resumable
order, which is what trainer tests need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def synthetic_batch(rng: np.random.Generator, batch_size: int, board_size: int) -> dict[str, np.ndarray]:
    """One batch of the contract in docs/architecture.md (obs float32 [B, N, N, 3], ...)."""
    b, n = batch_size, board_size
    cells = n * n
    fill = rng.uniform(0.0, 0.6, size=(b, 1))
    u = rng.uniform(size=(b, cells))
    board = np.where(u < fill / 2, 1, np.where(u < fill, -1, 0)).astype(np.int8)
    swap_legal = (board != 0).sum(axis=1) == 1
    legal = np.concatenate([board == 0, swap_legal[:, None]], axis=1)
    legal[~legal.any(axis=1), 0] = True  # a full board would leave no legal move
    logits = rng.normal(size=(b, cells + 1)) * 2.0
    policy = np.where(legal, np.exp(logits), 0.0)
    policy /= policy.sum(axis=1, keepdims=True)
    z = np.where(rng.uniform(size=b) < 0.5, 1.0, -1.0).astype(np.float32)
    q = np.clip(z * 0.5 + rng.normal(scale=0.3, size=b), -1, 1).astype(np.float32)
    owner = np.where(board != 0, board, rng.choice([-1, 0, 1], size=(b, cells))).astype(np.float32)
    obs = np.zeros((b, n, n, 3), np.float32)
    obs[..., 0] = (board == 1).reshape(b, n, n)
    obs[..., 1] = (board == -1).reshape(b, n, n)
    obs[..., 2] = swap_legal[:, None, None]
    return {
        "obs": obs,
        "policy": policy.astype(np.float32),
        "legal": legal,
        "value": z.copy(),
        "z": z,
        "q": q,
        "weight": np.ones(b, np.float32),
        "owner": owner.reshape(b, n, n),
    }


class SyntheticBatches:
    """An endless, resumable iterator of synthetic batches.

    Batch i is drawn from seed (seed, i), so `state_dict()` is just the index and a
    resumed iterator yields exactly the batches the uninterrupted one would have.
    `fixed=True` repeats batch 0 forever (for overfit checks).
    """

    # Read by run_training: an exported model records that it never saw real games.
    synthetic = True

    def __init__(self, batch_size: int, board_size: int, seed: int = 0, fixed: bool = False) -> None:
        self.batch_size = batch_size
        self.board_size = board_size
        self.seed = seed
        self.fixed = fixed
        self.index = 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        i = 0 if self.fixed else self.index
        self.index += 1
        return synthetic_batch(np.random.default_rng([self.seed, i]), self.batch_size, self.board_size)

    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.index = int(state["index"])
        self.seed = int(state["seed"])
