"""Micro-batching: requests that arrive within a few milliseconds of each other run as one model call.

Each `MicroBatcher` owns one worker thread and one queue (the server keeps one per model and task). The worker takes
the first waiting item, then waits at most `max_wait_s` for more (up to `max_batch`), and calls `fn` on the items
that share a key (e.g. the same decoding settings) as one batch; batchers may share a lock, so that the calls of
one model's batchers (generation, scoring, reading) never overlap. The event loop never runs model code; a caller
waits on an asyncio future with a timeout, and an item whose caller gave up is skipped. If a batch raises, its items
are retried one by one, so one bad item fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
_STOP = object()


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def add(self, n: int) -> None:
        self.batches, self.items, self.largest = self.batches + 1, self.items + n, max(self.largest, n)
        self.sizes[n] = self.sizes.get(n, 0) + 1

    def as_dict(self) -> dict:
        return {"batches": self.batches, "items": self.items, "largest": self.largest,
                "mean": round(self.items / self.batches, 2) if self.batches else 0.0}


@dataclass
class _Job:
    item: object
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class MicroBatcher:
    """Collects items for `fn(list) -> list` (same length, same order) and runs them in batches on its own thread."""

    def __init__(self, fn: Callable[[list], list], *, max_batch: int = 16, max_wait_s: float = 0.005,
                 key: Callable[[object], Hashable] = lambda item: None, name: str = "batcher",
                 lock: threading.Lock | None = None):
        """`lock`: held while `fn` runs; batchers that share one never run their functions at the same time (the
        server gives all the batchers of one model one lock: a model and its tokenizer serve one call at a time)."""
        self.fn, self.max_batch, self.max_wait_s, self.key, self.name = fn, max_batch, max_wait_s, key, name
        self.lock = lock or threading.Lock()
        self.stats = BatchStats()
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"qgen-{name}", daemon=True)
        self._thread.start()

    async def submit(self, item, timeout: float):
        """The result for `item`; asyncio.TimeoutError after `timeout` seconds (the item is then dropped)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put(_Job(item, fut, loop))
        return await asyncio.wait_for(fut, timeout)

    def close(self, wait: float = 5.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(wait)

    # ---- the worker thread ------------------------------------------------------------------------------------------
    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        batch, deadline = [first], time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return batch, True
            batch.append(job)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._collect(first)
            live = [j for j in batch if not j.future.done()]  # a caller that timed out has cancelled its future
            groups: dict[Hashable, list[_Job]] = {}
            for j in live:
                groups.setdefault(self.key(j.item), []).append(j)
            for jobs in groups.values():
                self._call(jobs)

    def _call(self, jobs: list[_Job]) -> None:
        self.stats.add(len(jobs))
        try:
            with self.lock:
                results = self.fn([j.item for j in jobs])
            if len(results) != len(jobs):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(jobs)} items")
        except Exception as e:  # noqa: BLE001 — reported to the callers, never kills the worker
            if len(jobs) > 1:  # one bad item must not fail the others
                for j in jobs:
                    self._call([j])
                return
            log.exception("%s failed", self.name)
            _settle(jobs[0], error=e)
            return
        for j, r in zip(jobs, results):
            _settle(j, result=r)


def _settle(job: _Job, result=None, error: BaseException | None = None) -> None:
    def done():
        if job.future.done():  # the caller gave up meanwhile
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    try:
        job.loop.call_soon_threadsafe(done)
    except RuntimeError:  # the loop closed (server shutting down)
        pass
