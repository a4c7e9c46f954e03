"""A process pool, or the calling process when one worker is asked for.

One worker runs tasks inline: no fork, simple tracebacks, and the tests stay cheap on
small machines. More workers use a ProcessPoolExecutor (fork on Linux, so workers
inherit imported modules instead of importing JAX again).
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def worker_pool(max_workers: int) -> Iterator[Executor]:
    """An executor with `max_workers` processes (inline when 1)."""
    if max_workers <= 1:
        yield InlineExecutor()
        return
    with ProcessPoolExecutor(max_workers=max_workers) as pool:
        yield pool
