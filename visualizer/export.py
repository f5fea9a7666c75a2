"""Exporting a trace for other tools: Perfetto / chrome://tracing, or plain JSON records.

``perfetto`` writes the Chrome trace-event "JSON Object Format". Its layout:

- a process per event loop (``pid`` = the loop's source number, named "loop N (thread)"), and
  one more, "program", for what belongs to the whole program;
- in a loop's process a "loop" track with a slice per ``select`` wait and per busy stretch
  (the handles run in one iteration), a "callbacks" track with a slice per plain callback,
  and a track per task (named like "Task-3 worker()") with a slice per step, named after
  its coroutine;
- flow arrows from the step that woke a task to the step it woke;
- counters per loop: the ready queue's length and the number of tasks alive;
- instants on the program's track: marks, loop errors, output chunks, the exit status.

A loop recorded from outside (uvloop kept with ``--keep-uvloop``) has no iterations, select,
I/O or ready queue in its trace: its loop track holds no slice, only an instant that says what
was not recorded, and it has no ready-queue counter; its process name and ``otherData`` say it
too. Its callbacks and steps begin when their HANDLE_BEGIN says, not where the handle before
ended.

Every ``tid`` is unique in the file and none is 0: Perfetto keys threads by tid alone and has
merged tid 0 with tid 1. Times are microseconds (floats: nanoseconds survive) from the trace's
first timestamp.

``json`` and ``jsonl`` write every record as it is in the trace, one object each, with its
fields named as in `schema.FIELDS` and its string ids replaced by their text, for ``jq``: a
``qlen`` of -1 there is what the trace holds for a loop recorded from outside (not known).
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import msgspec

from .model import UNRECORDED, Loop, Model, Origin, Task
from .model.state import Step
from .trace import schema
from .trace.reader import Trace, records

FORMATS = ("perfetto", "json", "jsonl")
Event = dict[str, Any]
Record = tuple[Any, ...]
Spans = tuple["array[int]", "array[int]"]  # a task's step begins and ends

_FLUSH_AT = 1 << 20  # bytes buffered before a write
# A record object's "loop" is its batch's source; a field of that name becomes this.
_RENAMED = {"loop": "on_loop"}
_STREAMS = {1: "stdout", 2: "stderr", 3: "stdout", 4: "stderr"}
_STEPS = frozenset({schema.STEP_YIELD, schema.STEP_WAIT, schema.STEP_DONE})
_TITLE_CHARS = 80
# What the export of a loop recorded from outside leaves out, said on its loop track.
_NOT_RECORDED = f"{UNRECORDED}: iterations, select, I/O, ready queue"


def default_output(path: str, fmt: str) -> str:
    """Where an export goes when no -o is given ("-": stdout)."""
    if fmt != "perfetto":
        return "-"
    stem = path[: -len(".lvtrace")] if path.endswith(".lvtrace") else path
    return f"{stem}.perfetto.json"


def export_file(trace: Trace, fmt: str, path: str) -> None:
    """Write `trace` in `fmt` to `path`, replacing it only once the whole export is written."""
    partial = f"{path}.partial"
    try:
        with open(partial, "wb") as out:
            write(trace, fmt, out)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def write(trace: Trace, fmt: str, out: BinaryIO) -> None:
    """Write `trace` to a binary stream as ``perfetto``, ``json`` or ``jsonl``."""
    if fmt == "perfetto":
        write_perfetto(trace, out)
    elif fmt == "json":
        write_json(trace, out)
    elif fmt == "jsonl":
        write_jsonl(trace, out)
    else:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


class _Writer:
    """Encodes objects to JSON into a buffer written out in large chunks."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.buffer = bytearray()
        self._encode_into = msgspec.json.Encoder().encode_into

    def raw(self, data: bytes) -> None:
        self.buffer += data

    def items(self, objects: Iterable[Any], separator: bytes) -> None:
        """Each object as JSON, `separator` between two of them."""
        buffer = self.buffer
        encode_into = self._encode_into
        first = True
        for obj in objects:
            if not first:
                buffer += separator
            first = False
            encode_into(obj, buffer, -1)
            if len(buffer) >= _FLUSH_AT:
                self.flush()

    def flush(self) -> None:
        self.out.write(self.buffer)
        self.buffer.clear()


