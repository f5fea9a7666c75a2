"""The trace reader on whole files: good, cut short, damaged and foreign ones; and `records()`."""

from __future__ import annotations

import gzip
import io
import random
from enum import IntEnum
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tracegen import build, real_trace

from visualizer.trace import schema
from visualizer.trace.format import LENGTH, MAX_BATCH, PREFIX, encode_batch, encode_header
from visualizer.trace.reader import (
    StringTable,
    TraceError,
    TraceReader,
    read_stream,
    read_trace,
    records,
)
from visualizer.trace.schema import FORMAT_VERSION, MAGIC, Kind

META = {"python": "3.11.7", "pid": 42, "argv": ["demo.py"], "t0": 1000, "clock": "perf_counter_ns"}
BATCHES = [
    [1, Kind.STR, 1, "MainThread", Kind.LOOP_OPEN, 10, 11, 7, 1, 0],
    [1, Kind.SELECT, 20, -1, 25, 0, 0, Kind.READY, 26, 0, 0, 0],
    [0, Kind.OUTPUT, 30, 1, "hello\n", Kind.EXIT, 40, 0, ""],
]


def frame(body: bytes) -> bytes:
    return LENGTH.pack(len(body)) + body


def good_trace() -> bytes:
    return build(META, BATCHES).data


def assert_one_line(error: TraceError) -> str:
    message = str(error)
    assert len(message.splitlines()) == 1, message
    return message


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# Whole files -------------------------------------------------------------------------------


def test_complete_trace_reads_its_header_and_every_batch(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "good.lvtrace", good_trace()))
    assert trace.header.version == FORMAT_VERSION
    assert trace.header.meta == META
    assert trace.batches == BATCHES
    assert not trace.truncated and trace.tail == 0 and trace.note == ""


def test_real_recording_reads_back_whole_with_every_record_valid(tmp_path: Path) -> None:
    recorded = real_trace()
    trace = read_trace(write(tmp_path, "real.lvtrace", recorded.data))
    assert not trace.truncated
    assert trace.batches == recorded.batches
    assert trace.header.meta["clock"] == "perf_counter_ns"
    assert isinstance(trace.header.meta["t0"], int)
    found = [record for batch in trace.batches for record in records(batch)]
    kinds = {record[0] for record in found}
    assert {Kind.LOOP_OPEN, Kind.TASK_NEW, Kind.STEP_DONE, Kind.MARK, Kind.LOOP_CLOSE} <= kinds
    strings = {record[2] for record in found if record[0] == Kind.STR}
    assert {"slept 0", "slept 1", "slept 2"} <= strings


def test_truncated_trace_reads_as_prefix_and_says_it_was_cut(tmp_path: Path) -> None:
    data = good_trace()
    cut = len(data) - 3  # inside the last batch
    trace = read_trace(write(tmp_path, "cut.lvtrace", data[:cut]))
    assert trace.batches == BATCHES[:-1]
    assert trace.truncated
    assert trace.tail == len(encode_batch(BATCHES[-1])) - 3
    assert "cut short" in trace.note and len(trace.note.splitlines()) == 1


def test_trace_cut_inside_a_length_prefix_is_truncated_too() -> None:
    data = good_trace() + LENGTH.pack(50)[:2]
    trace = read_stream(io.BytesIO(data), "cut.lvtrace")
    assert trace.batches == BATCHES and trace.truncated and trace.tail == 2


def test_trace_cut_at_a_batch_boundary_is_complete() -> None:
    built = build(META, BATCHES)
    trace = read_stream(io.BytesIO(built.data[: built.ends[1]]), "two.lvtrace")
    assert trace.batches == BATCHES[:2]
    assert not trace.truncated


def test_trace_with_a_header_and_no_batch_is_complete_and_empty() -> None:
    trace = read_stream(io.BytesIO(encode_header(META)), "idle.lvtrace")
    assert trace.batches == [] and not trace.truncated


def test_trace_larger_than_one_read_chunk_reads_whole() -> None:
    big = [[1, *[Kind.STR, i, "x" * 100] * 2000] for i in range(12)]  # ~2.5 MB
    data = build(META, big).data
    assert len(data) > 2 * (1 << 20)
    assert read_stream(io.BytesIO(data), "big.lvtrace").batches == big


# Foreign, empty, cut and newer files: a one-line TraceError that says what to do ---------------

