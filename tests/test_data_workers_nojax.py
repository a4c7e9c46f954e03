"""The data stages' worker processes do numpy work and must not pay for importing JAX.

A forkserver worker imports the modules of the task it runs, and the forkserver
itself preloads the main module (the `zeroloop` command): if either chain imports
JAX, every pool costs seconds of start-up (3,000 games took 8.3 s with 2 workers
against 0.36 s with 1).
"""

from __future__ import annotations

import subprocess
import sys

WORKER_MODULES = [
    "zeroloop.data.preprocess_tasks",
    "zeroloop.data.shuffle_tasks",
    "zeroloop.data.preprocess",
    "zeroloop.data.shuffle",
    "zeroloop.data.executor",
    "zeroloop.games.board",
    "zeroloop.games.trmph",
    "zeroloop.cli",  # the forkserver's preloaded __main__ when run as `zeroloop ...`
]


def test_worker_modules_import_without_jax() -> None:
    # One fresh interpreter, modules in turn: the first one that pulls JAX is named.
    code = (
        "import importlib, sys\n"
        f"for m in {WORKER_MODULES!r}:\n"
        "    importlib.import_module(m)\n"
        "    bad = [x for x in ('jax', 'flax', 'optax') if x in sys.modules]\n"
        "    if bad:\n"
        "        print(m, 'imports', bad); break\n"
        "else:\n"
        "    print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok", res.stdout


def test_games_package_still_exports_the_environment() -> None:
    from zeroloop.games import Hex, HexState
    from zeroloop.games.hex import neighbour_table, transpose_permutation

    assert Hex(5).num_cells == 25
    assert HexState._fields[0] == "labels"
    assert neighbour_table(3).shape == (9, 6)
    assert list(transpose_permutation(2)) == [0, 2, 1, 3, 4]


def _square(x: int) -> int:
    return x * x


def _pid_after(seconds: float) -> int:
    """Busy for `seconds` of CPU time (the pool's threshold counts CPU, not sleep)."""
    import os
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return os.getpid()


def test_small_jobs_stay_inline_and_large_ones_move_to_a_pool() -> None:
    import os

    from zeroloop.data.executor import AdaptiveExecutor, worker_pool

    with worker_pool(2) as pool:
        assert [pool.submit(_square, i).result() for i in range(5)] == [0, 1, 4, 9, 16]
        assert isinstance(pool, AdaptiveExecutor) and not pool.started_pool
    with worker_pool(2, inline_seconds=0.3) as pool:
        pids = [pool.submit(_pid_after, 0.2).result() for _ in range(4)]
        assert isinstance(pool, AdaptiveExecutor) and pool.started_pool
    # the first tasks ran here until 0.3 s were spent, the rest in worker processes
    assert pids[:2] == [os.getpid()] * 2 and os.getpid() not in pids[2:]
    with worker_pool(2, inline_seconds=0) as pool:
        futures = [pool.submit(_square, i) for i in range(5)]
        assert [f.result() for f in futures] == [0, 1, 4, 9, 16]
