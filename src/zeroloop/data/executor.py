"""A process pool, or the calling process when one worker is asked for.

One worker runs tasks inline: no fork, simple tracebacks, and the tests stay cheap on
small machines. More workers use a ProcessPoolExecutor: forked when this process runs
a single thread (workers inherit imported modules instead of importing JAX again), a
forkserver otherwise, because forking a process whose other threads hold locks (a
loader's prefetch thread, or JAX's runtime once a backend is up - its threads are not
Python threads) can deadlock the child.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any


class InlineExecutor(Executor):
    """Runs each task at submit time; the returned future is already done."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller via the future
            fut.set_exception(exc)
        return fut


def _jax_running() -> bool:
    """Has this process started a JAX backend (and with it, JAX's own threads)?"""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without the helper: assume it runs
        return True


@contextlib.contextmanager
def worker_pool(max_workers: int) -> Iterator[Executor]:
    """An executor with `max_workers` processes (inline when 1)."""
    if max_workers <= 1:
        yield InlineExecutor()
        return
    safe = threading.active_count() == 1 and not _jax_running() and "fork" in mp.get_all_start_methods()
    method = "fork" if safe else "forkserver"
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=mp.get_context(method)) as pool:
        yield pool
