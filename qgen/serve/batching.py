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
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")  # an item a batcher collects
R = TypeVar("R")  # the result `fn` gives for one item
V = TypeVar("V")  # what settles a future: a result or an exception


@dataclass
class BatchStats:
    """How a batcher has batched so far (GET /healthz shows it: are concurrent requests sharing model calls?)."""

    batches: int = 0
    items: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def add(self, n: int) -> None:
        """Count one call of `fn` on `n` items."""
        self.batches, self.items, self.largest = self.batches + 1, self.items + n, max(self.largest, n)
        self.sizes[n] = self.sizes.get(n, 0) + 1

    def as_dict(self) -> dict[str, float]:
        """The counts and the mean batch size, as /healthz reports them."""
        return {"batches": self.batches, "items": self.items, "largest": self.largest,
                "mean": round(self.items / self.batches, 2) if self.batches else 0.0}


@dataclass
class _Job(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    loop: asyncio.AbstractEventLoop

    def resolve(self, result: R) -> None:
        """Hand `result` to the waiting caller."""
        self._on_loop(self.future.set_result, result)

    def fail(self, error: BaseException) -> None:
        """Raise `error` in the waiting caller."""
        self._on_loop(self.future.set_exception, error)

    def _on_loop(self, setter: Callable[[V], object], value: V) -> None:
        """Settle the future on its own event loop (futures are not thread-safe), unless its caller gave up."""
        def done() -> None:
            """Runs on the loop's thread."""
            if not self.future.done():  # the caller gave up meanwhile
                setter(value)

        try:
            self.loop.call_soon_threadsafe(done)
        except RuntimeError:  # the loop closed (server shutting down)
            pass


class Batcher(Protocol):
    """A batcher of any item type, as the server's bookkeeping sees it (its stats for /healthz, closing it)."""

    @property
    def stats(self) -> BatchStats:
        """How it has batched so far."""
        ...

    def close(self, wait: float = 5.0) -> None:
        """Stop its worker thread."""
        ...


class MicroBatcher(Generic[T, R]):
    """Collects items for `fn(list) -> list` (same length, same order) and runs them in batches on its own thread."""

    def __init__(self, fn: Callable[[list[T]], list[R]], *, max_batch: int = 16, max_wait_s: float = 0.005,
                 key: Callable[[T], Hashable] = lambda item: None, name: str = "batcher",
                 lock: threading.Lock | None = None) -> None:
        """`lock`: held while `fn` runs; batchers that share one never run their functions at the same time (the
        server gives all the batchers of one model one lock: a model and its tokenizer serve one call at a time)."""
        self.fn, self.max_batch, self.max_wait_s, self.key, self.name = fn, max_batch, max_wait_s, key, name
        self.lock = lock or threading.Lock()
        self.stats = BatchStats()
        self._queue: queue.Queue[_Job[T, R] | None] = queue.Queue()  # None: stop
        self._thread = threading.Thread(target=self._run, name=f"qgen-{name}", daemon=True)
        self._thread.start()

    async def submit(self, item: T, timeout: float) -> R:
        """The result for `item`; asyncio.TimeoutError after `timeout` seconds (the item is then dropped)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Job(item, fut, loop))
        return await asyncio.wait_for(fut, timeout)

    def close(self, wait: float = 5.0) -> None:
        """Stop the worker once the items queued before are done (waits at most `wait` seconds for it)."""
        self._queue.put(None)
        self._thread.join(wait)

    # ---- the worker thread ------------------------------------------------------------------------------------------
    def _collect(self, first: _Job[T, R]) -> tuple[list[_Job[T, R]], bool]:
        batch, deadline = [first], time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = [j for j in batch if not j.future.done()]  # a caller that timed out has cancelled its future
            groups: dict[Hashable, list[_Job[T, R]]] = {}
            for j in live:
                groups.setdefault(self.key(j.item), []).append(j)
            for jobs in groups.values():
                self._call(jobs)

    def _call(self, jobs: list[_Job[T, R]]) -> None:
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
            jobs[0].fail(e)
            return
        for j, r in zip(jobs, results):
            j.resolve(r)

