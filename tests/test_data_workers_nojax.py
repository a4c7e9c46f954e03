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
