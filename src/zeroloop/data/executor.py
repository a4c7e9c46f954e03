"""A process pool, or the calling process when one worker is asked for.

One worker runs tasks inline: no fork, simple tracebacks, and the tests stay cheap on
small machines. More workers start inline too, and move to a process pool only once
the tasks run so far have taken `INLINE_SECONDS` of CPU time: starting workers costs about a
second (a process, and the imports of the task's module), which is more than a small
job takes (3,000 11x11 games preprocess in ~0.4 s on one core), so a small job never
pays for a pool and a large one loses at most that second.

The pool is a ProcessPoolExecutor: forked when this process runs a single thread
(workers inherit imported modules), a forkserver otherwise, because forking a process
whose other threads hold locks (a loader's prefetch thread, a progress bar, or JAX's
runtime once a backend is up - its threads are not Python threads) can deadlock the
child. A forkserver worker imports the task's module itself, which is why the data
stages' modules must not import JAX (tests/test_data_workers_nojax.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

# Seconds of inline work after which more tasks go to worker processes (see above).
INLINE_SECONDS = 1.0


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


def _process_pool(max_workers: int) -> ProcessPoolExecutor:
    safe = threading.active_count() == 1 and not _jax_running() and "fork" in mp.get_all_start_methods()
    method = "fork" if safe else "forkserver"
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=mp.get_context(method))


class AdaptiveExecutor(Executor):
    """Inline until the tasks have taken `inline_seconds` of CPU in all, then a process pool.

    Futures of inline tasks are done when `submit` returns; callers that wait on
    futures in submission order see the same results either way.
    """

    def __init__(self, max_workers: int, inline_seconds: float = INLINE_SECONDS) -> None:
        self.max_workers = max_workers
        self.inline_seconds = inline_seconds
        self.inline_spent = 0.0
        self.inline_tasks = 0
        self._inline = InlineExecutor()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started_pool(self) -> bool:
        return self._pool is not None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._pool is None and self.inline_spent < self.inline_seconds:
            # CPU seconds, not wall: on a loaded machine the wall time of the same work
            # grows while what a pool would save does not.
            t = time.process_time()
            fut = self._inline.submit(fn, *args, **kwargs)
            self.inline_spent += time.process_time() - t
            self.inline_tasks += 1
            return fut
        if self._pool is None:
            self._pool = _process_pool(self.max_workers)
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@contextlib.contextmanager
def worker_pool(max_workers: int, inline_seconds: float | None = None) -> Iterator[Executor]:
    """An executor with up to `max_workers` processes (inline when 1; see the module doc).

    inline_seconds: inline work before the pool starts (default INLINE_SECONDS, read at
    call time); 0 starts the pool at the first task.
    """
    if max_workers <= 1:
        yield InlineExecutor()
        return
    pool = AdaptiveExecutor(max_workers, INLINE_SECONDS if inline_seconds is None else inline_seconds)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True)
