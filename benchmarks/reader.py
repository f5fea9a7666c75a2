"""Throughput of the trace reader: `TraceReader.feed` and `records()`, in records per second.

Run ``python benchmarks/reader.py [TRACE]``.
Without a trace file it records a small asyncio program and repeats its batches to about a
million records. The design's budget is viewer ingest (trace file to model) at >= 1M records/s,
so decoding and splitting must take well under a microsecond a record.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import visualizer
from visualizer.trace.format import PREFIX, encode_batch
from visualizer.trace.reader import TraceReader, records

TARGET = 1_000_000


async def _worker(queue: asyncio.Queue[int], n: int) -> None:
    for j in range(n):
        await queue.put(j)
        await asyncio.sleep(0)
        if j % 100 == 0:
            await asyncio.sleep(0.0001)


async def _consumer(queue: asyncio.Queue[int]) -> None:
    while True:
        await queue.get()


async def _main() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=10)
    consumer = asyncio.create_task(_consumer(queue))
    await asyncio.gather(*(_worker(queue, 400) for _ in range(100)))
    consumer.cancel()


def recorded_trace() -> bytes:
    """A real recording, its batches repeated to about TARGET records."""
    with visualizer.record(limit=1 << 30) as rec:
        asyncio.run(_main())
    data = rec.data()
    reader = TraceReader()
    batches = reader.feed(data)
    assert reader.header is not None
    n = sum(len(records(batch)) for batch in batches)
    head_len = PREFIX.size + PREFIX.unpack_from(data)[2]
    body = b"".join(encode_batch(batch) for batch in batches)
    return data[:head_len] + body * max(1, TARGET // n)


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as stream:
            data = stream.read()
    else:
        data = recorded_trace()
    batches = TraceReader().feed(data)
    n = sum(len(records(batch)) for batch in batches)
    print(f"{len(data) / 1e6:.1f} MB, {len(batches)} batches, {n} records")

    def feed() -> None:
        TraceReader().feed(data)

    def feed_in_chunks() -> None:
        reader = TraceReader()
        for at in range(0, len(data), 1 << 16):
            reader.feed(data[at : at + (1 << 16)])

    def split(validate: bool) -> Callable[[], None]:
        return lambda: [records(batch, validate=validate) for batch in batches]

    def ingest() -> None:
        for batch in TraceReader().feed(data):
            records(batch)

    cases = {
        "feed (whole file at once)": feed,
        "feed (64 KiB chunks)": feed_in_chunks,
        "records(validate=False)": split(False),
        "records(validate=True)": split(True),
        "feed + records (validated)": ingest,
    }
    for label, enabled in (("gc on", True), ("gc off", False)):
        if not enabled:
            gc.disable()
        for name, fn in cases.items():
            seconds = best_of(fn)
            print(f"{label:6s}  {name:28s} {n / seconds / 1e6:5.2f} M records/s")
        gc.enable()


if __name__ == "__main__":
    main()
