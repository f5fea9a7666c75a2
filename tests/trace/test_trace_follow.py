"""Following a trace file while it is written: `FollowReader.poll()` and `follow()`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tracegen import build

from visualizer.trace.format import encode_batch, encode_header
from visualizer.trace.reader import FollowReader, TraceError, follow, read_trace, records
from visualizer.trace.schema import Kind

META = {"python": "3.11.7", "pid": 1, "argv": [], "t0": 0, "clock": "perf_counter_ns"}


def batch(i: int) -> list[Any]:
    return [1, Kind.STR, i, f"string {i}", Kind.RUN_END, i]


class Writer:
    """A trace file written piece by piece, the way a recorder appends to it."""

    def __init__(self, path: Path) -> None:
        self.stream = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by the fixture

    def write(self, data: bytes) -> None:
        self.stream.write(data)


@pytest.fixture
def writer(tmp_path: Path) -> Any:
    out = Writer(tmp_path / "live.lvtrace")
    yield out
    out.stream.close()


def test_follow_reader_returns_batches_as_the_file_grows_and_keeps_an_incomplete_tail(
    tmp_path: Path, writer: Writer
) -> None:
    head = encode_header(META)
    first, second = encode_batch(batch(1)), encode_batch(batch(2))
    with FollowReader(tmp_path / "live.lvtrace") as reader:
        assert reader.poll() == [] and reader.header is None
        writer.write(head[:3])  # the header is not fully written yet: no error, no batch
        assert reader.poll() == [] and reader.header is None and reader.incomplete
        writer.write(head[3:])
        assert reader.poll() == [] and reader.header is not None and not reader.incomplete
        writer.write(first + second[:5])
        assert reader.poll() == [batch(1)]
        assert reader.incomplete
        assert reader.poll() == []
        writer.write(second[5:])
        assert reader.poll() == [batch(2)]
        assert not reader.incomplete


def test_follow_reader_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "later.lvtrace"
    with FollowReader(path) as reader:
        assert reader.poll() == [] and reader.poll() == []
        path.write_bytes(build(META, [batch(1)]).data)
        assert reader.poll() == [batch(1)]


def test_follow_reader_refuses_a_foreign_file_as_soon_as_its_first_bytes_arrive(
    tmp_path: Path, writer: Writer
) -> None:
    with FollowReader(tmp_path / "live.lvtrace") as reader:
        writer.write(b"\x89PNG\r\n\x1a\n")
        with pytest.raises(TraceError, match="is not a loopviz trace: it is a PNG image"):
            reader.poll()


def test_follow_reader_reports_a_file_that_shrank_while_followed(tmp_path: Path) -> None:
    path = tmp_path / "live.lvtrace"
    path.write_bytes(build(META, [batch(1), batch(2)]).data)
    with FollowReader(path) as reader:
        assert len(reader.poll()) == 2
        path.write_bytes(encode_header(META))  # rewritten from scratch
        with pytest.raises(TraceError, match="shrank .* open it again"):
            reader.poll()


def test_poll_with_max_bytes_spreads_a_big_file_over_several_polls(tmp_path: Path) -> None:
    built = build(META, [batch(i) for i in range(50)])
    path = tmp_path / "big.lvtrace"
    path.write_bytes(built.data)
    got: list[list[Any]] = []
    polls = 0
    with FollowReader(path, chunk=64) as reader:
        while len(got) < 50:
            got.extend(reader.poll(max_bytes=200))
            polls += 1
    assert got == built.batches
    assert polls >= len(built.data) // 200


def test_follow_reader_refuses_a_poll_after_close(tmp_path: Path) -> None:
    reader = FollowReader(tmp_path / "x.lvtrace")
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.poll()


def test_follow_yields_batches_from_another_thread_and_stops_when_asked(
    tmp_path: Path, writer: Writer
) -> None:
    stop = threading.Event()

    def produce() -> None:
        writer.write(encode_header(META))
        for i in range(20):
            data = encode_batch(batch(i))
            writer.write(data[:4])  # a batch is now and then seen half-written
            time.sleep(0.001)
            writer.write(data[4:])
        stop.set()  # everything written before the stop is still delivered

    producer = threading.Thread(target=produce)
    producer.start()
    got = list(follow(tmp_path / "live.lvtrace", interval=0.002, stop=stop))
    producer.join()
    assert got == [batch(i) for i in range(20)]


def test_follow_ends_when_the_consumer_stops_iterating(tmp_path: Path) -> None:
    path = tmp_path / "live.lvtrace"
    path.write_bytes(build(META, [batch(1), batch(2)]).data)
    with FollowReader(path) as reader:
        batches = reader.follow(interval=0.001)
        assert next(batches) == batch(1)
        batches.close()
        assert reader.poll() == []  # the reader is still usable; nothing new was written


LIVE_PROGRAM = textwrap.dedent(
    """
    import asyncio, sys
    import visualizer

    async def tick(n):
        for i in range(n):
            await asyncio.sleep(0.03)
            visualizer.mark(f"tick {i}")

    with visualizer.record(sys.argv[1]):
        asyncio.run(tick(12))
    """
)


def test_following_a_live_recording_sees_every_batch_of_the_finished_file(tmp_path: Path) -> None:
    path = tmp_path / "live.lvtrace"
    program = subprocess.Popen(
        [sys.executable, "-c", LIVE_PROGRAM, str(path)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    got: list[list[Any]] = []
    polls_with_batches = 0
    with FollowReader(path) as reader:
        deadline = time.monotonic() + 60
        while program.poll() is None and time.monotonic() < deadline:
            new = reader.poll()
            polls_with_batches += bool(new)
            got.extend(new)
            time.sleep(0.01)
        got.extend(reader.poll())
    assert program.wait(timeout=10) == 0
    whole = read_trace(path)
    assert not whole.truncated
    assert got == whole.batches
    assert polls_with_batches >= 2  # batches arrived while the program still ran
    marks = [r for b in got for r in records(b) if r[0] == Kind.STR and r[2].startswith("tick ")]
    assert len(marks) == 12
