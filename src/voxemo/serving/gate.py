"""Bounded concurrency and queueing around model calls.

Model calls (decoding + the network) are CPU work: they run in a small thread pool so the event
loop keeps answering health checks, uploads and WebSocket frames. At most ``concurrency`` calls
run at once and at most ``queue_limit`` more may wait; anything beyond is refused at once with
:class:`ServiceBusy` (HTTP 503 + Retry-After) instead of piling up memory and latency.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ServiceBusy(Exception):
    """Every model slot is busy and the waiting queue is full."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"the server is busy (all model slots and the queue are full); retry in {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


class InferenceGate:
    """A semaphore of ``concurrency`` slots, a waiting line of ``queue_limit``, and a thread pool."""

    def __init__(self, concurrency: int, queue_limit: int, retry_after_s: int = 1) -> None:
        self.concurrency = concurrency
        self.queue_limit = queue_limit
        self.retry_after_s = retry_after_s
        self._admitted = 0
        self._running = 0
        self._executor: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> int:
        """Model calls executing now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Calls admitted but waiting for a slot."""
        return self._admitted - self._running

    def _semaphore(self) -> asyncio.Semaphore:
        # An asyncio semaphore belongs to one event loop; a test client may start a new loop.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Semaphore(self.concurrency), loop
        return self._slots

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="voxemo-inference")
        return self._executor

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Run ``func(*args)`` in the pool once a slot is free; ServiceBusy when the queue is full."""
        if self._admitted >= self.concurrency + self.queue_limit:
            raise ServiceBusy(self.retry_after_s)
        self._admitted += 1
        try:
            async with self._semaphore():
                self._running += 1
                try:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(self._pool(), functools.partial(func, *args))
                finally:
                    self._running -= 1
        finally:
            self._admitted -= 1

    def close(self) -> None:
        """Stop the pool (waits for calls in flight); a later call starts a new one."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
