"""The viewer's handle on the observed program: start it under the agent, watch it, end it.

`Program` runs a script (or ``-m module``) through the agent in a child process, with the same
argv and ``__main__`` as ``loopviz record``, and with what a viewer drawing on the terminal needs:

- the child leads a session of its own: no terminal, so no key reaches it, and one process group
  that `Program.stop` ends as a whole, grandchildren included;
- its stdin is /dev/null; what it writes to sys.stdout and sys.stderr goes only into the trace
  (the agent's output tee, with echo off); what reaches its fd 1 and 2 below them (``os.write``,
  subprocesses, C code) comes up two pipes and is kept, timestamped, for `Program.take_output`;
- a control pipe to the agent: when it closes (the viewer quit or died) the program is ended.

Raw output in the trace: `Program.finish` appends it as OUTPUT records whose stream is
`RAW_STDOUT` (3, what reached fd 1) or `RAW_STDERR` (4, fd 2), timed when the viewer read it
(the same clock as the recorder's), so 1 and 2 keep meaning sys.stdout and sys.stderr.
"""

from __future__ import annotations

import codecs
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any, BinaryIO

from .launch import agent_command
from .trace import schema

# OUTPUT.stream of raw output: what reached the program's fd 1 and fd 2 below sys.stdout/stderr.
RAW_STDOUT = 3
RAW_STDERR = 4
_RAW_STREAM = {1: RAW_STDOUT, 2: RAW_STDERR}

# Raw output kept: the newest chunks, about this many bytes; older ones are dropped and counted.
OUTPUT_LIMIT = 4 * 1024 * 1024
# What a chunk costs besides its text (tuple, int, str header): tiny writes can't hide memory.
_CHUNK_COST = 160
_READ_SIZE = 65536
# finish() waits this long for the last raw output (a grandchild may keep the pipes open).
_DRAIN_WAIT = 0.5
# stop() waits this long for the group to die after SIGKILL (it can't refuse, but may be slow).
_KILL_WAIT = 5.0


def append_exit(trace: str, status: int, output: Iterable[tuple[int, int, str]] = ()) -> None:
    """Add the exit status the parent saw (covers signals the agent can't catch).

    `output` (``(t, stream, text)``) goes in before it, as OUTPUT records. A trace cut short (its
    last batch torn), unreadable, or on a full disk is left alone: nothing after a torn batch
    could be read.
    """
    from .recorder.core import clock
    from .trace.format import encode_batch

    try:
        with open(trace, "r+b") as file:
            if not _ends_on_a_batch(file):
                return
            items: list[Any] = [0]
            for t, stream, text in output:
                items += (schema.OUTPUT, t, stream, text)
            items += (schema.EXIT, clock(), status, "")
            file.seek(0, os.SEEK_END)
            file.write(encode_batch(items))
    except OSError:
        return


def _ends_on_a_batch(file: BinaryIO) -> bool:
    """Whether `file` is a trace of this format whose last batch is whole: its batches' length
    prefixes are walked, nothing else is read."""
    from .trace.format import LENGTH, MAX_BATCH, PREFIX

    size = os.fstat(file.fileno()).st_size
    head = file.read(PREFIX.size)
    if len(head) < PREFIX.size:
        return False
    magic, version, header_size = PREFIX.unpack(head)
    if magic != schema.MAGIC or not schema.OLDEST_READABLE <= version <= schema.FORMAT_VERSION:
        return False
    offset = PREFIX.size + header_size
    while offset + LENGTH.size <= size:
        file.seek(offset)
        (length,) = LENGTH.unpack(file.read(LENGTH.size))
        if length > MAX_BATCH:
            return False
        offset += LENGTH.size + length
    return offset == size


