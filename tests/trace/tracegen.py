"""Traces for the reader's tests: generated ones that follow the schema, and a real recording.

Each comes with the batches it holds and where each batch ends, worked out here from the framing
(not by the reader under test), so a test can say which batches a cut or a chunking must yield.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass
from itertools import chain
from typing import Any

import msgspec
from hypothesis import strategies as st

import visualizer
from visualizer.trace import schema
from visualizer.trace.format import LENGTH, PREFIX, encode_batch, encode_header

STR_FIELDS = schema.STR_FIELDS
# Every int msgpack can carry.
INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
SOURCES = st.integers(min_value=0, max_value=2**16)


@dataclass(frozen=True)
class BuiltTrace:
    data: bytes
    batches: list[list[Any]]
    header_end: int
    ends: list[int]  # offset just past each batch

    @property
    def boundaries(self) -> set[int]:
        """The cuts that leave no partial batch: the end of the header or of any batch."""
        return {self.header_end, *self.ends}


def build(meta: dict[str, Any], batches: list[list[Any]]) -> BuiltTrace:
    head = encode_header(meta)
    frames = [encode_batch(batch) for batch in batches]
    ends, at = [], len(head)
    for frame in frames:
        at += len(frame)
        ends.append(at)
    return BuiltTrace(head + b"".join(frames), batches, len(head), ends)


def parse(data: bytes) -> BuiltTrace:
    """Split a complete, valid trace by its framing alone."""
    (_, _, hlen) = PREFIX.unpack_from(data)
    header_end = PREFIX.size + hlen
    batches, ends, at = [], [], header_end
    while at < len(data):
        (size,) = LENGTH.unpack_from(data, at)
        start = at + LENGTH.size
        batches.append(msgspec.msgpack.decode(data[start : start + size]))
        at = start + size
        ends.append(at)
    assert at == len(data)
    return BuiltTrace(data, batches, header_end, ends)


def field_values(name: str) -> st.SearchStrategy[Any]:
    return st.text(max_size=12) if name in STR_FIELDS else INTS


def records_of(kind: int) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(st.just(kind), *(field_values(name) for name in schema.FIELDS[kind]))


# One record of any kind, with fields of the types the schema gives them.
RECORDS = st.sampled_from(sorted(schema.FIELDS)).flatmap(records_of)


def batch_of(source: int, records: list[tuple[Any, ...]]) -> list[Any]:
    return [source, *chain.from_iterable(records)]


BATCHES = st.builds(batch_of, SOURCES, st.lists(RECORDS, max_size=10))

HEADERS = st.fixed_dictionaries(
    {
        "python": st.just("3.11.7"),
        "pid": st.integers(1, 2**22),
        "argv": st.lists(st.text(max_size=8), max_size=3),
        "started": st.floats(0, 2e9),
        "t0": st.integers(0, 2**62),
        "clock": st.just("perf_counter_ns"),
    },
    optional={"extra": st.dictionaries(st.text(max_size=5), INTS | st.text(max_size=5))},
)

GENERATED = st.builds(build, HEADERS, st.lists(BATCHES, max_size=8))


async def _sleeper(n: int) -> int:
    await asyncio.sleep(0.001 * n)
    visualizer.mark(f"slept {n}")
    return n


async def _fails() -> None:
    await asyncio.sleep(0)
    raise ValueError("boom")


async def _program() -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    event = asyncio.Event()

    async def producer() -> None:
        for i in range(3):
            await queue.put(i)
        event.set()

    async def consumer() -> None:
        for _ in range(3):
            await queue.get()

    async def forever() -> None:
        await asyncio.sleep(3600)

    victim = asyncio.create_task(forever(), name="victim")
    loop.call_later(0.002, lambda: None)
    thread = threading.Thread(target=loop.call_soon_threadsafe, args=(event.is_set,))
    thread.start()
    await asyncio.gather(producer(), consumer(), *(_sleeper(n) for n in range(3)))
    await event.wait()
    failed = asyncio.create_task(_fails(), name="fails")
    await asyncio.wait([failed])
    failed.exception()
    await asyncio.to_thread(thread.join)
    victim.cancel()
    await asyncio.gather(victim, return_exceptions=True)


@functools.cache
def real_trace() -> BuiltTrace:
    """A trace recorded from a small asyncio program by `visualizer.record()`."""
    with visualizer.record() as rec:
        asyncio.run(_program())
    return parse(rec.data())
