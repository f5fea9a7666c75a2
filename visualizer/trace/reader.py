"""Reading traces: a complete file, a file that is still growing, or one cut short.

`TraceReader` takes bytes as they come (from a file, a pipe or a socket), returns every complete
batch, and keeps an incomplete tail for later. `read_trace` reads a whole file; `FollowReader` and
`follow` read a file that is still being written. `records` splits a batch into records and checks
that every field has the type the schema gives it.

Anything that is not a loopviz trace, or is damaged, raises `TraceError` with a one-line message
for a person: what is wrong and what to do. Nothing else escapes, whatever the bytes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress
from operator import itemgetter
from typing import Any, BinaryIO

import msgspec

from . import schema
from .format import LENGTH, MAX_BATCH, PREFIX

# What to tell a person whose file is damaged.
_DAMAGED = "the file is damaged; record the program again"
_RECORD_HINT = "open a trace file written by loopviz (loopviz record -o FILE.lvtrace script.py)"
# Control characters and line separators (in a file name, in a decoder's message) are escaped.
_ONE_LINE = {c: f"\\x{c:02x}" for c in (*range(32), 127, 0x85)} | {
    10: "\\n",
    13: "\\r",
    9: "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


class TraceError(Exception):
    """The input is not a readable loopviz trace; the message is one line for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(str(message).translate(_ONE_LINE))


@dataclass
class Header:
    version: int
    meta: dict[str, Any]


# The header keys the recorder writes, and the types a consumer may rely on when one is present.
_HEADER_TYPES: dict[str, type | tuple[type, ...]] = {
    "python": str,
    "implementation": str,
    "pid": int,
    "argv": list,
    "started": (int, float),
    "t0": int,
    "clock": str,
}