# -- json / jsonl ------------------------------------------------------------------------------

# kind -> (its name, its fields as (name, slot, holds a string id))
_LAYOUTS: dict[int, tuple[str, tuple[tuple[str, int, bool], ...]]] = {
    kind: (
        schema.Kind(kind).name,
        tuple(
            (_RENAMED.get(name.rstrip("$"), name.rstrip("$")), slot, name.endswith("$"))
            for slot, name in enumerate(fields, 1)
        ),
    )
    for kind, fields in schema.FIELDS.items()
}


def header_object(trace: Trace) -> dict[str, Any]:
    """The trace's header: its format version and what the recorder wrote."""
    return {"format": trace.header.version, **trace.header.meta}


def record_objects(trace: Trace) -> Iterator[dict[str, Any]]:
    """Every record in file order, as ``{"loop": source, "kind": name, field: value, ...}``."""
    strings: dict[int, dict[int, str]] = {}
    for batch in trace.batches:
        source = batch[0]
        table = strings.setdefault(source, {})
        for record in records(batch):
            if record[0] == schema.STR:
                table[record[1]] = record[2]
            yield _record_object(source, record, table)


def _record_object(source: int, record: Record, strings: dict[int, str]) -> dict[str, Any]:
    name, fields = _LAYOUTS[record[0]]
    obj: dict[str, Any] = {"loop": source, "kind": name}
    for field, slot, is_string in fields:
        value = record[slot]
        obj[field] = _text(strings, value) if is_string else value
    return obj


def _text(strings: dict[int, str], sid: int) -> str:
    if not sid:
        return ""
    return strings.get(sid, f"<string {sid}?>")


def write_json(trace: Trace, out: BinaryIO) -> None:
    """One document: ``{"header": {...}, "records": [...]}``, a record per line."""
    writer = _Writer(out)
    writer.raw(b'{"header":')
    writer.items([header_object(trace)], b"")
    writer.raw(b',\n"records":[\n')
    writer.items(record_objects(trace), b",\n")
    writer.raw(b"\n]}\n")
    writer.flush()


def write_jsonl(trace: Trace, out: BinaryIO) -> None:
    """One object per line: ``{"header": {...}}`` first, then every record."""
    writer = _Writer(out)
    writer.items([{"header": header_object(trace)}], b"")
    writer.raw(b"\n")
    writer.items(record_objects(trace), b"\n")
    writer.raw(b"\n")
    writer.flush()


# -- perfetto ----------------------------------------------------------------------------------


def write_perfetto(trace: Trace, out: BinaryIO) -> None:
    """The trace as a Chrome trace-event JSON object that ui.perfetto.dev opens."""
    model = Model.from_trace(trace)  # replays (and checks) every batch before a byte is written
    writer = _Writer(out)
    writer.raw(b'{"displayTimeUnit":"ns","traceEvents":[\n')
    writer.items(perfetto_events(trace, model), b",\n")
    writer.raw(b'\n],"otherData":')
    writer.items([_other_data(trace, model)], b"")
    writer.raw(b"}\n")
    writer.flush()


def _other_data(trace: Trace, model: Model) -> dict[str, str]:
    """What chrome://tracing shows as the trace's metadata (strings only)."""
    meta = trace.header.meta
    data = {"recorded_by": "loopviz", "trace_format": str(trace.header.version)}
    data["t0_ns"] = str(model.start or 0)  # ts 0 in this file, on the recorder's clock
    for key in ("python", "pid", "started"):
        if key in meta:
            data[key] = str(meta[key])
    if isinstance(meta.get("argv"), list):
        data["argv"] = " ".join(map(str, meta["argv"]))
    if trace.truncated:
        data["truncated"] = trace.note
    for source, loop in sorted(model.loops.items()):
        if loop.outside:
            data[f"loop_{source}"] = f"{loop.outside} recorded from outside; {_NOT_RECORDED}"
    return data