newer = PREFIX.pack(MAGIC, FORMAT_VERSION + 1, 2) + msgspec.msgpack.encode({})
older = PREFIX.pack(MAGIC, 0, 1) + msgspec.msgpack.encode({})


def test_a_format_1_trace_is_read_as_it_is() -> None:
    """Format 2 only added record kinds: a format 1 trace reads unchanged."""
    body = msgspec.msgpack.encode({"argv": ["old.py"]})
    data = PREFIX.pack(MAGIC, 1, len(body)) + body + encode_batch([1, Kind.RUN_END, 5])
    trace = read_stream(io.BytesIO(data), "old.lvtrace")
    assert trace.header.version == 1 and trace.batches == [[1, Kind.RUN_END, 5]]


FOREIGN = {
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), ["PNG image", "loopviz record"]),
    "text": (b"just some notes\nabout a program\n", ["a text file", "loopviz record"]),
    "json": (b'  {"traceEvents": [{"ph": "X"}]}', ["JSON", "loopviz record"]),
    "gzip": (gzip.compress(b"LOOPVIZ\x00" + bytes(100)), ["gzip", "gunzip it first"]),
    "python": (b"import asyncio\n\nasync def main():\n    pass\n", ["Python source"]),
    "random": (random.Random(7).randbytes(1000), ["binary data", "loopviz record"]),
    "zip": (b"PK\x03\x04" + bytes(30), ["zip archive"]),
    "newer": (newer, [f"trace format {FORMAT_VERSION + 1}", "newer", "upgrade loopviz"]),
    "older": (older, ["trace format 0", "older", "open it with the loopviz that recorded it"]),
    "empty": (b"", ["is empty", "record the program again"]),
    "cut header": (good_trace()[:20], ["cut short inside its header", "record the program again"]),
    "cut magic": (MAGIC[:5], ["cut short inside its header"]),
}


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_foreign_empty_or_newer_file_is_refused_in_one_line_saying_what_to_do(
    tmp_path: Path, kind: str
) -> None:
    data, words = FOREIGN[kind]
    path = write(tmp_path, "input.lvtrace", data)
    with pytest.raises(TraceError) as caught:
        read_trace(path)
    message = assert_one_line(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file_or_a_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / "nope.lvtrace", tmp_path):
        with pytest.raises(TraceError) as caught:
            read_trace(path)
        assert "cannot open" in assert_one_line(caught.value)


def test_error_stays_one_line_when_the_file_name_has_line_breaks(tmp_path: Path) -> None:
    path = write(tmp_path, "two\nlines\u2028.lvtrace", b"")
    with pytest.raises(TraceError) as caught:
        read_trace(path)
    assert "two\\nlines\\u2028.lvtrace is empty" in assert_one_line(caught.value)


# Damaged traces ----------------------------------------------------------------------------

HEAD = encode_header(META)


def header_with(body: bytes) -> bytes:
    return PREFIX.pack(MAGIC, FORMAT_VERSION, len(body)) + body


DAMAGED = {
    "zero batch length": (HEAD + LENGTH.pack(0), ["impossible batch length 0 at byte"]),
    "huge batch length": (HEAD + LENGTH.pack(MAX_BATCH + 1), ["impossible batch length"]),
    "batch is a map": (HEAD + frame(msgspec.msgpack.encode({"a": 1})), ["unreadable"]),
    "batch holds a float": (HEAD + frame(msgspec.msgpack.encode([1, 9, 1.5])), ["float"]),
    "batch holds None": (HEAD + frame(msgspec.msgpack.encode([1, 9, None])), ["None"]),
    "batch holds a list": (HEAD + frame(msgspec.msgpack.encode([1, 9, [2]])), ["unreadable"]),
    "batch holds bytes": (HEAD + frame(msgspec.msgpack.encode([1, 9, b"x"])), ["unreadable"]),
    "batch is empty": (HEAD + frame(msgspec.msgpack.encode([])), ["has no source"]),
    "source is a str": (HEAD + frame(msgspec.msgpack.encode(["a", 9, 1])), ["has no source"]),
    "invalid msgpack": (HEAD + frame(b"\xc1\xc1"), ["unreadable", "invalid opcode"]),
    "trailing bytes": (HEAD + frame(msgspec.msgpack.encode([1]) + b"\x00"), ["unreadable"]),
    "header is a list": (header_with(msgspec.msgpack.encode([1, 2])), ["header is unreadable"]),
    "header has int keys": (header_with(msgspec.msgpack.encode({1: 2})), ["header"]),
    "header is deeply nested": (
        header_with(b"\x81\xa1a" + b"\x91" * 100_000 + b"\x01"),
        ["header"],
    ),
    "header has a str pid": (header_with(msgspec.msgpack.encode({"pid": "42"})), ["'pid'"]),
    "header has int argv": (header_with(msgspec.msgpack.encode({"argv": [1]})), ["'argv'"]),
    "header has None t0": (header_with(msgspec.msgpack.encode({"t0": None})), ["'t0'"]),
    "huge header length": (PREFIX.pack(MAGIC, FORMAT_VERSION, MAX_BATCH + 1), ["header length"]),
}


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_damaged_trace_is_refused_in_one_line_saying_where_and_what_to_do(kind: str) -> None:
    data, words = DAMAGED[kind]
    with pytest.raises(TraceError) as caught:
        read_stream(io.BytesIO(data), "damaged.lvtrace")
    message = assert_one_line(caught.value)
    assert message.startswith("damaged.lvtrace is corrupt")
    assert message.endswith("record the program again")
    for word in words:
        assert word in message