class TraceReader:
    """Incremental decoder: `feed` bytes, get complete batches back.

    Each batch is a list ``[source, kind, field, ..., kind, field, ...]`` of ints and strs (the
    decoder rejects every other msgpack type); `records` splits it. After a `TraceError` the
    reader is spent: every later `feed` raises the same error.
    """

    def __init__(self, name: str = "trace") -> None:
        self.name = name
        self.header: Header | None = None
        self._pending = bytearray()
        # Bytes the next header or batch needs before it is worth looking at the buffer again.
        self._need = PREFIX.size
        # Stream offset of the first pending byte (for messages).
        self._offset = 0
        self._error: str | None = None
        self._meta_decoder = msgspec.msgpack.Decoder(dict[str, Any])
        self._decoder = msgspec.msgpack.Decoder(list[int | str])

    @property
    def incomplete(self) -> bool:
        """True when bytes of an unfinished header or batch are waiting for more."""
        return bool(self._pending) or self.header is None

    @property
    def offset(self) -> int:
        """Bytes consumed so far: the end of the header or of the last complete batch."""
        return self._offset

    @property
    def pending(self) -> int:
        """Bytes of an unfinished header or batch held back until the rest arrives."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[list[Any]]:
        """Add bytes; return the batches they completed (each ``[source, kind, ...]``)."""
        if self._error is not None:
            raise TraceError(self._error)
        try:
            return self._feed(data)
        except TraceError as exc:
            self._error = str(exc)
            raise

    def _feed(self, data: bytes | bytearray | memoryview) -> list[list[Any]]:
        pending = self._pending
        if pending:
            pending += data
            buf: bytes | bytearray | memoryview = pending
        else:
            buf = data
        if len(buf) < self._need:
            if buf is not pending:
                pending += buf
            if self.header is None and pending:
                self._check_magic(pending)
            return []
        batches: list[list[Any]] = []
        with memoryview(buf) as view:
            pos = 0
            if self.header is None:
                pos = self._read_header(view)
            if self.header is not None:
                pos = self._read_batches(view, pos, batches)
            if buf is pending and pos == 0:
                return batches  # nothing consumed: keep growing the same buffer
            self._pending = bytearray(view[pos:])
        self._offset += pos
        return batches

    def _read_batches(self, view: memoryview, pos: int, batches: list[list[Any]]) -> int:
        end = len(view)
        unpack = LENGTH.unpack_from
        decode = self._decode
        self._need = LENGTH.size
        while end - pos >= LENGTH.size:
            (size,) = unpack(view, pos)
            if size > MAX_BATCH or size == 0:
                raise TraceError(
                    f"{self.name} is corrupt: impossible batch length {size} at byte "
                    f"{self._offset + pos}; {_DAMAGED}"
                )
            start = pos + LENGTH.size
            if end - start < size:
                self._need = LENGTH.size + size
                break
            batches.append(decode(view[start : start + size], pos))
            pos = start + size
        return pos

    def _check_magic(self, data: bytes | bytearray | memoryview) -> None:
        magic = schema.MAGIC
        head = bytes(data[: len(magic)])
        if head != magic[: len(head)]:
            raise TraceError(
                f"{self.name} is not a loopviz trace: it is {_sniff(bytes(data[:512]))}; "
                f"{_RECORD_HINT}"
            )

    def _read_header(self, view: memoryview) -> int:
        """Parse the header if it is all there; return the bytes it took (0: not yet)."""
        self._check_magic(view)
        if len(view) < PREFIX.size:
            self._need = PREFIX.size
            return 0
        _, version, size = PREFIX.unpack_from(view)
        if not schema.OLDEST_READABLE <= version <= schema.FORMAT_VERSION:
            if version > schema.FORMAT_VERSION:
                raise TraceError(
                    f"{self.name} uses trace format {version}, newer than the one this loopviz "
                    f"reads ({schema.FORMAT_VERSION}); upgrade loopviz "
                    f"(pip install -U asyncio-visualizer) to open it"
                )
            raise TraceError(
                f"{self.name} uses trace format {version}, older than the ones this loopviz "
                f"reads ({schema.OLDEST_READABLE} to {schema.FORMAT_VERSION}); open it with the "
                "loopviz that recorded it"
            )
        if size > MAX_BATCH:
            raise TraceError(f"{self.name} is corrupt: impossible header length {size}; {_DAMAGED}")
        if len(view) < PREFIX.size + size:
            self._need = PREFIX.size + size
            return 0
        try:
            meta = self._meta_decoder.decode(view[PREFIX.size : PREFIX.size + size])
        except Exception as exc:  # msgspec errors, RecursionError on absurd nesting
            raise TraceError(
                f"{self.name} is corrupt: its header is unreadable ({exc}); {_DAMAGED}"
            ) from None
        for key, kind in _HEADER_TYPES.items():
            if key not in meta:
                continue
            value = meta[key]
            if not isinstance(value, kind) or (
                key == "argv" and not all(isinstance(arg, str) for arg in value)
            ):
                raise TraceError(
                    f"{self.name} is corrupt: its header has a malformed {key!r} "
                    f"({type(value).__name__}); {_DAMAGED}"
                )
        self.header = Header(version, meta)
        self._need = LENGTH.size
        return PREFIX.size + size

    def _decode(self, body: memoryview, pos: int) -> list[Any]:
        try:
            batch = self._decoder.decode(body)
        except Exception as exc:  # msgspec errors, RecursionError
            raise TraceError(
                f"{self.name} is corrupt: the batch at byte {self._offset + pos} is unreadable "
                f"({exc}); {_DAMAGED}"
            ) from None
        if not batch or type(batch[0]) is not int:
            raise TraceError(
                f"{self.name} is corrupt: the batch at byte {self._offset + pos} has no source; "
                f"{_DAMAGED}"
            )
        return batch


_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x1f\x8b", "gzip-compressed data (if it is a compressed trace, gunzip it first)"),
    (b"BZh", "bzip2-compressed data (if it is a compressed trace, bunzip2 it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (if it is a compressed trace, unxz it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (if it is a compressed trace, unzstd it first)"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


def _sniff(head: bytes) -> str:
    """What the start of a foreign file looks like, for the error message."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 512-byte window is still text.
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
        if not text:
            return "binary data of an unknown kind"
    if text and all(c.isprintable() or c in "\n\r\t\f" for c in text):
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            return "JSON text"
        if stripped.startswith(("#!", "import ", "from ", "async def ", "def ")):
            return "Python source (record it first)"
        return "a text file"
    return "binary data of an unknown kind"


