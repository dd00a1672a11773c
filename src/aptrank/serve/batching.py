"""Dynamic batching: concurrent requests for one model and endpoint become one model call.

A :class:`Batcher` holds a bounded FIFO of jobs and one loop that, whenever the model is free,
takes the queued jobs (up to ``max_batch`` items: pairs, texts or queries; always at least one
job) and runs them in one call of ``run`` on the worker thread, off the event loop. Jobs that
arrive while the model is busy wait for the next call; a job that reaches an idle model waits
``wait_s`` for company first. With ``batching`` off every job is its own call.

A full queue refuses a job at once (:class:`QueueFull`, the server's 503 with Retry-After); a job
whose caller gave up (a timeout) is skipped when its turn comes; a failing call fails each job
of its batch with the same exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Called after every model call: (jobs, items, seconds).
BatchObserver = Callable[[int, int, float], None]


class QueueFull(Exception):
    """The queue is full; ``retry_after`` estimates the seconds until it has room."""

    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(f"{name}: the queue is full, retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Job:
    payload: Any
    size: int
    future: asyncio.Future[Any]


class Batcher:
    """Merges the jobs of one model and endpoint into model calls (see the module docstring)."""

    def __init__(
        self,
        name: str,
        run: Callable[[Sequence[Any]], Sequence[Any]],
        executor: Executor,
        *,
        max_batch: int = 512,
        wait_s: float = 0.002,
        queue_size: int = 256,
        batching: bool = True,
        on_batch: BatchObserver | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self._run = run
        self._executor = executor
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.queue_size = queue_size
        self.batching = batching
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._queue: deque[_Job] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._call_s = 0.05  # moving averages of a call's seconds and jobs, for Retry-After
        self._call_jobs = 1.0

    @property
    def depth(self) -> int:
        """Jobs waiting (not yet in a model call)."""
        return sum(not job.future.done() for job in self._queue)

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop; jobs still waiting fail (the server drains requests before this)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(RuntimeError(f"{self.name}: the server is shutting down"))

    async def submit(self, payload: Any, size: int = 1) -> Any:
        """Queue one job and wait for its result (:class:`QueueFull` when there is no room)."""
        if self._wake is None:
            raise RuntimeError(f"{self.name}: start() the batcher first")
        if len(self._queue) >= self.queue_size:
            self._queue = deque(j for j in self._queue if not j.future.done())
            if len(self._queue) >= self.queue_size:
                raise QueueFull(self.name, self.retry_after())
        job = _Job(payload, max(1, size), asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._depth_changed()
        self._wake.set()
        return await job.future

    def retry_after(self) -> int:
        """Whole seconds until the queue ahead is likely done (at least 1)."""
        calls = len(self._queue) / max(self._call_jobs, 1.0) + 1
        return max(1, math.ceil(calls * self._call_s))

    async def _loop(self) -> None:
        wake = self._wake
        if wake is None:
            raise RuntimeError(f"{self.name}: start() the batcher first")
        idle = True
        while True:
            if not self._queue:
                idle = True
                wake.clear()
                await wake.wait()
            if idle and self.batching and self.wait_s > 0 and self._queued_items() < self.max_batch:
                await asyncio.sleep(self.wait_s)  # an idle model waits a moment for company
            idle = False
            batch = self._take()
            self._depth_changed()
            if batch:
                await self._call(batch)

    def _queued_items(self) -> int:
        return sum(job.size for job in self._queue if not job.future.done())

    def _take(self) -> list[_Job]:
        batch: list[_Job] = []
        items = 0
        while self._queue:
            job = self._queue[0]
            if job.future.done():  # its caller gave up
                self._queue.popleft()
                continue
            if batch and (not self.batching or items + job.size > self.max_batch):
                break
            batch.append(self._queue.popleft())
            items += job.size
        return batch

    async def _call(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        payloads = [job.payload for job in batch]
        try:
            results = await loop.run_in_executor(self._executor, self._run, payloads)
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} jobs")
        except Exception as e:  # one failing call fails its jobs, never the loop
            logger.exception("%s: model call failed", self.name)
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(e)
        else:
            for job, result in zip(batch, results):
                if not job.future.done():
                    job.future.set_result(result)
        seconds = time.perf_counter() - start
        self._call_s = 0.8 * self._call_s + 0.2 * seconds
        self._call_jobs = 0.8 * self._call_jobs + 0.2 * len(batch)
        if self._on_batch is not None:
            self._on_batch(len(batch), sum(job.size for job in batch), seconds)

    def _depth_changed(self) -> None:
        if self._on_depth is not None:
            self._on_depth(self.depth)