class _OutputBuffer:
    """The newest raw output chunks ``(t, stream, text)``, about `limit` bytes of them.

    Thread-safe: the drain thread adds, the viewer takes. `dropped` counts, per stream, the
    bytes of the chunks it let go.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: deque[tuple[int, int, str, int]] = deque()  # t, stream, text, cost
        self._size = 0
        self._first = 0  # how many chunks were dropped: the index of _chunks[0]
        self._taken = 0  # the index of the first chunk take() has not handed out
        self._gaps: dict[int, int] = {}  # stream -> time of its latest dropped chunk
        self._lock = threading.Lock()
        self.dropped: dict[int, int] = {}

    def add(self, t: int, stream: int, text: str, size: int) -> None:
        cost = size + _CHUNK_COST
        with self._lock:
            self._chunks.append((t, stream, text, cost))
            self._size += cost
            while self._size > self._limit and len(self._chunks) > 1:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        t, stream, _text, cost = self._chunks.popleft()
        self._size -= cost
        self._first += 1
        self.dropped[stream] = self.dropped.get(stream, 0) + cost - _CHUNK_COST
        self._gaps[stream] = t

    def take(self) -> list[tuple[int, int, str]]:
        """The chunks kept since the last take."""
        with self._lock:
            start = max(self._taken - self._first, 0)
            chunks = [chunk[:3] for chunk in islice(self._chunks, start, None)]
            self._taken = self._first + len(self._chunks)
        return chunks

    def trace_output(self) -> list[tuple[int, int, str]]:
        """Every chunk kept, on trace streams, with a note where a stream lost some; by time."""
        with self._lock:
            output = [(t, _RAW_STREAM[stream], text) for t, stream, text, _ in self._chunks]
            output += [
                (t, _RAW_STREAM[stream], f"[loopviz: {self.dropped[stream]} bytes dropped]\n")
                for stream, t in self._gaps.items()
            ]
        return sorted(output, key=lambda chunk: chunk[0])


def _drain(pipes: dict[int, int], buffer: _OutputBuffer) -> None:
    """Read `pipes` (our fd -> the child's fd) into `buffer`; close each at its end."""
    from .recorder.core import clock

    decoders = {fd: codecs.getincrementaldecoder("utf-8")("replace") for fd in pipes}
    with selectors.DefaultSelector() as selector:
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                data = os.read(key.fd, _READ_SIZE)
                t = clock()
                text = decoders[key.fd].decode(data, final=not data)
                if text:
                    buffer.add(t, pipes[key.fd], text, len(data))
                if not data:
                    selector.unregister(key.fd)
                    os.close(key.fd)


def _group_alive(pgid: int) -> bool:
    """Whether process group `pgid` still has a live member (a zombie is dead, just not reaped:
    where nobody reaps orphans, as in some containers, they stay in the group for ever)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except FileNotFoundError:
        return True  # no /proc: trust kill(), there init reaps orphans
    return any(_live_member(pid, pgid) for pid in pids)


def _live_member(pid: str, pgid: int) -> bool:
    """Whether /proc says `pid` is in group `pgid` and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return False  # it ended while we looked
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after it.
    state, _ppid, pgrp = stat[stat.rindex(b")") + 2 :].split(maxsplit=3)[:3]
    return int(pgrp) == pgid and state not in (b"Z", b"X")


class Program:
    """One run of the observed program under the agent, as a viewer starts, watches and ends it.

    `trace_path` is where the agent writes the trace (a relative path is taken from the current
    directory); `cwd` is the directory the program runs in (default: the current one). With
    `step` the program is held before its first handle until a command (`send`) moves it.
    With `keep_uvloop` uvloop's loop is kept (recorded from outside), not replaced by asyncio's.
    """

    def __init__(
        self,
        program: list[str],
        module: str | None,
        trace_path: str,
        *,
        cwd: str | None = None,
        step: bool = False,
        block_ms: float | None = None,
        keep_uvloop: bool = False,
    ) -> None:
        self.program = list(program)
        self.module = module
        self.step = step
        self.keep_uvloop = keep_uvloop
        self.block_ms = block_ms
        self.trace_path = os.path.abspath(trace_path)
        self.cwd = cwd
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._control: BinaryIO | None = None
        self._output = _OutputBuffer(OUTPUT_LIMIT)
        self._drainer: threading.Thread | None = None
        self._finished = False

    def start(self) -> None:
        """Start the program; the trace file is created (emptied) first, so a viewer can follow it
        at once. OSError when the trace can't be written or the program can't be started."""
        if self._process is not None:
            raise RuntimeError("this program was started already; make a new Program to rerun it")
        os.close(os.open(self.trace_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        control_read, control_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        command = agent_command(
            self.trace_path, self.module, self.program, echo=False, control=control_read,
            quiet=True, keep_uvloop=self.keep_uvloop, step=self.step, block_ms=self.block_ms,
        )  # fmt: skip
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                pass_fds=(control_read,),
                cwd=self.cwd,
                start_new_session=True,
            )
        except BaseException:
            for fd in (control_write, out_read, err_read):
                os.close(fd)
            raise
        finally:
            for fd in (control_read, out_write, err_write):
                os.close(fd)
        self.pid = self._process.pid
        self._control = open(control_write, "wb", buffering=0)  # noqa: SIM115 - closed in _hang_up
        self._drainer = threading.Thread(
            target=_drain,
            args=({out_read: 1, err_read: 2}, self._output),
            name="loopviz-output",
            daemon=True,
        )
        self._drainer.start()

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal); None while it runs or before start."""
        return None if self._process is None else self._process.poll()

    @property
    def running(self) -> bool:
        """Whether the program was started and has not exited yet."""
        return self._process is not None and self._process.poll() is None

    @property
    def output_dropped(self) -> int:
        """Bytes of raw output let go to keep memory bounded (the oldest went first)."""
        return sum(self._output.dropped.values())

    def send(self, cmd: str, **fields: Any) -> None:
        """Send the agent one command, ``{"cmd": cmd, **fields}``; nothing if it has ended."""
        if self._control is None:
            return
        try:
            self._control.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
        except BrokenPipeError:
            pass  # the program ended; poll() says how

    def take_output(self) -> list[tuple[int, int, str]]:
        """The raw output read since the last call: ``(t_ns, fd, text)``, fd 1 or 2, t from
        ``time.perf_counter_ns`` when it was read (the trace's clock)."""
        return self._output.take()

    def stop(self, grace: float = 1.0) -> int | None:
        """End the program and everything in its process group; return its exit status.

        SIGINT to the group, then SIGTERM, each given `grace` seconds to end it, then SIGKILL.
        It returns once no process of the group is left alive. None if it was never started.
        """
        if self._process is None:
            return None
        self.send("release")  # a program held by the stepper would not get round to ending
        for signum, wait in (
            (signal.SIGINT, grace),
            (signal.SIGTERM, grace),
            (signal.SIGKILL, _KILL_WAIT),
        ):
            if self._ended():
                break
            self._signal(signum)
            if self._wait_ended(wait):
                break
        self._hang_up()
        return self.poll()

    def finish(self) -> None:
        """After the program ended: append its raw output and exit status to the trace, once.

        The raw output goes in as OUTPUT records on streams `RAW_STDOUT`/`RAW_STDERR`, then an
        EXIT record with the status the parent saw. A trace cut short (the program was killed
        mid-write) is left as it is. A viewer following the trace gets these records too: the
        raw output it already had from `take_output` comes back on streams 3 and 4.
        """
        status = self.poll()
        if status is None:
            raise RuntimeError("finish() needs the program to have ended; stop() it first")
        if self._finished:
            return
        self._finished = True
        self._hang_up()
        if self._drainer is not None:
            self._drainer.join(_DRAIN_WAIT)
        append_exit(self.trace_path, status, self._output.trace_output())

    def _ended(self) -> bool:
        assert self.pid is not None
        return self.poll() is not None and not _group_alive(self.pid)

    def _signal(self, signum: int) -> None:
        assert self.pid is not None
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass  # the whole group ended meanwhile

    def _wait_ended(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the program and its group to end; False if not."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not self._ended():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return True

    def _hang_up(self) -> None:
        """Close the control pipe: an agent still running takes it as the viewer leaving."""
        if self._control is not None:
            self._control.close()
            self._control = None