# records(): how far each kind's record reaches, and which slots of its record hold a str.
_STEP: dict[int, int] = {kind: n + 1 for kind, n in schema.ARITY.items()}
_STR_FIELDS = schema.STR_FIELDS
_STR_SLOTS: dict[int, tuple[int, ...]] = {
    kind: slots
    for kind, fields in schema.FIELDS.items()
    if (slots := tuple(i + 1 for i, name in enumerate(fields) if name in _STR_FIELDS))
}
_STR_KINDS = frozenset(_STR_SLOTS)
# A record's length (its kind included), for the kinds whose fields are all ints.
INT_LENGTH = {kind: n for kind, n in _STEP.items() if kind not in _STR_KINDS}
_first = itemgetter(0)


def _kind_name(kind: int) -> str:
    try:
        return schema.Kind(kind).name
    except ValueError:
        return str(kind)


def records(batch: list[Any] | tuple[Any, ...], *, validate: bool = True) -> list[tuple[Any, ...]]:
    """Split a batch into records ``(kind, field, ...)``; raise TraceError on a bad layout.

    The whole batch is checked before any record is returned: every kind is known, every record
    complete, and (with `validate`, the default) every field has its schema type: ``text``,
    ``detail`` and ``name`` fields are str, every other field (string ids included) an int. Without
    `validate` only the layout is checked, for batches whose producer is trusted.
    """
    if type(batch) is not list and type(batch) is not tuple:
        raise TraceError(_explain(batch) or "")
    tb = tuple(batch)
    end = len(tb)
    if not end or not isinstance(tb[0], int):
        raise TraceError(_explain(batch) or "")
    step = _STEP
    out: list[tuple[Any, ...]] = []
    append = out.append
    pos = 1
    try:
        while pos < end:
            nxt = pos + step[tb[pos]]
            append(tb[pos:nxt])
            pos = nxt
    except (KeyError, TypeError):  # unknown or unhashable kind
        raise TraceError(_explain(batch) or "") from None
    if pos != end or (
        validate
        and not _fields_ok(tb, list(map(_first, out)), accumulate(map(len, out), initial=1))
    ):
        problem = _explain(batch, validate=validate)
        if problem is not None:
            raise TraceError(problem)
    return out


def layout(
    batch: list[Any] | tuple[Any, ...], *, validate: bool = True
) -> tuple[tuple[Any, ...], list[int]]:
    """Check a batch exactly as `records` does, without splitting it: return the batch as a
    tuple and where each of its records starts (the position of its kind).

    For a consumer that reads the records in place (the model's replay): a tuple per record
    costs more than replaying most records does.
    """
    if type(batch) is not list and type(batch) is not tuple:
        raise TraceError(_explain(batch) or "")
    tb = tuple(batch)
    end = len(tb)
    if not end or not isinstance(tb[0], int):
        raise TraceError(_explain(batch) or "")
    # Most batches hold ints only (steps, handles, selects). Then `sum`, a C loop that fails on
    # a str, None or container and turns float, checks every field at once; and as no record
    # of a kind with str fields can be valid, the walk knows only the other kinds.
    ints_only = validate and _ints(tb)
    step = INT_LENGTH if ints_only else _STEP
    starts: list[int] = []
    append = starts.append
    pos = 1
    try:
        while pos < end:
            append(pos)
            pos += step[tb[pos]]
    except (KeyError, TypeError):  # unknown or unhashable kind (or one with str fields)
        raise TraceError(_explain(batch) or "") from None
    if pos != end or (
        validate and not ints_only and not _fields_ok(tb, _kinds(tb, starts), starts)
    ):
        problem = _explain(batch, validate=validate)
        if problem is not None:
            raise TraceError(problem)
    return tb, starts


def all_ints(batch: Any) -> tuple[Any, ...] | None:
    """`batch` as a tuple if it is a list of ints only, starting with its source (else None).

    Most batches are (steps, handles, selects). Such a batch needs no check of its fields' types,
    and a consumer may walk its layout itself, as it reads it (the model's replay does):
    then no record of a kind with str fields is valid in it (`INT_LENGTH` lacks them), and on
    any failure the consumer asks `explain` what is wrong.
    """
    if type(batch) is not list or not batch or type(batch[0]) is not int:
        return None
    tb = tuple(batch)
    return tb if _ints(tb) else None


def _ints(tb: tuple[Any, ...]) -> bool:
    """Whether every item of `tb` is an int: `sum` is a C loop that fails on a str, None or
    container and turns float."""
    try:
        return type(sum(tb)) is int
    except TypeError:
        return False


def explain(batch: Any) -> str | None:
    """What is wrong with a batch, in the words of a TraceError (None: nothing)."""
    return _explain(batch)


