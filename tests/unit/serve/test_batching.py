"""MicroBatcher: requests arriving together run as one call, grouped by key; a failing item fails only its own
request; a caller that times out is dropped."""

import asyncio
import threading
import time

import pytest

from qgen.serve.batching import MicroBatcher


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_items_run_as_one_batch_in_order():
    calls = []

    def fn(items):
        calls.append(list(items))
        return [x * 10 for x in items]

    b = MicroBatcher(fn, max_batch=8, max_wait_s=2.0)  # a long wait: the batch closes when 8 are in, not on time

    async def main():
        return await asyncio.gather(*(b.submit(i, timeout=10) for i in range(8)))

    try:
        assert _run(main()) == [i * 10 for i in range(8)]
    finally:
        b.close()
    assert calls == [list(range(8))]
    assert b.stats.as_dict() == {"batches": 1, "items": 8, "largest": 8, "mean": 8.0}


def test_max_batch_splits_and_keys_group():
    calls = []

    def fn(items):
        calls.append([x for x, _ in items])
        return [x for x, _ in items]

    b = MicroBatcher(fn, max_batch=4, max_wait_s=0.5, key=lambda item: item[1])

    async def main():
        return await asyncio.gather(*(b.submit((i, i % 2), timeout=10) for i in range(4)))

    try:
        assert _run(main()) == [0, 1, 2, 3]
    finally:
        b.close()
    assert sorted(calls) == [[0, 2], [1, 3]]  # one batch of 4 collected, run as two calls (one per key)


def test_a_failing_item_fails_only_its_request():
    def fn(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [s.upper() for s in items]

    b = MicroBatcher(fn, max_batch=3, max_wait_s=1.0)

    async def main():
        return await asyncio.gather(*(b.submit(s, timeout=10) for s in ("a", "bad", "c")), return_exceptions=True)

    try:
        out = _run(main())
    finally:
        b.close()
    assert out[0] == "A" and out[2] == "C"
    assert isinstance(out[1], ValueError)


def test_timeout_drops_the_item():
    release = threading.Event()
    seen = []

    def fn(items):
        seen.append(list(items))
        release.wait(5)
        return items

    b = MicroBatcher(fn, max_batch=1, max_wait_s=0.0)

    async def main():
        first = asyncio.ensure_future(b.submit("slow", timeout=10))
        await asyncio.sleep(0.1)  # the worker is now inside fn with "slow"
        with pytest.raises(asyncio.TimeoutError):
            await b.submit("late", timeout=0.2)
        release.set()
        return await first

    try:
        assert _run(main()) == "slow"
    finally:
        b.close()
    assert seen == [["slow"]]  # "late" timed out while queued: never run


def test_batchers_sharing_a_lock_never_run_at_once():
    """A model's batchers (generation, scoring, reading) share a lock: their calls take turns (a model and its
    tokenizer are not used by two threads at once)."""
    lock = threading.Lock()
    spans, guard = [], threading.Lock()

    def make(name):
        def fn(items):
            start = time.perf_counter()
            time.sleep(0.05)
            with guard:
                spans.append((start, time.perf_counter()))
            return items
        return MicroBatcher(fn, max_batch=1, max_wait_s=0.0, lock=lock, name=name)

    a, b = make("a"), make("b")

    async def main():
        return await asyncio.gather(*(x.submit(i, timeout=10) for i in range(4) for x in (a, b)))

    try:
        _run(main())
    finally:
        a.close()
        b.close()
    spans.sort()
    assert len(spans) == 8
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))  # no two calls overlap