class _Tracks:
    """The pid and tid of every track."""

    def __init__(self, model: Model) -> None:
        sources = sorted(model.loops)
        self.program_pid = (sources[-1] if sources else 0) + 1
        self.loop_tid = {source: 1 + 2 * i for i, source in enumerate(sources)}
        self.callbacks_tid = {source: 2 + 2 * i for i, source in enumerate(sources)}
        self.program_tid = 1 + 2 * len(sources)
        self._task_base = self.program_tid + 1

    def task_tid(self, index: int) -> int:
        return self._task_base + index


def perfetto_events(trace: Trace, model: Model) -> Iterator[Event]:
    """Every trace event of the export, names first (the viewers sort events by time)."""
    tracks = _Tracks(model)
    clock = _Clock(model.start or 0)
    yield from _names(model, tracks)
    spans: list[Spans] = []
    for task in model.tasks:
        spans.append((array("q"), array("q")))
        yield from _step_slices(model, task, tracks, clock, spans[-1])
    yield from _wakeup_flows(model, tracks, clock, spans)
    yield from _loop_events(trace, tracks, clock)
    for source in sorted(model.loops):
        yield from _tasks_alive(model, source, tracks, clock)
    yield from _program_instants(model, tracks, clock)


class _Clock:
    """Trace times (ns) as trace-event times: microseconds since the trace's first record."""

    def __init__(self, t0: int) -> None:
        self.t0 = t0

    def us(self, t: int) -> float:
        return (t - self.t0) / 1000


def _meta(what: str, pid: int, tid: int, name: str) -> Event:
    return {"ph": "M", "name": what, "pid": pid, "tid": tid, "args": {"name": name}}


def _names(model: Model, tracks: _Tracks) -> Iterator[Event]:
    pid = model.header.get("pid")
    program = "program" if pid is None else f"program (pid {pid})"
    yield _meta("process_name", tracks.program_pid, tracks.program_tid, program)
    yield _meta("thread_name", tracks.program_pid, tracks.program_tid, "program")
    for source in sorted(model.loops):
        name = _loop_name(source, model.loops[source])
        yield _meta("process_name", source, tracks.loop_tid[source], name)
        yield _meta("thread_name", source, tracks.loop_tid[source], "loop")
        yield _meta("thread_name", source, tracks.callbacks_tid[source], "callbacks")
    for task in model.tasks:
        yield _meta("thread_name", task.loop, tracks.task_tid(task.index), task.label)


def _loop_name(source: int, loop: Loop) -> str:
    """A loop's process name: "loop 1 (MainThread)", "loop 1 (MainThread, uvloop.Loop recorded
    from outside)"."""
    outside = f"{loop.outside} recorded from outside" if loop.outside else ""
    details = ", ".join(detail for detail in (loop.thread_name, outside) if detail)
    return f"loop {source} ({details})" if details else f"loop {source}"


# -- tasks ------------------------------------------------------------------------------------


def _step_slices(
    model: Model,
    task: Task,
    tracks: _Tracks,
    clock: _Clock,
    spans: Spans,
) -> Iterator[Event]:
    """A slice per step of `task`; `spans` gets each step's begin and end, for the flows."""
    tid = tracks.task_tid(task.index)
    begins, ends = spans
    for step in task.steps:
        begins.append(step.begin)
        ends.append(step.end)
        yield {
            "ph": "X",
            "ts": clock.us(step.begin),
            "dur": max(0, step.end - step.begin) / 1000,
            "pid": task.loop,
            "tid": tid,
            "name": task.coro,
            "cat": "step",
            "args": _step_args(model, task, step),
        }