def _kinds(tb: tuple[Any, ...], starts: list[int]) -> Sequence[Any]:
    """The kind of each record (`itemgetter` picks them all in one C call)."""
    return itemgetter(*starts)(tb) if len(starts) > 1 else [tb[start] for start in starts]


def _fields_ok(tb: tuple[Any, ...], kinds: Sequence[Any], starts: Iterable[int]) -> bool:
    """Fast check that every field has its schema type (False: let `_explain` look closer).

    `kinds` and `starts` are the kind of each record and its position in `tb`. It never accepts
    a batch `_explain` rejects; it may send an odd but valid one (an int or str subclass) to
    `_explain`, which has the last word.
    """
    if _STR_KINDS.isdisjoint(kinds):
        return _ints(tb)
    # When every str slot holds a str and the batch holds no other non-int, every other slot
    # holds an int.
    types = list(map(type, tb))
    strs = 0
    str_slots = _STR_SLOTS
    for start in compress(starts, map(_STR_KINDS.__contains__, kinds)):
        slots = str_slots[tb[start]]
        for slot in slots:
            if types[start + slot] is not str:
                return False
        strs += len(slots)
    return len(types) - types.count(int) == strs


def _explain(batch: Any, validate: bool = True) -> str | None:
    """What is wrong with a batch, walking it slowly, one record at a time (None: nothing).

    This is the definition `records` follows: a batch is a list that starts with an int source;
    each record is a known kind and all its fields; with `validate`, the STR_FIELDS
    fields are instances of str and every other field an instance of int.
    """
    what = "the trace is corrupt"
    if type(batch) is not list and type(batch) is not tuple:
        return f"{what}: a batch is a {type(batch).__name__}, not a list; {_DAMAGED}"
    if not batch or not isinstance(batch[0], int):
        return f"{what}: a batch does not start with its source; {_DAMAGED}"
    source = batch[0]
    pos, index, end = 1, 0, len(batch)
    while pos < end:
        kind = batch[pos]
        n = schema.ARITY.get(kind) if isinstance(kind, int) else None
        if n is None:
            return (
                f"the trace holds an unknown record kind {_short(kind)} (record {index} of a batch "
                f"from source {source}): the file is damaged or was written by a newer loopviz "
                f"(upgrade loopviz to read it)"
            )
        name = _kind_name(kind)
        where = f"record {index} ({name}) of a batch from source {source}"
        if pos + 1 + n > end:
            return (
                f"{what}: {where} needs {n} fields but the batch ends after "
                f"{end - pos - 1}; {_DAMAGED}"
            )
        if validate:
            for field, value in zip(schema.FIELDS[kind], batch[pos + 1 : pos + 1 + n], strict=True):
                if field in _STR_FIELDS:
                    ok, expected = isinstance(value, str), "a str"
                else:
                    ok, expected = isinstance(value, int), "an int"
                if not ok:
                    return (
                        f"{what}: field {field!r} of {where} is "
                        f"{type(value).__name__} {_short(value)}, not {expected}; {_DAMAGED}"
                    )
        pos += 1 + n
        index += 1
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class Trace:
    """A whole trace read from a file: header, batches, and whether it was cut short."""

    header: Header
    batches: list[list[Any]]
    truncated: bool
    path: str
    # Bytes after the last complete batch: the start of a batch that was cut (0 unless truncated).
    tail: int = 0

    @property
    def note(self) -> str:
        """One line for a person when the trace was cut short, else ""."""
        if not self.truncated:
            return ""
        return (
            f"{self.path} was cut short: the last {self.tail} bytes hold an incomplete batch "
            f"(the recording stopped mid-write, or is still being written); everything before "
            f"them was read"
        )


CHUNK = 1 << 20