def test_corruption_after_good_batches_names_the_byte_where_it_starts() -> None:
    data = good_trace()
    with pytest.raises(TraceError, match=f"at byte {len(data)}"):
        read_stream(io.BytesIO(data + LENGTH.pack(0)), "damaged.lvtrace")


# TraceReader -------------------------------------------------------------------------------


def test_reader_keeps_an_incomplete_batch_until_the_rest_arrives() -> None:
    data = good_trace()
    built = build(META, BATCHES)
    reader = TraceReader()
    assert reader.feed(data[:5]) == [] and reader.header is None and reader.incomplete
    assert reader.feed(data[5 : built.header_end]) == []
    assert reader.header is not None and not reader.incomplete
    middle = built.ends[0] + 3
    assert reader.feed(data[built.header_end : middle]) == BATCHES[:1]
    assert reader.incomplete and reader.pending == 3 and reader.offset == built.ends[0]
    assert reader.feed(data[middle:]) == BATCHES[1:]
    assert not reader.incomplete and reader.offset == len(data)


def test_reader_takes_bytes_bytearray_and_memoryview() -> None:
    data = good_trace()
    for convert in (bytes, bytearray, memoryview):
        assert TraceReader().feed(convert(data)) == BATCHES


def test_reader_refuses_every_later_feed_once_it_found_damage() -> None:
    reader = TraceReader(name="live.lvtrace")
    with pytest.raises(TraceError) as first:
        reader.feed(HEAD + LENGTH.pack(0))
    with pytest.raises(TraceError) as again:
        reader.feed(encode_batch(BATCHES[0]))
    assert str(again.value) == str(first.value)


def test_reader_refuses_a_foreign_stream_from_its_first_bytes() -> None:
    with pytest.raises(TraceError, match="PNG image"):
        TraceReader().feed(b"\x89PNG")
    with pytest.raises(TraceError, match="not a loopviz trace"):
        TraceReader().feed(b"L")
        TraceReader().feed(b"X")


# records() ---------------------------------------------------------------------------------


def test_records_splits_a_batch_into_kind_and_fields() -> None:
    assert records(BATCHES[0]) == [(Kind.STR, 1, "MainThread"), (Kind.LOOP_OPEN, 10, 11, 7, 1, 0)]
    assert records(BATCHES[2]) == [(Kind.OUTPUT, 30, 1, "hello\n"), (Kind.EXIT, 40, 0, "")]
    assert records([3]) == []
    assert records((3, Kind.RUN_END, 5)) == [(Kind.RUN_END, 5)]


