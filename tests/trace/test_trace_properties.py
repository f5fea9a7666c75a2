"""Properties of the trace reader, over generated traces and a real recording.

- any cut of a valid trace reads as a prefix of its batches, and says whether it was cut mid-batch;
- random bytes, random bytes after a valid header and bit flips in a valid trace never raise
  anything but TraceError, from the reader or from `records()`;
- feeding a trace in random chunks yields exactly the batches of feeding it at once.
"""

from __future__ import annotations

import bisect
import io
import os
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracegen import BATCHES, GENERATED, INTS, STR_FIELDS, BuiltTrace, real_trace

from visualizer.trace import schema
from visualizer.trace.format import encode_header
from visualizer.trace.reader import (
    FollowReader,
    Trace,
    TraceError,
    TraceReader,
    read_stream,
    records,
)

# Generated traces, and now and then the real recording.
TRACES = st.one_of(GENERATED, GENERATED, GENERATED, st.builds(real_trace))
PROPERTY = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


def read_or_refuse(data: bytes) -> Trace | None:
    """Read `data` as a whole file and split every batch; None when it was refused.

    Any exception but TraceError fails the test; a TraceError must be one line.
    """
    try:
        trace = read_stream(io.BytesIO(data), "input.lvtrace")
        for batch in trace.batches:
            records(batch)
    except TraceError as exc:
        assert len(str(exc).splitlines()) == 1
        return None
    return trace


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[TraceReader, list[list[Any]]]:
    reader = TraceReader()
    batches: list[list[Any]] = []
    edges = [0, *sorted(cuts), len(data)]
    for start, end in zip(edges, edges[1:], strict=False):
        batches.extend(reader.feed(data[start:end]))
    return reader, batches


def cut_points(trace: BuiltTrace) -> st.SearchStrategy[int]:
    """Any offset, with batch boundaries (and their neighbours) drawn often."""
    near = sorted(
        {max(0, min(len(trace.data), b + d)) for b in trace.boundaries for d in (-1, 0, 1)}
    )
    return st.one_of(st.integers(0, len(trace.data)), st.sampled_from(near))


# (1) Truncation ----------------------------------------------------------------------------


@PROPERTY
@given(TRACES, st.data())
def test_truncated_trace_reads_as_prefix_and_says_it_was_cut(
    trace: BuiltTrace, data: st.DataObject
) -> None:
    cut = data.draw(cut_points(trace), label="cut")
    head = trace.data[:cut]
    if cut < trace.header_end:
        with pytest.raises(TraceError, match="is empty|cut short inside its header"):
            read_stream(io.BytesIO(head), "cut.lvtrace")
        reader = TraceReader()
        assert reader.feed(head) == [] and reader.header is None and reader.incomplete
        return
    read = read_stream(io.BytesIO(head), "cut.lvtrace")
    complete = bisect.bisect_right(trace.ends, cut)
    assert read.batches == trace.batches[:complete]
    assert read.truncated == (cut not in trace.boundaries)
    assert read.tail == cut - ([trace.header_end, *trace.ends][complete])
    assert ("cut short" in read.note) == read.truncated


# (2) Garbage -------------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=3000))
def test_random_bytes_raise_nothing_but_trace_error(blob: bytes) -> None:
    read_or_refuse(blob)


@PROPERTY
@given(st.binary(max_size=3000), st.dictionaries(st.text(max_size=5), INTS, max_size=3))
def test_random_bytes_after_a_valid_header_raise_nothing_but_trace_error(
    blob: bytes, meta: dict[str, int]
) -> None:
    read_or_refuse(encode_header(meta) + blob)