def _open(name: str) -> BinaryIO:
    try:
        return open(name, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise TraceError(f"cannot open {name}: {exc.strerror or exc}; check the path") from None


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read every complete batch of a trace file; a cut tail is noted, not fatal."""
    name = os.fspath(path)
    with _open(name) as stream:
        return read_stream(stream, name)


def _no_header(name: str, reader: TraceReader) -> TraceError:
    if not reader.pending:
        return TraceError(
            f"{name} is empty: nothing was recorded into it; record the program again"
        )
    return TraceError(
        f"{name} is cut short inside its header ({reader.pending} bytes): nothing usable was "
        f"recorded; record the program again"
    )


def read_header(path: str | os.PathLike[str]) -> Header:
    """Check that a file is a trace, reading no further than its header and first batch."""
    name = os.fspath(path)
    with _open(name) as stream:
        reader = TraceReader(name=name)
        while reader.header is None:
            chunk = stream.read(1 << 16)
            if not chunk:
                break
            reader.feed(chunk)  # a foreign or damaged start raises here, in one line
    if reader.header is None:
        raise _no_header(name, reader)
    return reader.header


def read_stream(stream: BinaryIO, name: str) -> Trace:
    """Read a whole trace from an open binary stream (up to its end)."""
    reader = TraceReader(name=name)
    batches: list[list[Any]] = []
    while True:
        try:
            chunk = stream.read(CHUNK)
        except OSError as exc:
            raise TraceError(f"cannot read {name}: {exc.strerror or exc}") from None
        if not chunk:
            break
        batches.extend(reader.feed(chunk))
    if reader.header is None:
        raise _no_header(name, reader)
    return Trace(reader.header, batches, reader.incomplete, name, reader.pending)


class FollowReader:
    """Reads a trace file that is still being written.

    Each `poll()` reads whatever was appended since the last one and returns the batches it
    completed; an incomplete batch (or header) at the end is kept until the rest arrives. A file
    that does not exist yet reads as empty, so a viewer can start before the recorder does.
    `follow()` turns polling into an iterator that can be stopped. Use it as a context manager,
    or call `close()`.
    """

    def __init__(self, path: str | os.PathLike[str], *, chunk: int = CHUNK) -> None:
        self.path = os.fspath(path)
        self._reader = TraceReader(name=self.path)
        self._file: BinaryIO | None = None
        self._chunk = chunk
        self._read = 0  # bytes taken from the file
        self._closed = False

    @property
    def header(self) -> Header | None:
        """The trace's header, once it has been written in full."""
        return self._reader.header

    @property
    def incomplete(self) -> bool:
        """True while the header, or a batch at the end, is not complete yet."""
        return self._reader.incomplete

    def poll(self, max_bytes: int | None = None) -> list[list[Any]]:
        """The batches completed by what was appended since the last poll (maybe none).

        It reads up to where the file ended when the call began, so a writer faster than the
        reader cannot keep it from returning; `max_bytes` bounds the read further (a big file
        then arrives over several polls).
        """
        if self._closed:
            raise ValueError("poll() on a closed FollowReader")
        stream = self._file
        if stream is None:
            try:
                stream = self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115
            except FileNotFoundError:
                return []  # not created yet
            except OSError as exc:
                raise TraceError(
                    f"cannot open {self.path}: {exc.strerror or exc}; check the path"
                ) from None
        batches: list[list[Any]] = []
        try:
            size = os.fstat(stream.fileno()).st_size
            if size < self._read:
                raise TraceError(
                    f"{self.path} shrank from {self._read} to {size} bytes while being followed: "
                    f"it was truncated or rewritten; open it again"
                )
            left = size - self._read if max_bytes is None else min(size - self._read, max_bytes)
            while left > 0:
                data = stream.read(min(self._chunk, left))
                if not data:
                    break
                self._read += len(data)
                left -= len(data)
                batches.extend(self._reader.feed(data))
        except OSError as exc:
            raise TraceError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return batches

    def follow(
        self, interval: float = 0.1, stop: threading.Event | None = None
    ) -> Iterator[list[Any]]:
        """Yield batches as the file grows, polling every `interval` seconds.

        It runs until `stop` is set (then it reads what was appended up to that moment, yields
        it, and ends) or until the consumer stops iterating.
        """
        while True:
            stopping = stop is not None and stop.is_set()
            yield from self.poll()
            if stopping:
                return
            if stop is not None:
                stop.wait(interval)
            else:
                time.sleep(interval)

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> FollowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def follow(
    path: str | os.PathLike[str],
    *,
    interval: float = 0.1,
    stop: threading.Event | None = None,
) -> Iterator[list[Any]]:
    """Yield the batches of a trace file as it is written, until `stop` is set.

    ``for batch in follow(path, stop=done): ...``; closing the iterator also stops it.
    """
    with FollowReader(path) as reader:
        yield from reader.follow(interval, stop)


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