SELECT = [Kind.SELECT, 1, 2, 3, 4, 5]
BAD_LAYOUTS: dict[str, tuple[Any, str]] = {
    "not a list": (None, "a batch is a NoneType, not a list"),
    "a dict": ({"kind": 1}, "a batch is a dict"),
    "empty": ([], "does not start with its source"),
    "str source": (["1", *SELECT], "does not start with its source"),
    "unknown kind": ([1, *SELECT, 999, 1], "unknown record kind 999 (record 1 of a batch from"),
    "kind zero": ([1, 0], "unknown record kind 0"),
    "negative kind": ([1, -1, 5], "unknown record kind -1"),
    "str kind": ([1, "SELECT", 1], "unknown record kind 'SELECT'"),
    "None kind": ([1, None], "unknown record kind None"),
    "unhashable kind": ([1, [5], 5], "unknown record kind [5]"),
    "float kind": ([1, 5.0, 1], "unknown record kind 5.0"),
    "short record": (
        [1, *SELECT, Kind.SELECT, 1, 2],
        "record 1 (SELECT) of a batch from source 1 needs 5 fields",
    ),
}
BAD_FIELDS: dict[str, tuple[Any, str]] = {
    "str for an int": ([1, Kind.SELECT, "1", 2, 3, 4, 5], "field 't' of record 0"),
    "int for a str": (
        [1, Kind.STR, 1, 2],
        "field 'text' of record 0 (STR) of a batch from source 1",
    ),
    "str for a string id": (
        [1, Kind.MARK, 1, 0, 0, "hi"],
        "field 'text$' of record 0 (MARK) of a batch from source 1 is str",
    ),
    "int for a detail": (
        [0, Kind.EXIT, 1, 0, 7],
        "field 'detail' of record 0 (EXIT) of a batch from source 0 is int 7",
    ),
    "swapped str fields": (
        [1, Kind.STR, "a", "b"],
        "field 'id' of record 0 (STR) of a batch from source 1 is str 'a'",
    ),
    "None field": (
        [1, *SELECT, Kind.RUN_END, None],
        "field 't' of record 1 (RUN_END) of a batch from source 1 is NoneType",
    ),
    "float field": ([1, Kind.RUN_END, 1.5], "is float 1.5, not an int"),
    "list field": ([1, Kind.RUN_END, [1]], "is list [1], not an int"),
    "bytes text": ([1, Kind.STR, 1, b"x"], "is bytes b'x', not a str"),
    "bad int next to a str": (
        [1, Kind.STR, 1, "a", Kind.READY, 1, 2, "3", 4],
        "field 'ntodo' of record 1 (READY) of a batch from source 1 is str '3'",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_LAYOUTS) + list(BAD_FIELDS))
def test_records_refuses_a_bad_batch_with_a_one_line_trace_error(kind: str) -> None:
    batch, words = {**BAD_LAYOUTS, **BAD_FIELDS}[kind]
    with pytest.raises(TraceError) as caught:
        records(batch)
    assert words in assert_one_line(caught.value)


# A float equal to a kind passes the layout check (it finds the kind's arity); only validation
# looks at types.
@pytest.mark.parametrize("kind", [kind for kind in BAD_LAYOUTS if kind != "float kind"])
def test_records_without_validation_still_refuses_a_bad_layout(kind: str) -> None:
    batch, words = BAD_LAYOUTS[kind]
    with pytest.raises(TraceError) as caught:
        records(batch, validate=False)
    assert words in assert_one_line(caught.value)


@pytest.mark.parametrize("kind", list(BAD_FIELDS))
def test_records_without_validation_does_not_look_at_field_types(kind: str) -> None:
    batch, _ = BAD_FIELDS[kind]
    split = records(batch, validate=False)
    assert sum(map(len, split)) == len(batch) - 1


def test_records_accepts_int_and_str_subclasses_for_fields() -> None:
    class Flag(IntEnum):
        ON = 1

    class Text(str):
        pass

    batch = [1, Kind.STR, Flag.ON, Text("x"), Kind.CALLBACK, True, Flag.ON, 3]
    assert records(batch) == [(Kind.STR, 1, "x"), (Kind.CALLBACK, 1, 1, 3)]


def test_records_refuses_a_batch_whole_before_handing_out_any_record() -> None:
    batch = [1, *SELECT, *SELECT, Kind.RUN_END, "late"]
    with pytest.raises(TraceError, match="record 2"):
        records(batch)


def test_every_kind_in_the_schema_round_trips_through_records() -> None:
    made = [
        (kind, *("s" if name in schema.STR_FIELDS else 7 for name in fields))
        for kind, fields in schema.FIELDS.items()
    ]
    batch = [5, *(value for record in made for value in record)]
    assert records(batch) == made
    assert TraceReader().feed(encode_header(META) + encode_batch(batch)) == [batch]


def test_string_table_resolves_ids_per_source() -> None:
    table = StringTable()
    table.define(1, 1, "main")
    assert table.get(1, 1) == "main"
    assert table.get(2, 1) == "<string 1?>"
    assert table.get(1, 0) == ""
