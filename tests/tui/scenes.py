"""Hand-made traces for the viewer's tests: fixed times and sites, so screens are repeatable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visualizer.trace import schema as s
from visualizer.trace.format import encode_batch, encode_header

T0 = 1_000_000_000
MS = 1_000_000


class _Loop:
    """Builds one loop's records, numbering strings as it goes."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.strings: dict[str, int] = {}

    def sid(self, text: str) -> int:
        if text not in self.strings:
            self.strings[text] = len(self.strings) + 1
            self.records.append((s.STR, self.strings[text], text))
        return self.strings[text]

    def add(self, kind: int, *fields: Any) -> None:
        self.records.append((kind, *fields))

    def task(self, t: int, ident: int, name: str, coro: str, site: str, parent: int) -> None:
        self.add(s.TASK_NEW, t, ident, name, self.sid(coro), self.sid(site), parent, 0)

    def wait(self, t: int, ident: int, qlen: int, wait: int, ref: int, site: str) -> None:
        chain = f"shop.py:40 in main\n{site}" if ident != 1 else site
        self.add(s.STEP_WAIT, t, ident, qlen, wait, ref, self.sid(site), self.sid(chain))

    def batch(self) -> list[Any]:
        return [1, *[field for record in self.records for field in record]]


def shop_batches(held: bool = False) -> list[list[Any]]:
    """A small shop: a producer, consumers on a queue, a sleeper, a reader, a failure.

    `held`: then a stepper holds its loop before the first of two handles: the producer's
    wakeup (a consumer took an item) and a callback."""
    loop = _Loop()
    loop.add(s.LOOP_OPEN, T0, 0, 1, loop.sid("MainThread"), loop.sid("RecordingEventLoop"))
    loop.add(s.RUN_BEGIN, T0, 1, loop.sid("MainThread"))
    loop.task(T0, 1, "Task-1", "main", "shop.py:60 in <module>", 0)
    loop.add(s.SELECT, T0 + MS, 0, T0 + MS, 0, 1)
    loop.add(s.READY, T0 + MS, 1, 1, 0)
    children = [
        (2, "producer", "produce", "shop.py:12 in produce"),
        (3, "consumer-1", "consume", "shop.py:20 in consume"),
        (4, "consumer-2", "consume", "shop.py:20 in consume"),
        (5, "Task-5", "nap", "shop.py:28 in nap"),
        (6, "Task-6", "flaky", "shop.py:33 in flaky"),
        (7, "Task-7", "read_socket", "shop.py:37 in read_socket"),
        (8, "Task-8", "quick", "shop.py:45 in quick"),
    ]
    for n, (ident, name, coro, _) in enumerate(children):
        loop.task(T0 + 2 * MS + n, ident, name, coro, "shop.py:41 in main", 1)
    loop.wait(T0 + 3 * MS, 1, 7, s.WAIT_GATHER, 0, "shop.py:42 in main")
    loop.add(s.SELECT, T0 + 4 * MS, 0, T0 + 4 * MS, 0, 7)
    loop.add(s.READY, T0 + 4 * MS, 7, 7, 0)
    t = T0 + 5 * MS
    loop.wait(t, 2, 6, s.WAIT_QUEUE_PUT, 0, "shop.py:12 in produce")
    loop.wait(t + 1 * MS, 3, 5, s.WAIT_QUEUE_GET, 0, "shop.py:20 in consume")
    loop.wait(t + 2 * MS, 4, 4, s.WAIT_QUEUE_GET, 0, "shop.py:20 in consume")
    loop.add(s.TIMER_ADD, t + 3 * MS, 1, T0 + 10_000 * MS, loop.sid("_set_result_unless_cancelled"))
    loop.wait(t + 3 * MS, 5, 3, s.WAIT_SLEEP, 1, "shop.py:28 in nap")
    detail = "Traceback (most recent call last):\n  File shop.py, line 33\nValueError: bad input\n"
    loop.add(s.STEP_DONE, t + 5 * MS, 6, 2, s.OUTCOME_FAILED, loop.sid(detail))
    loop.add(s.IO_ADD, t + 6 * MS, 7, s.READ, loop.sid("_SelectorSocketTransport._read_ready"))
    loop.wait(t + 6 * MS, 7, 1, s.WAIT_IO_READ, 7, "shop.py:37 in read_socket")
    loop.add(s.STEP_DONE, t + 40 * MS, 8, 0, s.OUTCOME_OK, 0)
    loop.add(s.IDLE, t + 41 * MS, 5_000 * MS)
    if held:
        loop.add(s.SELECT, t + 41 * MS, 5_000 * MS, t + 50 * MS, 1, 0)
        loop.add(s.IO_EVENT, 7, s.READ)
        loop.add(s.READY, t + 50 * MS, 2, 2, 1)
        loop.add(s.PAUSED, t + 50 * MS, s.POINT_HANDLE, 1, 2, 0, 0, 2)
        loop.add(s.QUEUED, 2, loop.sid("wakeup"), loop.sid("/work/shop.py:12 in produce"))
        loop.add(s.QUEUED, 0, loop.sid("_SelectorSocketTransport._read_ready"), 0)
    output = [
        0,
        s.OUTPUT, t, 1, "shop open\nproducer: made item 1\n",
        s.OUTPUT, t + 5 * MS, 2, "flaky: ValueError: bad input\n",
        s.OUTPUT, t + 40 * MS, 1, "quick: done\n",
    ]  # fmt: skip
    return [loop.batch(), output]


def write_trace(path: Path, batches: list[list[Any]], *, exit_status: int | None = None) -> Path:
    meta = {"python": "3.11.7", "pid": 4242, "argv": ["shop.py"], "t0": T0,
            "clock": "perf_counter_ns"}  # fmt: skip
    data = encode_header(meta) + b"".join(encode_batch(batch) for batch in batches)
    if exit_status is not None:
        data += encode_batch([0, s.EXIT, T0 + 60 * MS, exit_status, ""])
    path.write_bytes(data)
    return path


def second_loop_batch() -> list[Any]:
    """A quiet loop in another thread: opened, one task that sleeps."""
    loop = _Loop()
    loop.add(s.LOOP_OPEN, T0 + MS, 0, 2, loop.sid("worker"), loop.sid("RecordingEventLoop"))
    loop.task(T0 + 2 * MS, 1, "Task-9", "poll", "poller.py:5 in <module>", 0)
    batch = loop.batch()
    batch[0] = 2
    return batch