@PROPERTY
@given(TRACES, st.data())
def test_bit_flips_in_a_valid_trace_raise_nothing_but_trace_error(
    trace: BuiltTrace, data: st.DataObject
) -> None:
    damaged = bytearray(trace.data)
    bits = data.draw(st.lists(st.integers(0, len(damaged) * 8 - 1), min_size=1, max_size=4))
    for bit in bits:
        damaged[bit // 8] ^= 1 << (bit % 8)
    read_or_refuse(bytes(damaged))
    # The same bytes arriving in pieces, as from a live file.
    cuts = data.draw(st.lists(st.integers(0, len(damaged)), max_size=6))
    try:
        _, batches = feed_in_pieces(bytes(damaged), cuts)
        for batch in batches:
            records(batch)
    except TraceError as exc:
        assert len(str(exc).splitlines()) == 1


@PROPERTY
@given(TRACES, st.data())
def test_overwritten_bytes_in_a_valid_trace_raise_nothing_but_trace_error(
    trace: BuiltTrace, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(trace.data)))
    patch = data.draw(st.binary(min_size=1, max_size=16))
    read_or_refuse(trace.data[:at] + patch + trace.data[at + len(patch) :])


# records() on anything ---------------------------------------------------------------------

ODD_VALUES = st.one_of(
    INTS,
    st.sampled_from(sorted(schema.FIELDS)),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def mangled_batches(draw: st.DrawFn) -> list[Any]:
    """A valid batch with a few elements replaced, deleted or inserted."""
    batch = list(draw(BATCHES))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        at = draw(st.integers(0, max(0, len(batch) - 1)))
        if action == "replace" and batch:
            batch[at] = draw(ODD_VALUES)
        elif action == "delete" and batch:
            del batch[at]
        else:
            batch.insert(at, draw(ODD_VALUES))
    return batch


def follows_schema(record: tuple[Any, ...]) -> bool:
    fields = schema.FIELDS[record[0]]
    return len(record) == len(fields) + 1 and all(
        isinstance(value, str if name in STR_FIELDS else int)
        for name, value in zip(fields, record[1:], strict=True)
    )


@PROPERTY
@given(st.one_of(mangled_batches(), st.lists(ODD_VALUES, max_size=12)))
def test_records_either_refuses_a_batch_or_returns_records_that_follow_the_schema(
    batch: list[Any],
) -> None:
    try:
        split = records(batch)
    except TraceError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    assert all(follows_schema(record) for record in split)
    assert [value for record in split for value in record] == batch[1:]


@PROPERTY
@given(BATCHES)
def test_records_returns_exactly_the_records_a_batch_was_built_from(batch: list[Any]) -> None:
    split = records(batch)
    assert all(follows_schema(record) for record in split)
    assert [value for record in split for value in record] == batch[1:]
    assert records(batch, validate=False) == split


# (3) Chunking ------------------------------------------------------------------------------


@PROPERTY
@given(TRACES, st.data())
def test_feeding_a_trace_in_random_chunks_yields_the_same_batches_as_feeding_it_at_once(
    trace: BuiltTrace, data: st.DataObject
) -> None:
    at_once = TraceReader()
    whole = at_once.feed(trace.data)
    assert whole == trace.batches
    cuts = data.draw(st.lists(cut_points(trace), max_size=12), label="cuts")
    reader, pieces = feed_in_pieces(trace.data, cuts)
    assert pieces == whole
    assert reader.header == at_once.header
    assert not reader.incomplete and reader.offset == len(trace.data)


@settings(deadline=None, max_examples=40)
@given(TRACES, st.data())
def test_following_a_file_written_in_random_pieces_yields_every_batch_once(
    trace: BuiltTrace, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(cut_points(trace), max_size=8), label="cuts"))
    edges = [0, *cuts, len(trace.data)]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "live.lvtrace")
        got: list[list[Any]] = []
        with open(path, "wb", buffering=0) as out, FollowReader(path) as follower:
            for start, end in zip(edges, edges[1:], strict=False):
                out.write(trace.data[start:end])
                got.extend(follower.poll())
            assert not follower.incomplete
        assert got == trace.batches