def _step_args(model: Model, task: Task, step: Step) -> dict[str, Any]:
    """What a step's slice says: what the task waits on after it, and who woke it."""
    args: dict[str, Any] = {"task": task.label}
    if step.wait == -1:  # its last step
        args["waits_on"] = "nothing (done)"
        if task.outcome is not None:
            args["outcome"] = schema.OUTCOME_NAMES.get(task.outcome, str(task.outcome))
            if task.error:
                args["error"] = task.error
    else:
        args["waits_on"] = schema.WAIT_NAMES.get(step.wait, f"wait {step.wait}")
        detail = _wait_detail(model, step)
        if detail:
            args["waits_for"] = detail
    if step.site:
        args["site"] = step.site
    if step.chain:
        args["await_chain"] = step.chain
    if step.waker is None:
        args["woken_by"] = "nobody: it started eagerly, inside create_task"
    else:
        args["woken_by"] = step.waker.describe(model.tasks)
    args["scheduled_delay_us"] = max(0, step.begin - step.ready_since) / 1000
    return args


def _wait_detail(model: Model, step: Step) -> str:
    """Which task, timer or fd a step's wait names ("" when it names none)."""
    if step.wait == schema.WAIT_TASK and 0 <= step.ref < len(model.tasks):
        return model.tasks[step.ref].label
    if step.wait == schema.WAIT_SLEEP and step.ref:
        return f"timer #{step.ref}"
    if step.wait in (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE) and step.ref > 0:
        return f"fd {step.ref}"
    return ""


def _inside(begin: int, end: int, near_end: bool) -> int:
    """A time strictly inside a slice, 1 ns from one of its edges, where a flow binds to it.

    Perfetto binds a flow event to the slice open on its track at that time; at an edge, the
    neighbouring slice could be the one open.
    """
    if end - begin < 2:
        return begin
    return end - 1 if near_end else begin + 1


def _wakeup_flows(
    model: Model,
    tracks: _Tracks,
    clock: _Clock,
    spans: list[Spans],
) -> Iterator[Event]:
    """An arrow from each step that woke another task to the step it woke.

    A task's wakeups by its own earlier step (a bare yield, ``sleep(0)``) are left out: an arrow
    from a slice to the next one on the same track says nothing. So are steps of no length,
    which no flow can bind to.
    """
    flow_id = 0
    for task in model.tasks:
        begins, ends = spans[task.index]
        for i, step in enumerate(task.steps):
            waker = step.waker
            if waker is None or waker.origin != Origin.TASK or waker.ref == task.index:
                continue
            source = int(waker.ref)
            source_begins, source_ends = spans[source]
            at = bisect_left(source_ends, waker.t)
            if at == len(source_ends) or source_ends[at] != waker.t:
                continue
            if source_ends[at] == source_begins[at] or ends[i] == begins[i]:
                continue
            flow_id += 1
            yield {
                "ph": "s",
                "ts": clock.us(_inside(source_begins[at], source_ends[at], near_end=True)),
                "pid": model.tasks[source].loop,
                "tid": tracks.task_tid(source),
                "name": "wakeup",
                "cat": "wakeup",
                "id": flow_id,
            }
            yield {
                "ph": "f",
                "bp": "e",
                "ts": clock.us(_inside(begins[i], ends[i], near_end=False)),
                "pid": task.loop,
                "tid": tracks.task_tid(task.index),
                "name": "wakeup",
                "cat": "wakeup",
                "id": flow_id,
            }


def _tasks_alive(model: Model, source: int, tracks: _Tracks, clock: _Clock) -> Iterator[Event]:
    """A counter of the loop's tasks that were created and have not ended."""
    changes: list[tuple[int, int]] = []
    for task in model.tasks:
        if task.loop == source:
            changes.append((task.created, 1))
            if task.ended is not None:
                changes.append((task.ended, -1))
    changes.sort()
    alive = 0
    for i, (t, change) in enumerate(changes):
        alive += change
        if i + 1 == len(changes) or changes[i + 1][0] != t:  # one sample per time
            yield _counter(source, tracks.loop_tid[source], clock.us(t), "tasks", "alive", alive)


