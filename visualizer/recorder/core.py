"""Where recorded batches go: the process's current recorder and its sink.

A `Recorder` hands out sources (one per event loop, 0 for the process itself), takes encoded
batches from them and writes them to a sink: a file descriptor, or a bounded buffer in memory.
Each loop buffers its own records and encodes them itself, so loops in different threads never
share a buffer; the sink serialises writes with a lock.
"""

from __future__ import annotations

import errno
import itertools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ..trace import schema
from ..trace.format import encode_batch, encode_header

clock = time.perf_counter_ns

# The Stepper (recorder/stepper.py) new loops are handed to, while a viewer steps the program.
stepper: Any = None

# A loop flushes its buffer when it holds this many items, or before it blocks in select.
FLUSH_ITEMS = 1 << 15
# ... and at least this often when it never blocks, so a live viewer sees a busy program.
FLUSH_NS = 100_000_000
# The default in-memory recording keeps this many bytes, then counts what it drops.
MEMORY_LIMIT = 64 * 1024 * 1024


class Sink(Protocol):
    def write(self, data: bytes) -> bool:
        """Store `data`; False when it had to be dropped."""

    def close(self) -> None: ...


class FileSink:
    """Writes batches straight to a file descriptor: what was written survives any exit.

    An OSError (a full disk, a file-size limit) goes up to the recorder, which stops recording.
    The file's identity is checked before each write: a program that closed the descriptor
    (``os.closerange``) may have opened one of its own files under the same number, and the
    trace must never be written into it.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, fd: int | None = None):
        if fd is None:
            fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.fd = fd
        self.path = None if path is None else os.fspath(path)
        self.written = 0
        info = os.fstat(fd)
        self._identity = (info.st_dev, info.st_ino)

    def _ours(self) -> bool:
        """Whether the descriptor still is the trace file (the program may have closed it)."""
        try:
            info = os.fstat(self.fd)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def write(self, data: bytes) -> bool:
        if not self._ours():
            self.fd = -1  # not ours any more: never write to it, nor close it
            raise OSError(errno.EBADF, "the program closed the trace's file descriptor")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written += len(data)  # whole batches only: where a torn one would be cut off
        return True

    def last_word(self, data: bytes) -> None:
        """After a failed write: cut the torn batch off (which frees its blocks on a full disk)
        and try to end the file with `data`, so that it reads whole and says why it stops."""
        if self.fd < 0:
            return
        try:
            os.ftruncate(self.fd, self.written)
            os.lseek(self.fd, self.written, os.SEEK_SET)
            os.write(self.fd, data)
        except OSError:
            pass  # the trace then ends at its last whole batch, without the reason

    def close(self) -> None:
        if self.fd >= 0 and self._ours():
            os.close(self.fd)
        self.fd = -1


class MemorySink:
    """Keeps the trace in memory up to `limit` bytes: the prefix is kept, the rest dropped."""

    def __init__(self, limit: int = MEMORY_LIMIT):
        self.data = bytearray()
        self.limit = limit

    def write(self, data: bytes) -> bool:
        if len(self.data) + len(data) > self.limit:
            return False
        self.data += data
        return True

    def close(self) -> None:
        pass


class Recorder:
    """One recording: a sink, the sources writing into it, and the process source (0)."""

    def __init__(self, sink: Sink, meta: dict[str, Any] | None = None):
        self.sink = sink
        # Reentrant: a signal handler or a GC callback (a task's weakref) can run in the middle
        # of a write, on the same thread, and record something itself.
        self.lock = threading.RLock()
        self.closed = False
        self.dropped = 0
        # Why recording stopped before the program ended ("disk full at 12.4 MB"), or None.
        self.failure: str | None = None
        self.loops_made = 0  # recording loops that wrote into this recorder, ever
        self.told_fork = False
        self._sources = itertools.count(1)
        self._strings: dict[str, int] = {}
        self._flushers: weakref.WeakSet[Any] = weakref.WeakSet()
        # Called when a loop is about to block: whatever buffers text (captured output) writes it.
        self.idle_flushers: list[Callable[[], None]] = []
        self.t0 = clock()
        header = {
            "python": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "pid": os.getpid(),
            "argv": list(sys.argv),
            "started": time.time(),
            "t0": self.t0,
            "clock": "perf_counter_ns",
        }
        header.update(meta or {})
        with self.lock:
            self._store(encode_header(header))

    def new_source(self, owner: Any) -> int:
        """A source id for `owner` (a loop), which will be asked to flush at the end."""
        self._flushers.add(owner)
        self.loops_made += 1
        return next(self._sources)

    def loops(self) -> list[Any]:
        """The recording loops writing into this recorder now (the watchdog, the stepper and
        the viewer's commands go through them)."""
        return [owner for owner in list(self._flushers) if hasattr(owner, "_lv")]

    def write(self, items: list[Any]) -> None:
        """Encode and store one batch (``[source, kind, fields...]``)."""
        try:
            data = encode_batch(items)
        except Exception:
            # A recorder bug must never surface in the program: the batch is counted as lost.
            self.dropped += 1
            return
        with self.lock:
            self._store(data)

    def _store(self, data: bytes) -> None:
        """Hand `data` to the sink (under the lock); a write error ends the recording."""
        if self.closed:
            self.dropped += 1
            return
        try:
            if not self.sink.write(data):
                self.dropped += 1
        except OSError as exc:
            # Never the program's problem: recording stops here, and says why at the end.
            self.failure = _failure_words(exc, getattr(self.sink, "written", 0))
            self.closed = True
            self.dropped += 1
            last_word = getattr(self.sink, "last_word", None)
            if last_word is not None:
                note = f"recording stopped: {self.failure}; the program ran on"
                last_word(encode_batch([0, schema.NOTE, clock(), note]))
            try:
                self.sink.close()
            except OSError:
                pass

    def emit(self, kind: int, *fields: Any) -> None:
        """Write one process-level record (source 0) at once; safe from any thread."""
        self.write([0, kind, *fields])

    def note(self, text: str) -> None:
        """Record a fact about the recording itself, which every view tells (a NOTE)."""
        self.emit(schema.NOTE, clock(), text)

    def intern(self, text: str) -> int:
        """A process-level (source 0) string id, defined in the trace the first time."""
        with self.lock:
            sid = self._strings.get(text)
            if sid is not None:
                return sid
            sid = len(self._strings) + 1
            self._strings[text] = sid
        self.write([0, schema.STR, sid, text])
        return sid

    def on_idle(self) -> None:
        for flush in self.idle_flushers:
            flush()

    def flush(self) -> None:
        """Ask every live source to write what it holds."""
        for owner in list(self._flushers):
            owner._lv_flush()

    def abandon(self) -> None:
        """In a forked child: write nothing more, and let go of the parent's file without
        flushing into it. Locks are made anew: another thread may have held them at the fork."""
        self.lock = threading.RLock()
        self.closed = True
        fd = getattr(self.sink, "fd", -1)
        if fd >= 0:
            self.sink.fd = -1  # type: ignore[attr-defined]
            try:
                os.close(fd)
            except OSError:
                pass
        for loop in self.loops():
            loop._lv.lock = threading.RLock()
            loop._lv.gate = None

    def close(self) -> None:
        """Flush everything and close the sink; later records are dropped."""
        if self.closed:
            return
        self.flush()
        with self.lock:
            self.closed = True
            self.sink.close()


def _failure_words(exc: OSError, written: int) -> str:
    """Why recording stopped, for a person: "disk full at 12.4 MB"."""
    at = f"at {written / 1e6:.1f} MB"
    if exc.errno == errno.ENOSPC:
        return f"disk full {at}"
    if exc.errno == errno.EFBIG:
        return f"file size limit reached {at}"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded {at}"
    return f"{exc.strerror or exc} {at}"


_current: Recorder | None = None
_current_lock = threading.Lock()
# In a forked child of a process that recorded into a file: the file its own loops record into,
# made when the first one is (a child that never runs a loop leaves no file behind).
_fork_path: str | None = None


def current() -> Recorder:
    """The process's recorder; a bounded in-memory one when nothing else was configured."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                if _fork_path is not None:
                    _current = Recorder(FileSink(_fork_path), {"forked_from": os.getppid()})
                else:
                    _current = Recorder(MemorySink())
    return _current


def fork_trace_name(path: str, pid: int | str) -> str:
    """Where a forked child with pid `pid` records, when its parent records into `path`."""
    stem = path.removesuffix(".lvtrace")
    return f"{stem}.fork-{pid}.lvtrace"


def _forked_parent() -> None:
    recorder = _current
    path = getattr(recorder.sink, "path", None) if recorder is not None else None
    if recorder is None or path is None or recorder.told_fork or recorder.closed:
        return
    recorder.told_fork = True
    recorder.note(f"the program forked; a child's event loops record into "
                  f"{os.path.basename(fork_trace_name(path, 'PID'))}, not here")  # fmt: skip


def _forked_child() -> None:
    """A forked child never writes into its parent's trace: the inherited recorder is dropped
    (its loops record nothing more here), and new loops record into a file of the child's own."""
    global _current, _fork_path, stepper
    recorder = _current
    stepper = None  # the viewer steps the parent, not this copy of it
    if recorder is None:
        return
    _current = None
    recorder.abandon()
    path = getattr(recorder.sink, "path", None)
    _fork_path = None if path is None else fork_trace_name(path, os.getpid())


os.register_at_fork(after_in_parent=_forked_parent, after_in_child=_forked_child)


def set_current(recorder: Recorder | None) -> Recorder | None:
    """Make `recorder` the one new loops record into; returns the previous one."""
    global _current
    with _current_lock:
        previous, _current = _current, recorder
    return previous
