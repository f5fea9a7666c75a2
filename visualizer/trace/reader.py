"""Reading traces: a complete file, a file that is still growing, or one cut short.

`TraceReader` takes bytes as they come (from a file, a pipe or a socket), returns every complete
batch, and keeps an incomplete tail for later. Anything that is not a loopviz trace, or is
damaged, raises `TraceError` with a one-line message; nothing else escapes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgspec

from . import schema
from .format import LENGTH, MAX_BATCH, PREFIX


class TraceError(Exception):
    """The input is not a readable loopviz trace; the message is one line for a person."""


@dataclass
class Header:
    version: int
    meta: dict[str, Any]


@dataclass
class TraceReader:
    """Incremental decoder: `feed` bytes, get complete batches back."""

    name: str = "trace"
    header: Header | None = None
    _pending: bytearray = field(default_factory=bytearray)
    _decoder: msgspec.msgpack.Decoder = field(default_factory=msgspec.msgpack.Decoder)
    _offset: int = 0

    @property
    def incomplete(self) -> bool:
        """True when bytes of an unfinished header or batch are waiting for more."""
        return bool(self._pending) or self.header is None

    def feed(self, data: bytes) -> list[list[Any]]:
        """Add bytes; return the batches they completed (each ``[source, kind, ...]``)."""
        self._pending += data
        batches: list[list[Any]] = []
        if self.header is None and not self._read_header():
            return batches
        pending = self._pending
        pos = 0
        end = len(pending)
        while end - pos >= LENGTH.size:
            (size,) = LENGTH.unpack_from(pending, pos)
            if size > MAX_BATCH or size == 0:
                raise TraceError(
                    f"{self.name} is corrupt: impossible batch length {size} at byte "
                    f"{self._offset + pos}"
                )
            if end - pos - LENGTH.size < size:
                break
            start = pos + LENGTH.size
            batches.append(self._decode(memoryview(pending)[start : start + size], pos))
            pos = start + size
        if pos:
            del pending[:pos]
            self._offset += pos
        return batches

    def _read_header(self) -> bool:
        pending = self._pending
        magic_len = len(schema.MAGIC)
        if pending[:magic_len] != schema.MAGIC[: len(pending)]:
            raise TraceError(f"{self.name} is not a loopviz trace (it does not start with the magic)")
        if len(pending) < PREFIX.size:
            return False
        _, version, size = PREFIX.unpack_from(pending)
        if version != schema.FORMAT_VERSION:
            newer = "a newer" if version > schema.FORMAT_VERSION else "an older"
            raise TraceError(
                f"{self.name} uses trace format {version}, {newer} one than this loopviz reads "
                f"({schema.FORMAT_VERSION}); open it with a matching loopviz"
            )
        if size > MAX_BATCH:
            raise TraceError(f"{self.name} is corrupt: impossible header length {size}")
        if len(pending) < PREFIX.size + size:
            return False
        try:
            meta = self._decoder.decode(pending[PREFIX.size : PREFIX.size + size])
        except (msgspec.DecodeError, ValueError) as exc:
            raise TraceError(f"{self.name} is corrupt: unreadable header ({exc})") from None
        if not isinstance(meta, dict):
            raise TraceError(f"{self.name} is corrupt: the header is not a map")
        self.header = Header(version, meta)
        del pending[: PREFIX.size + size]
        self._offset += PREFIX.size + size
        return True

    def _decode(self, body: memoryview, pos: int) -> list[Any]:
        try:
            batch = self._decoder.decode(body)
        except (msgspec.DecodeError, ValueError) as exc:
            raise TraceError(
                f"{self.name} is corrupt: unreadable batch at byte {self._offset + pos} ({exc})"
            ) from None
        if not isinstance(batch, list) or not batch or type(batch[0]) is not int:
            raise TraceError(f"{self.name} is corrupt: malformed batch at byte {self._offset + pos}")
        return batch


def records(batch: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Split a batch into records: ``(kind, field, ...)``. Raises TraceError on a bad layout."""
    arity = schema.ARITY
    pos = 1
    end = len(batch)
    while pos < end:
        kind = batch[pos]
        n = arity.get(kind) if type(kind) is int else None
        if n is None:
            raise TraceError(f"the trace holds an unknown record kind {kind!r}: corrupt or newer")
        if pos + 1 + n > end:
            raise TraceError("the trace is corrupt: a record runs past the end of its batch")
        yield tuple(batch[pos : pos + 1 + n])
        pos += 1 + n


@dataclass
class Trace:
    """A whole trace read from a file: header, batches, and whether it was cut short."""

    header: Header
    batches: list[list[Any]]
    truncated: bool
    path: str


CHUNK = 1 << 20


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read every complete batch of a trace file; a cut tail is noted, not fatal."""
    name = os.fspath(path)
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise TraceError(f"cannot open {name}: {exc.strerror}") from None
    with stream:
        return read_stream(stream, name)


def read_stream(stream: BinaryIO, name: str) -> Trace:
    reader = TraceReader(name=name)
    batches: list[list[Any]] = []
    while chunk := stream.read(CHUNK):
        batches.extend(reader.feed(chunk))
    if reader.header is None:
        if not reader._pending:
            raise TraceError(f"{name} is empty: no trace was written to it")
        raise TraceError(f"{name} is cut short inside its header: not a usable trace")
    return Trace(reader.header, batches, reader.incomplete, name)


class StringTable:
    """String ids per source, as ``STR`` records define them."""

    def __init__(self) -> None:
        self._by_source: dict[int, dict[int, str]] = {}

    def define(self, source: int, sid: int, text: str) -> None:
        self._by_source.setdefault(source, {})[sid] = text

    def get(self, source: int, sid: int) -> str:
        if not sid:
            return ""
        return self._by_source.get(source, {}).get(sid, f"<string {sid}?>")