def _counter(pid: int, tid: int, ts: float, name: str, series: str, value: int) -> Event:
    # Perfetto names the counter track "<name> <series>".
    return {"ph": "C", "ts": ts, "pid": pid, "tid": tid, "name": name, "args": {series: value}}


# -- loops ------------------------------------------------------------------------------------


class _LoopTrack:
    """The loop track, callbacks track and ready-queue counter of one loop, from its records.

    A loop recorded from outside (LOOP_OUTSIDE) says when each handle begins (HANDLE_BEGIN), and
    nothing of its iterations or ready queue (every ``qlen`` is -1): those are left out.
    """

    def __init__(self, source: int, tracks: _Tracks, clock: _Clock) -> None:
        self.pid = source
        self.tid = tracks.loop_tid[source]
        self.callbacks_tid = tracks.callbacks_tid[source]
        self.us = clock.us
        self.strings: dict[int, str] = {}
        self.eager: set[int] = set()  # tasks whose next step runs inside create_task
        self.busy_begin: int | None = None  # READY.t of the iteration running handles
        self.handle_begin: int | None = None
        self.handles = 0
        self.ready: int | None = None  # the ready queue's length last reported
        self.outside = False  # recorded from outside: only a HANDLE_BEGIN gives a handle's begin
        self.handlers: dict[int, Callable[[Record], Iterator[Event]]] = {
            schema.STR: self._on_str,
            schema.TASK_NEW: self._on_task_new,
            schema.SELECT: self._on_select,
            schema.READY: self._on_ready,
            schema.CALLBACK: self._on_callback,
            schema.ABORT: self._on_abort,
            schema.IDLE: self._on_pause,
            schema.RUN_END: self._on_pause,
            schema.LOOP_CLOSE: self._on_pause,
            schema.LOOP_OUTSIDE: self._on_loop_outside,
            schema.HANDLE_BEGIN: self._on_handle_begin,
            **{kind: self._on_step for kind in _STEPS},
        }

    def feed(self, recs: list[Record]) -> Iterator[Event]:
        handlers = self.handlers
        for record in recs:
            handler = handlers.get(record[0])
            if handler is not None:
                yield from handler(record)

    def _slice(self, tid: int, begin: int, end: int, name: str, args: dict[str, Any]) -> Event:
        return {
            "ph": "X",
            "ts": self.us(begin),
            "dur": max(0, end - begin) / 1000,
            "pid": self.pid,
            "tid": tid,
            "name": name,
            "cat": "loop",
            "args": args,
        }

    def _queue_length(self, t: int, qlen: int) -> Iterator[Event]:
        if qlen != self.ready and qlen >= 0:  # a sample only when it changes and is known
            self.ready = qlen
            yield _counter(self.pid, self.tid, self.us(t), "ready queue", "handles", qlen)

    def end_busy(self) -> Iterator[Event]:
        """The busy stretch of the iteration running now, if it ran any handle."""
        if self.busy_begin is not None and self.handles and self.handle_begin is not None:
            args = {"handles": self.handles}
            yield self._slice(self.tid, self.busy_begin, self.handle_begin, "busy", args)
        self.busy_begin = None
        self.handles = 0

    def _handle_ran(self, t: int, qlen: int) -> Iterator[Event]:
        self.handles += 1
        # the next handle begins where this one ended; from outside, where its HANDLE_BEGIN says
        self.handle_begin = None if self.outside else t
        yield from self._queue_length(t, qlen)

    def _on_str(self, r: Record) -> Iterator[Event]:
        self.strings[r[1]] = r[2]
        return iter(())

    def _on_task_new(self, r: Record) -> Iterator[Event]:
        if r[7]:
            self.eager.add(r[2])
        return iter(())

    def _on_select(self, r: Record) -> Iterator[Event]:
        _, t, timeout, t_end, events, qlen = r
        yield from self.end_busy()
        waits = "until I/O" if timeout < 0 else f"{timeout / 1e6:.6g} ms"
        yield self._slice(self.tid, t, t_end, "select", {"timeout": waits, "events": events})
        yield from self._queue_length(t_end, qlen)

    def _on_ready(self, r: Record) -> Iterator[Event]:
        _, t, _qlen_io, ntodo, _timers = r
        yield from self.end_busy()
        self.busy_begin = self.handle_begin = t
        yield from self._queue_length(t, ntodo)

    def _on_step(self, r: Record) -> Iterator[Event]:
        t, task, qlen = r[1:4]
        if task in self.eager:  # ran inside its creator's handle, which goes on
            self.eager.discard(task)
            return self._queue_length(t, qlen)
        return self._handle_ran(t, qlen)

    def _on_callback(self, r: Record) -> Iterator[Event]:
        _, t, qlen, what = r
        if self.handle_begin is not None:
            name = _text(self.strings, what) or "callback"
            args = {"qlen_after": qlen} if qlen >= 0 else {}
            yield self._slice(self.callbacks_tid, self.handle_begin, t, name, args)
        yield from self._handle_ran(t, qlen)

    def _on_abort(self, r: Record) -> Iterator[Event]:
        return self._handle_ran(r[1], r[2])

    def _on_pause(self, r: Record) -> Iterator[Event]:
        return self.end_busy()

    def _on_loop_outside(self, r: Record) -> Iterator[Event]:
        self.outside = True
        self.handle_begin = None
        yield {
            "ph": "i",
            "s": "t",
            "ts": self.us(r[1]),
            "pid": self.pid,
            "tid": self.tid,
            "name": _NOT_RECORDED,
            "cat": "loop",
            "args": {"recorded_from_outside": _text(self.strings, r[2]) or "?"},
        }

    def _on_handle_begin(self, r: Record) -> Iterator[Event]:
        self.handle_begin = r[1]
        return iter(())


def _loop_events(trace: Trace, tracks: _Tracks, clock: _Clock) -> Iterator[Event]:
    """Loop tracks, callbacks and ready-queue counters, from the loops' own records."""
    loops: dict[int, _LoopTrack] = {}
    for batch in trace.batches:
        source = batch[0]
        if source == 0:
            continue
        loop = loops.get(source)
        if loop is None:
            loop = loops[source] = _LoopTrack(source, tracks, clock)
        # the model has checked every batch already
        yield from loop.feed(records(batch, validate=False))
    for loop in loops.values():
        yield from loop.end_busy()  # a trace cut inside an iteration


# -- the program ------------------------------------------------------------------------------


def _title(text: str) -> str:
    """The first line of `text`, short enough for a label."""
    line = text.strip().partition("\n")[0]
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"


def _program_instants(model: Model, tracks: _Tracks, clock: _Clock) -> Iterator[Event]:
    """Marks, loop errors, output and the exit status, on the program's track."""

    def instant(t: int, name: str, cat: str, args: dict[str, Any]) -> Event:
        return {
            "ph": "i",
            "s": "t",
            "ts": clock.us(t),
            "pid": tracks.program_pid,
            "tid": tracks.program_tid,
            "name": name,
            "cat": cat,
            "args": args,
        }

    def task_label(index: int | None) -> str:
        return "" if index is None else model.tasks[index].label

    for mark in model.marks:
        args = {"loop": mark.loop, "task": task_label(mark.task), "text": mark.text}
        yield instant(mark.t, _title(mark.text) or "mark", "mark", args)
    for error in model.errors:
        args = {"loop": error.loop, "task": task_label(error.task), "detail": error.detail}
        yield instant(error.t, f"loop error: {_title(error.message)}", "error", args)
    for output in model.output:
        stream = _STREAMS.get(output.stream, f"stream {output.stream}")
        args = {"stream": stream, "text": output.text}
        yield instant(output.t, f"{stream}: {_title(output.text)}", "output", args)
    if model.exit_status is not None:
        args = {"status": model.exit_status, "detail": model.exit_detail}
        yield instant(model.end, f"exit {model.exit_status}", "exit", args)
