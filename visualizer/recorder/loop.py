"""RecordingEventLoop: a SelectorEventLoop that records what it does, and changes nothing.

The moments it records, in one place:

- ``_run_once``: each iteration (select timeout and time blocked, I/O events, timers due, the
  ready count) and each handle it runs: a task step (with what the task waits on afterwards) or
  a plain callback, with the ready queue's length after it.
- ``create_task``: a task is born (name, coroutine, creation site, parent; the first step of an
  eager task runs in here).
- ``call_at``, ``_timer_handle_cancelled``: timers added and cancelled.
- ``_add_reader`` / ``_add_writer`` / ``_remove_*``: I/O watchers.
- ``call_soon_threadsafe``: another thread schedules a callback.
- ``call_exception_handler``: the loop reports an error.

The hot path (a task step that yields) appends four ints to a list; anything slower happens
only when a task waits on something, finishes, or is new.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import sys
import threading
import types
import weakref
from asyncio import base_events, futures, tasks
from types import FunctionType, MethodType
from typing import Any

from ..trace import schema
from . import core, waits

_clock = core.clock
_get_ident = threading.get_ident

_BuiltinMethod = type(len)
_task_done = tasks._CTask.done  # unbound: no attribute lookup on the task per step
_TASK_TYPES: tuple[type, ...] = (asyncio.Task,)
_PY_STEPS = waits.python_step_functions()
_SLEEP_CALLBACK = futures._set_result_unless_cancelled
_GATHERING = tasks._GatheringFuture
_FUTURE = asyncio.Future
_EAGER = sys.version_info >= (3, 12)
_IO_WAITS = (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE)
_CORO = types.CoroutineType
_GEN = types.GeneratorType


class _NoLoop(asyncio.AbstractEventLoop):
    def get_debug(self) -> bool:
        return False


_get_referents = gc.get_referents
_FUTURE_ITER = type(asyncio.Future(loop=_NoLoop()).__await__())
# get_coro() of a finished eager task returns NULL without an exception on 3.12.0-3.12.4
# (gh-122332): the interpreter crashes.
_GET_CORO_UNSAFE = (3, 12) <= sys.version_info < (3, 12, 5)

_MIN_SCHEDULED = base_events._MIN_SCHEDULED_TIMER_HANDLES
_MIN_CANCELLED_FRACTION = base_events._MIN_CANCELLED_TIMER_HANDLES_FRACTION
_MAX_TIMEOUT = base_events.MAXIMUM_SELECT_TIMEOUT
_WHATS_MAX = 4096
MEMOS_PER_TASK = 64  # lines of a task's coroutine whose last wait is remembered
_STREAM_READER = asyncio.StreamReader
_WOKE_FLUSH_NS = 1_000_000  # a select that waited longer than this is followed by a flush
QUEUED_MAX = 200  # the most ready handles a PAUSED record describes
GONE_KEPT = 64  # ids of collected tasks remembered, for the errors their finalizers report

SELECT = schema.SELECT
IO_EVENT = schema.IO_EVENT
TIMER_DUE = schema.TIMER_DUE
READY = schema.READY
CALLBACK = schema.CALLBACK
SKIP = schema.SKIP
STEP_YIELD = schema.STEP_YIELD
STEP_WAIT = schema.STEP_WAIT
WAIT_FUTURE = schema.WAIT_FUTURE
STEP_DONE = schema.STEP_DONE
ABORT = schema.ABORT
IDLE = schema.IDLE


def _task_of(callback: Any) -> Any:
    """The task whose step (or wakeup, which steps it) `callback` is, else None."""
    kind = type(callback)
    if kind is _STEP_WRAPPER:
        return callback.__self__
    if kind is _BuiltinMethod and callback.__name__ == "task_wakeup":
        owner = callback.__self__
        return owner if isinstance(owner, _TASK_TYPES) else None
    if kind is MethodType and callback.__func__ in _PY_STEPS:
        return callback.__self__
    return None


class _State:
    """A loop's recording state, in one slotted object.

    Kept off the loop's own ``__dict__`` on purpose: past 30 attributes an instance dict stops
    sharing keys with its class, and every ``self._ready`` in asyncio's own code gets slower.
    """

    __slots__ = (
        "rec", "src", "buf", "lock", "last_flush", "strings", "sid", "sites", "tasks",
        "names", "cancels", "timers", "timer_seq", "sleeps", "closed", "fresh", "offset",
        "waits", "codes", "several", "memos", "whats", "on_gone", "gate", "waiting", "gone",
    )  # fmt: skip

    def __init__(self, recorder: core.Recorder, owner: Any) -> None:
        self.rec = recorder
        self.src = recorder.new_source(owner)
        self.buf: list[Any] = [self.src]
        self.lock = threading.RLock()  # reentrant for the same reason as Recorder.lock
        self.last_flush = _clock()
        self.strings: dict[str, int] = {}
        self.sid = itertools.count(1)
        # (id(code), f_lasti) of the line that created a task -> string id of "file:line in f"
        self.sites: dict[tuple[int, int], int] = {}
        # The trace names a task by its id(); a weakref per task says when that id is free again.
        self.tasks: dict[int, _TaskRef] = {}
        self.names: dict[int, str] = {}  # id(task) -> the name last recorded
        self.cancels: dict[int, int] = {}  # id(task) -> cancellation requests seen
        self.timers: dict[int, int] = {}  # id(TimerHandle) -> timer number, while scheduled
        self.timer_seq = itertools.count(1)
        self.sleeps: dict[int, int] = {}  # id(sleep's future) -> its timer number
        self.closed = False
        self.fresh: list[int] = []  # tasks created this iteration: names are read once more
        self.offset = 0
        # await chain, as id(code) each followed by f_lasti where `several` says so
        # -> (primitive, its frame, site, chain, where its I/O wait's fd is read from);
        # `codes` keeps those code objects alive, so their ids can't be reused while cached.
        self.waits: dict[tuple[int, ...], tuple[int, int, int, int, Any]] = {}
        self.codes: set[Any] = set()
        # a bound method callback's function -> the string id of its name
        self.whats: dict[Any, int] = {}
        # id(task) -> {f_lasti of its coroutine: what it waited on there last, see _lv_memo}
        self.memos: dict[int, dict[int, list[Any]]] = {}
        self.several: set[int] = set()  # ids of codes that can be suspended at several places
        self.on_gone = self.task_gone  # one bound method for every task's weakref
        self.gone: dict[int, None] = {}  # ids of the tasks collected last, oldest first
        self.gate: Any = core.stepper  # a Stepper, while the program is being stepped
        # in select, or held by the stepper: not running a handle (the watchdog asks)
        self.waiting = True

    def put_foreign(self, *items: Any) -> None:
        """Append from a thread that is not running the loop (a GC callback, say)."""
        with self.lock:
            self.buf.extend(items)

    def task_gone(self, ref: _TaskRef) -> None:
        """A task was collected: its id may now be reused by a new task."""
        tid = ref.tid
        if self.tasks.get(tid) is ref:
            del self.tasks[tid]
            # The collector clears weak references before it runs finalizers: a pending task's
            # __del__ reports "destroyed but it is pending" after this. Name it all the same.
            self.gone[tid] = None
            if len(self.gone) > GONE_KEPT:
                del self.gone[next(iter(self.gone))]
        self.names.pop(tid, None)
        self.cancels.pop(tid, None)
        self.memos.pop(tid, None)
        self.put_foreign(schema.TASK_GONE, _clock(), tid)


class _TaskRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a task that remembers the task's id."""

    __slots__ = ("tid",)


class RecordingLoop:
    """The recorder, as a mixin over any selector event loop class: put it first in the bases
    (``class X(RecordingLoop, SomeSelectorLoop)``), or let `recording_class` do it."""

    _lv: _State

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lv_open(core.current())
        super().__init__(*args, **kwargs)

    def _lv_open(self, recorder: core.Recorder) -> None:
        """Start recording; before the base constructor, which already registers the self-pipe
        reader."""
        self._lv = _State(recorder, self)
        now, loop_now = _clock(), int(self.time() * 1e9)  # type: ignore[attr-defined]
        self._lv.offset = now - loop_now
        thread = threading.current_thread()
        self._lv.buf.extend((
            schema.LOOP_OPEN, now, loop_now, thread.ident,
            self._lv_intern(thread.name), self._lv_intern(type(self).__qualname__),
        ))  # fmt: skip

    # -- buffer --------------------------------------------------------------------------

    def _lv_flush(self) -> None:
        """Write the buffered records as one batch."""
        with self._lv.lock:
            buf = self._lv.buf
            if len(buf) <= 1:
                return
            self._lv.buf = [self._lv.src]
        self._lv.last_flush = _clock()
        self._lv.rec.write(buf)

    def _lv_intern(self, text: str) -> int:
        sid = self._lv.strings.get(text)
        if sid is None:
            sid = self._lv.strings[text] = next(self._lv.sid)
            self._lv.buf.extend((schema.STR, sid, text))
        return sid

    def _lv_ns(self, when: float) -> int:
        return int(when * 1e9) + self._lv.offset

    # -- tasks ---------------------------------------------------------------------------

    def _lv_register(
        self, task: Any, t: int, eager: int, coro: Any = None, caller: Any = None
    ) -> None:
        """Record a task's birth (`coro`: its coroutine, `caller`: create_task's caller)."""
        lv = self._lv
        tid = id(task)
        ref = _TaskRef(task, lv.on_gone)
        ref.tid = tid
        lv.tasks[tid] = ref
        parent = asyncio.current_task(self)
        if coro is None and isinstance(task, _TASK_TYPES):
            coro = None if _GET_CORO_UNSAFE and task.done() else task.get_coro()
        coro_name = waits.coro_name(coro)
        name = task.get_name() if isinstance(task, _TASK_TYPES) else repr(task)
        lv.names[tid] = name
        lv.fresh.append(tid)
        if lv.gate is not None:
            lv.gate.saw("task")
        lv.buf.extend((
            schema.TASK_NEW, t, tid, name, self._lv_intern(coro_name),
            self._lv_creation_site(caller), 0 if parent is None else id(parent), eager,
        ))  # fmt: skip

    def _lv_adopt(self, task: Any) -> None:
        """Record a task made without create_task (``asyncio.Task(...)``): where is unknown."""
        self._lv_register(task, _clock(), 0)

    def _lv_creation_site(self, frame: Any) -> int:
        """The string id of the first line outside asyncio that led to this frame (0: none)."""
        frame = waits.caller_site(frame)
        if frame is None:
            return 0
        key = (id(frame.f_code), frame.f_lasti)
        sid = self._lv.sites.get(key)
        if sid is None:
            self._lv.codes.add(frame.f_code)  # keeps the id in the key from being reused
            site = waits.format_site(frame.f_code, frame.f_lineno)
            sid = self._lv.sites[key] = self._lv_intern(site)
        return sid

    def _lv_step_end(self, task: Any, t: int, qlen: int) -> None:
        """Record the end of any step: the task finished, yielded, or waits."""
        waiter = task._fut_waiter
        if waiter is not None:
            self._lv_step_wait(task, waiter, t, qlen)
            return
        tid = id(task)
        if tid not in self._lv.tasks:
            self._lv_adopt(task)
        buf = self._lv.buf
        if task.done():
            if self._lv.gate is not None:
                self._lv.gate.saw("done")
            if task.cancelling():
                self._lv_cancel_check(task, t)  # asked while it was ready, and it carried on
            # Renamed since? (Names given at creation are read by _lv_check_names.)
            name = task.get_name()
            if name != self._lv.names.get(tid):
                self._lv.names[tid] = name
                buf.extend((schema.TASK_NAME, t, tid, name))
            if task.cancelled():
                buf.extend((STEP_DONE, t, tid, qlen, schema.OUTCOME_CANCELLED, 0))
                return
            exc = task._exception
            if exc is None:
                buf.extend((STEP_DONE, t, tid, qlen, schema.OUTCOME_OK, 0))
            else:
                detail = self._lv_intern(waits.format_exception(exc))
                buf.extend((STEP_DONE, t, tid, qlen, schema.OUTCOME_FAILED, detail))
            return
        buf.extend((STEP_YIELD, t, tid, qlen))

    def _lv_step_wait(self, task: Any, waiter: Any, t: int, qlen: int) -> None:
        """Record a step after which `task` waits on `waiter`: what it is, and where.
        (_lv_run_ready first tries the task's memo for the line it waits at, inline.)"""
        lv = self._lv
        tid = id(task)
        if tid not in lv.tasks:
            self._lv_adopt(task)
        if lv.cancels or task.cancelling():
            # a request the task's wakeup did not show: it came while the task was ready
            self._lv_cancel_check(task, t)
        if type(waiter) is _FUTURE and not lv.sleeps:
            kind = schema.WAIT_FUTURE  # the common case, decided without isinstance
            ref = 0
        else:
            kind, ref = self._lv_waiter_kind(waiter)
        self._lv_step_wait_keyed(task, tid, kind, ref, t, qlen)

    def _lv_step_wait_keyed(
        self, task: Any, tid: int, kind: int, ref: int, t: int, qlen: int
    ) -> None:
        """The same, for a chain the task did not wait in last time at that line: found by
        its key (each code's id, and f_lasti where `several` says so), and kept as the task's
        memo for that line."""
        lv = self._lv
        key, last = waits.chain_key(task.get_coro(), lv.several, _FUTURE_ITER)
        cached = None if key is None else lv.waits.get(key)
        if cached is None:
            cached, last = self._lv_new_chain(task)
        memo = self._lv_memo(task, tid, cached)
        primitive, where, site, chain, io = cached
        if kind == schema.WAIT_FUTURE and primitive:
            kind = primitive
            if io is not None:
                ref = self._lv_io_fd(last, io, memo)
        lv.buf.extend((STEP_WAIT, t, tid, qlen, kind, ref, site, chain))

    def _lv_memo(self, task: Any, tid: int, entry: tuple[Any, ...]) -> list[Any] | None:
        """Keep `entry` as what `task` waits on when its coroutine waits at this line again
        (a list: _lv_io_fd updates the stream it read); a task's memos are forgotten when
        they pass MEMOS_PER_TASK lines. None for a chain that is not all coroutines."""
        coro = task.get_coro()
        if type(coro) is not _CORO or entry[4] is waits.IO_BY_FRAME:
            return None
        checks = waits.chain_checks(coro, self._lv.several, _FUTURE_ITER)
        if checks is None:
            return None
        memos = self._lv.memos.get(tid)
        if memos is None:
            memos = self._lv.memos[tid] = {}
        elif len(memos) >= MEMOS_PER_TASK:
            memos.clear()
        memo = memos[coro.cr_frame.f_lasti] = [checks, entry, None, 0]
        return memo

    def _lv_io_fd(self, last: Any, io: tuple[int, Any, bool], memo: Any) -> int:
        """The fd of an I/O wait (waits.io_fd_at); a plain StreamReader it was read from is
        kept, weakly, in the memo: while its ``_waiter`` is the task's, the fd is the same."""
        fd, stream = waits.io_fd_at(last, io)
        if memo is not None and type(stream) is _STREAM_READER:
            memo[2] = weakref.ref(stream)
            memo[3] = fd
        return fd

    def _lv_new_chain(self, task: Any) -> tuple[tuple[Any, ...], Any]:
        """The wait entry of an await chain not seen before, kept under its key when it has
        one, and where to read its I/O wait's fd this time (a coroutine, or a frame)."""
        coros = waits.await_chain(task.get_coro())
        frames = [waits.frame_of(coro) for coro in coros]
        lv = self._lv
        for frame in frames:
            code = frame.f_code
            if code not in lv.codes:
                lv.codes.add(code)  # keeps its id in `several` and `waits` from being reused
                if waits.suspension_points(code) != 1:
                    lv.several.add(id(code))
        primitive, where, site, chain = self._lv_wait_entry(frames)
        key = waits.chain_key(task.get_coro(), lv.several, _FUTURE_ITER)[0]
        io = None
        if primitive in _IO_WAITS:
            # read from the innermost coroutine's stack, where is learnt here once
            if where == len(coros) - 1 and key is not None:
                io = waits.io_slot(coros[where], frames[where])
            else:
                io = waits.IO_BY_FRAME
        entry = primitive, where, site, chain, io
        if key is not None and io is not waits.IO_BY_FRAME:
            lv.waits[key] = entry
        if not coros:
            return entry, None
        return entry, frames[where] if io is waits.IO_BY_FRAME else coros[where]

    def _lv_wait_entry(self, frames: list[Any]) -> tuple[int, int, int, int]:
        """(primitive kind, index of its frame, site id, chain id) for an await chain."""
        if not frames:
            return 0, 0, 0, 0
        where = 0
        for i in range(len(frames) - 1, -1, -1):
            if frames[i].f_code in waits.PRIMITIVES:
                where = i
                break
        lines = [waits.format_site(frame.f_code, frame.f_lineno) for frame in frames]
        user = [line for frame, line in zip(frames, lines, strict=True)
                if not waits.is_library_frame(frame)]  # fmt: skip
        site = self._lv_intern(user[-1] if user else lines[-1])
        return waits.primitive_of(frames), where, site, self._lv_intern("\n".join(lines))

    def _lv_waiter_kind(self, waiter: Any) -> tuple[int, int]:
        if type(waiter) is _FUTURE and not self._lv.sleeps:
            return schema.WAIT_FUTURE, 0  # the common case, decided without isinstance
        if isinstance(waiter, _TASK_TYPES):
            if id(waiter) not in self._lv.tasks:
                self._lv_adopt(waiter)
            return schema.WAIT_TASK, id(waiter)
        if self._lv.sleeps:
            timer = self._lv.sleeps.pop(id(waiter), 0)
            if timer:
                return schema.WAIT_SLEEP, timer
        if isinstance(waiter, _GATHERING):
            return schema.WAIT_GATHER, 0
        return schema.WAIT_FUTURE, 0

    def _lv_check_names(self) -> None:
        """Record the names given just after creation (``asyncio.create_task(name=...)``)."""
        fresh, self._lv.fresh = self._lv.fresh, []
        for tid in fresh:
            ref = self._lv.tasks.get(tid)
            task = ref() if ref is not None else None
            if task is None:
                continue
            name = task.get_name()
            if name != self._lv.names.get(tid):
                self._lv.names[tid] = name
                self._lv.buf.extend((schema.TASK_NAME, _clock(), tid, name))

    def _lv_cancel_check(self, task: Any, t: int) -> None:
        tid = id(task)
        requests = task.cancelling()
        if requests > self._lv.cancels.get(tid, 0):
            self._lv.buf.extend((schema.TASK_CANCEL, t, tid, requests))
        if requests:
            self._lv.cancels[tid] = requests
        else:
            self._lv.cancels.pop(tid, None)

    def _lv_run_debug(self, handle: Any) -> None:
        """Run a handle the way the base loop does in debug mode (slow callback warning)."""
        try:
            self._current_handle = handle
            t0 = self.time()
            handle._run()
            dt = self.time() - t0
            if dt >= self.slow_callback_duration:
                base_events.logger.warning(
                    "Executing %s took %.3f seconds", base_events._format_handle(handle), dt
                )
        finally:
            self._current_handle = None
            handle = None

    def _lv_what_of(self, key: Any, callback: Any) -> int:
        """The string id of a bound method's name, kept by its function, which the cache keeps
        alive; a program that makes classes without end only empties the cache now and then."""
        whats = self._lv.whats
        if len(whats) >= _WHATS_MAX:
            whats.clear()
        what = whats[key] = self._lv_what(callback)
        return what

    def _lv_what(self, callback: Any) -> int:
        return self._lv_intern(waits.describe_callback(callback))

    # -- the loop iteration ----------------------------------------------------------------

    def _run_once(self) -> None:
        """One iteration of the loop, as BaseEventLoop._run_once does it, recorded."""
        buf = self._lv.buf
        now = _clock()
        if len(buf) > core.FLUSH_ITEMS or now - self._lv.last_flush > core.FLUSH_NS:
            self._lv_flush()
            buf = self._lv.buf
        ext = buf.extend
        if self._lv.fresh:
            self._lv_check_names()
        scheduled = self._scheduled
        sched_count = len(scheduled)
        if (
            sched_count > _MIN_SCHEDULED
            and self._timer_cancelled_count / sched_count > _MIN_CANCELLED_FRACTION
        ):
            new_scheduled = []
            for handle in scheduled:
                if handle._cancelled:
                    handle._scheduled = False
                else:
                    new_scheduled.append(handle)
            heapq.heapify(new_scheduled)
            self._scheduled = scheduled = new_scheduled
            self._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0]._cancelled:
                self._timer_cancelled_count -= 1
                handle = heapq.heappop(scheduled)
                handle._scheduled = False

        gate = self._lv.gate
        if gate is not None:
            if gate.applies(self):
                gate.at_top(self)  # may hold the loop here, its clock standing still
                buf = self._lv.buf  # a hold flushes: what follows goes in the new buffer
                ext = buf.extend
            else:
                gate = None

        ready = self._ready
        timeout = None
        if ready or self._stopping:
            timeout = 0
        elif scheduled:
            timeout = scheduled[0]._when - self.time()
            if timeout > _MAX_TIMEOUT:
                timeout = _MAX_TIMEOUT
            elif timeout < 0:
                timeout = 0

        if timeout != 0:
            # About to block: let a live viewer see everything up to here, and that it waits.
            ext((IDLE, _clock(), -1 if timeout is None else int(timeout * 1e9)))
            self._lv.rec.on_idle()
            if len(buf) > 1:
                self._lv_flush()
                buf = self._lv.buf
                ext = buf.extend

        lv = self._lv
        lv.waiting = True
        t0 = _clock()
        event_list = self._selector.select(timeout)
        t1 = _clock()
        lv.waiting = False
        # What other threads (or signal handlers) appended is in here too: the replay can tell.
        qlen = len(ready)
        ext((SELECT, t0, -1 if timeout is None else int(timeout * 1e9), t1, len(event_list), qlen))
        for key, mask in event_list:
            ext((IO_EVENT, key.fd, mask))
        if t1 - t0 > _WOKE_FLUSH_NS:
            # Woken after a real wait: say so at once, so that if what runs next blocks the
            # loop, a live viewer sees it is not idle. Cheap: the loop was idle anyway.
            self._lv_flush()
            buf = self._lv.buf
            ext = buf.extend
        self._process_events(event_list)
        event_list = None
        qlen_io = len(ready)

        end_time = self.time() + self._clock_resolution
        timers = self._lv.timers
        while scheduled:
            handle = scheduled[0]
            if handle._when >= end_time:
                break
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
            ready.append(handle)
            ext((TIMER_DUE, timers.pop(id(handle), 0)))

        ntodo = len(ready)
        ext((READY, _clock(), qlen_io, ntodo, len(scheduled)))
        handle = key = None  # this frame outlives the handles in a kept traceback's f_back
        if gate is not None:
            if qlen_io > qlen:
                gate.saw("io", qlen_io - qlen)
            if ntodo > qlen_io:
                gate.saw("timer", ntodo - qlen_io)
            self._lv_run_ready_gated(ready, ntodo, gate)
        elif self._debug:
            self._lv_run_ready_debug(ready, ntodo)
        else:
            self._lv_run_ready(ready, ntodo, ext)

    def _lv_run_ready(self, ready: Any, ntodo: int, ext: Any) -> None:
        """Run the iteration's ready handles. Every bytecode here costs per task step."""
        popleft = ready.popleft
        step_wrapper = _STEP_WRAPPER
        cancels = self._lv.cancels
        whats = self._lv.whats
        strings = self._lv.strings
        all_memos = self._lv.memos
        sleeps = self._lv.sleeps
        done = _task_done
        handle = callback = task = waiter = coro = obj = reader = None
        try:
            for _ in range(ntodo):
                handle = popleft()
                if handle._cancelled:
                    ext((SKIP, len(ready)))
                    continue
                callback = handle._callback
                tp = type(callback)
                if tp is MethodType:
                    what = whats.get(callback.__func__)
                    if what is None:
                        if callback.__func__ in _PY_STEPS:  # the pure-Python Task's step
                            self._lv_run_handle(handle, ready, None)
                            continue
                        what = self._lv_what_of(callback.__func__, callback)
                    handle._run()
                    ext((CALLBACK, _clock(), len(ready), what))
                    continue
                if tp is _BuiltinMethod:
                    if callback.__name__ != "task_wakeup" or not isinstance(
                        task := callback.__self__, _TASK_TYPES
                    ):
                        self._lv_run_handle(handle, ready, None)
                        continue
                    if cancels or task.cancelling():
                        self._lv_cancel_check(task, _clock())
                elif tp is step_wrapper:
                    task = callback.__self__
                elif tp is FunctionType:
                    # by name: closures come and go, their names stay (and wraps() renames)
                    what = strings.get(callback.__qualname__)
                    if what is None:
                        what = self._lv_what(callback)
                    handle._run()
                    ext((CALLBACK, _clock(), len(ready), what))
                    continue
                else:
                    self._lv_run_handle(handle, ready, None)
                    continue
                # a C task's step or wakeup
                handle._run()
                waiter = task._fut_waiter
                if waiter is not None:
                    if (
                        (memos := all_memos.get(tid := id(task))) is not None
                        and type(waiter) is _FUTURE
                        and not cancels
                        and (not sleeps or id(waiter) not in sleeps)  # a sleep's: the long way
                        and not task.cancelling()
                        and (memo := memos.get((coro := task.get_coro()).cr_frame.f_lasti))
                    ):
                        # Most waits are where the task waited before at this line of its own
                        # coroutine: that chain is checked level by level (the same code objects,
                        # the same f_lasti where a deeper code has several awaits) rather than
                        # keyed (see _lv_step_wait_keyed, which keeps the memo). Here, not in a
                        # method: a call costs more than the check.
                        checks, entry, stream, fd = memo
                        obj = coro.cr_await
                        for code, lasti in checks:
                            if (
                                type(obj) is not _CORO
                                or obj.cr_code is not code
                                or (lasti >= 0 and obj.cr_frame.f_lasti != lasti)
                            ):
                                break
                            obj = obj.cr_await
                        else:
                            if obj is None or type(obj) is _FUTURE_ITER:
                                kind, _, site, chain, io = entry
                                ref = 0
                                if io is not None:
                                    reader = stream() if stream is not None else None
                                    # the stream it read last time, if it still waits on that one
                                    if reader is not None and reader._waiter is waiter:
                                        ref = fd
                                    else:
                                        ref = self._lv_io_fd(waits.innermost(coro), io, memo)
                                ext(
                                    (STEP_WAIT, _clock(), tid, len(ready), kind or WAIT_FUTURE,
                                     ref, site, chain)
                                )  # fmt: skip
                                continue
                    self._lv_step_wait(task, waiter, _clock(), len(ready))
                    continue
                if not done(task):
                    # a task never seen is adopted at its first wait or its end
                    ext((STEP_YIELD, _clock(), id(task), len(ready)))
                else:
                    self._lv_step_end(task, _clock(), len(ready))
        except BaseException:
            ext((ABORT, _clock(), len(ready)))
            raise
        finally:
            # break cycles, as the base loop does
            handle = callback = task = waiter = coro = obj = reader = None

    def _lv_run_ready_debug(self, ready: Any, ntodo: int) -> None:
        """The same in debug mode, where each handle is timed for the slow-callback warning."""
        handle = None
        try:
            for _ in range(ntodo):
                handle = ready.popleft()
                if handle._cancelled:
                    self._lv.buf.extend((SKIP, len(ready)))
                    continue
                self._lv_run_handle(handle, ready, self._lv_run_debug)
        except BaseException:
            self._lv.buf.extend((ABORT, _clock(), len(ready)))
            raise
        finally:
            handle = None

    def _lv_run_ready_gated(self, ready: Any, ntodo: int, gate: Any) -> None:
        """The same under a stepper, which may hold the loop before each handle."""
        handle = None
        run = self._lv_run_debug if self._debug else None
        try:
            for k in range(1, ntodo + 1):
                handle = ready.popleft()
                if handle._cancelled:
                    self._lv.buf.extend((SKIP, len(ready)))
                    continue
                gate.at_handle(self, handle, k, ntodo)
                self._lv_run_handle(handle, ready, run)
        except BaseException:
            self._lv.buf.extend((ABORT, _clock(), len(ready)))
            raise
        finally:
            handle = None

    def _lv_select_timeout(self) -> tuple[float | None, int]:
        """The timeout this iteration's select will get, as _run_once works it out, and why."""
        if self._ready:
            return 0, schema.WHY_READY
        if self._stopping:
            return 0, schema.WHY_STOPPING
        scheduled = self._scheduled
        if not scheduled:
            return None, schema.WHY_NOTHING
        timeout = min(max(0, scheduled[0]._when - self.time()), _MAX_TIMEOUT)
        return timeout, schema.WHY_TIMER

    def _lv_paused(
        self, point: int, k: int, n: int, timeout: float | None, why: int, handle: Any
    ) -> None:
        """Say that a stepper holds the loop here, with what is queued, and let a viewer see."""
        ready = list(self._ready)[:QUEUED_MAX]
        if handle is not None:
            ready.insert(0, handle)
        timeout_ns = -1 if timeout is None else int(timeout * 1e9)
        buf = self._lv.buf
        buf.extend((schema.PAUSED, _clock(), point, k, n, timeout_ns, why, len(ready)))
        for queued in ready:
            task = _task_of(queued._callback)
            if task is None:
                what, where = self._lv_what(queued._callback), 0
            else:
                woken = type(queued._callback) is _BuiltinMethod  # task_wakeup
                what = self._lv_intern("wakeup" if woken else "step")
                where = self._lv_resume_site(task)
            buf.extend((schema.QUEUED, 0 if task is None else id(task), what, where))
        self._lv.rec.on_idle()  # what the program printed, up to here
        self._lv_flush()

    def _lv_resume_site(self, task: Any) -> int:
        """The string id of "file:line in f" where `task` goes on from: the innermost
        coroutine of its await chain (its first line, if it never ran)."""
        coro = None if _GET_CORO_UNSAFE and task.done() else task.get_coro()
        frame = None
        while type(coro) in (_CORO, _GEN):
            inner = coro.cr_frame if type(coro) is _CORO else coro.gi_frame
            if inner is not None and (frame is None or not waits.is_library_frame(inner)):
                frame = inner  # the innermost of the program's own, not asyncio's Queue.get
            coro = coro.cr_await if type(coro) is _CORO else coro.gi_yieldfrom
        if frame is None:
            return 0
        return self._lv_intern(waits.format_site(frame.f_code, frame.f_lineno))

    def _lv_resumed(self, lag: int) -> None:
        self._lv.buf.extend((schema.RESUMED, _clock(), lag))
        self._lv_flush()

    def _lv_run_handle(self, handle: Any, ready: Any, run: Any) -> None:
        """Run any handle and record it: a task step, or a plain callback."""
        callback = handle._callback
        task = _task_of(callback)
        try:
            if task is None:
                handle._run() if run is None else run(handle)
                self._lv.buf.extend((CALLBACK, _clock(), len(ready), self._lv_what(callback)))
                return
            self._lv_cancel_check(task, _clock())
            handle._run() if run is None else run(handle)
            self._lv_step_end(task, _clock(), len(ready))
        finally:
            # A traceback kept by the program reaches this frame through f_back: let it hold
            # nothing of the program's, as BaseEventLoop._run_once takes care to.
            handle = callback = task = None

    # -- loop lifecycle --------------------------------------------------------------------

    def run_forever(self) -> None:
        thread = threading.current_thread()
        self._lv.buf.extend(
            (schema.RUN_BEGIN, _clock(), thread.ident, self._lv_intern(thread.name))
        )
        try:
            super().run_forever()
        finally:
            self._lv.buf.extend((schema.RUN_END, _clock()))
            self._lv_flush()

    def close(self) -> None:
        super().close()
        if not self._lv.closed:
            self._lv.closed = True
            self._lv.buf.extend((schema.LOOP_CLOSE, _clock()))
            self._lv_flush()

    # -- tasks and timers ------------------------------------------------------------------

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        maybe_eager = _EAGER and (self._task_factory is not None or bool(kwargs.get("eager_start")))
        if maybe_eager:
            self._lv.buf.extend((schema.EAGER_BEGIN, _clock()))
        task = super().create_task(coro, **kwargs)
        try:
            t = _clock()
            if task._source_traceback:
                waits.strip_own_frames(task._source_traceback)
            if id(task) in self._lv.tasks:
                return task  # numbered already, by a child its eager first step created
            eager = (
                maybe_eager
                and isinstance(task, _TASK_TYPES)
                and (task.done() or getattr(coro, "cr_suspended", False))
            )
            self._lv_register(task, t, int(eager), coro, sys._getframe(1))
            if eager:
                self._lv_step_end(task, t, len(self._ready))
            return task
        finally:
            # An eager step's traceback reaches this frame: don't let it keep the task alive
            # (CPython's own create_task drops it for the same reason, gh-128552).
            del task

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        timer = super().call_at(when, callback, *args, context=context)
        if timer._source_traceback:
            waits.strip_own_frames(timer._source_traceback)
        seq = next(self._lv.timer_seq)
        self._lv.timers[id(timer)] = seq
        if callback is _SLEEP_CALLBACK and args:
            self._lv.sleeps[id(args[0])] = seq
        self._lv.buf.extend(
            (schema.TIMER_ADD, _clock(), seq, self._lv_ns(when), self._lv_what(callback))
        )
        return timer

    def _timer_handle_cancelled(self, handle: Any) -> None:
        super()._timer_handle_cancelled(handle)
        seq = self._lv.timers.pop(id(handle), 0)
        if seq:
            self._lv.buf.extend((schema.TIMER_CANCEL, _clock(), seq))

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        # Written before the append, so it precedes in the trace whatever batch sees the handle.
        rec = self._lv.rec
        what = rec.intern(waits.describe_callback(callback))
        rec.emit(schema.THREADSAFE, _clock(), self._lv.src, _get_ident(), what)
        handle = super().call_soon_threadsafe(callback, *args, context=context)
        if handle._source_traceback:
            waits.strip_own_frames(handle._source_traceback)
        return handle

    # -- I/O watchers ----------------------------------------------------------------------

    def _lv_io(self, kind: int, fd: Any, mask: int, callback: Any = None) -> None:
        try:
            fd = fd if isinstance(fd, int) else fd.fileno()
        except Exception:
            return
        if kind == schema.IO_ADD:
            self._lv.buf.extend((kind, _clock(), fd, mask, self._lv_what(callback)))
        else:
            self._lv.buf.extend((kind, _clock(), fd, mask))

    # 3.15's transports pass ``context=``; earlier versions take none: pass on what comes.
    def _add_reader(self, fd: Any, callback: Any, *args: Any, **kwargs: Any) -> Any:
        result = super()._add_reader(fd, callback, *args, **kwargs)
        self._lv_io(schema.IO_ADD, fd, schema.READ, callback)
        return result

    def _add_writer(self, fd: Any, callback: Any, *args: Any, **kwargs: Any) -> Any:
        result = super()._add_writer(fd, callback, *args, **kwargs)
        self._lv_io(schema.IO_ADD, fd, schema.WRITE, callback)
        return result

    def _remove_reader(self, fd: Any) -> bool:
        removed = super()._remove_reader(fd)
        if removed:
            self._lv_io(schema.IO_REMOVE, fd, schema.READ)
        return removed

    def _remove_writer(self, fd: Any) -> bool:
        removed = super()._remove_writer(fd)
        if removed:
            self._lv_io(schema.IO_REMOVE, fd, schema.WRITE)
        return removed

    # -- errors and marks ------------------------------------------------------------------

    def _lv_note(self, kind: int, task: int, *texts: str) -> None:
        """Record an EXCEPTION or MARK: in place when on the loop's thread, else via source 0."""
        if self._thread_id == _get_ident() or self._thread_id is None:
            sids = [self._lv_intern(text) if text else 0 for text in texts]
            self._lv.buf.extend((kind, _clock(), 0, task, *sids))
        else:
            rec = self._lv.rec
            sids = [rec.intern(text) if text else 0 for text in texts]
            rec.emit(kind, _clock(), self._lv.src, task, *sids)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        try:
            future = context.get("future") or context.get("task")
            known = id(future) in self._lv.tasks or id(future) in self._lv.gone
            task = id(future) if known else 0
            exc = context.get("exception")
            detail = waits.format_exception(exc) if isinstance(exc, BaseException) else ""
            self._lv_note(schema.EXCEPTION, task, str(context.get("message", "")), detail)
            if self._lv.gate is not None:
                self._lv.gate.saw("error")
        except Exception:
            pass  # the program's own handler must run whatever the recorder thinks
        super().call_exception_handler(context)


class RecordingEventLoop(RecordingLoop, asyncio.SelectorEventLoop):
    """asyncio's SelectorEventLoop, recording every scheduling event into the current recorder
    (or `recorder`)."""

    def __init__(self, selector: Any = None, *, recorder: core.Recorder | None = None) -> None:
        self._lv_open(recorder or core.current())
        super(RecordingLoop, self).__init__(selector)  # the selector loop's, past the mixin's


_RECORDING_CLASSES: dict[tuple[type, type], type] = {}
_RECORDING_CLASSES_LOCK = threading.Lock()


def recordable(cls: type) -> bool:
    """Whether loops of `cls` can be recorded: a selector loop that runs its iterations with
    asyncio's own ``_run_once`` (the recorder re-implements that one method)."""
    return (
        issubclass(cls, base_events.BaseEventLoop)
        and issubclass(cls, asyncio.selector_events.BaseSelectorEventLoop)
        and (issubclass(cls, RecordingLoop) or cls._run_once is base_events.BaseEventLoop._run_once)
    )


def recording_class(cls: type) -> type:
    """The recording subclass of the loop class `cls`, made once: the same name, qualified name
    and module, so the loop's repr and the names the program sees stay as they were."""
    return subclass_with(RecordingLoop, cls)


def subclass_with(mixin: type, cls: type) -> type:
    """``class cls.__name__(mixin, cls)``, made once per pair, under `cls`'s own name, qualified
    name, module and docstring (`cls` itself when it already has `mixin`)."""
    if issubclass(cls, mixin):
        return cls
    made = _RECORDING_CLASSES.get((mixin, cls))
    if made is None:
        with _RECORDING_CLASSES_LOCK:
            made = _RECORDING_CLASSES.get((mixin, cls))
            if made is None:
                namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                             "__doc__": cls.__doc__}  # fmt: skip
                made = type(cls.__name__, (mixin, cls), namespace)
                _RECORDING_CLASSES[mixin, cls] = made
    return made


def _step_wrapper_type() -> type:
    """The type of the C Task's step callback (TaskStepMethWrapper), seen once at import."""

    class _Probe(asyncio.AbstractEventLoop):
        seen: Any = None

        def call_soon(self, callback: Any, *args: Any, context: Any = None) -> None:
            _Probe.seen = type(callback)

        def get_debug(self) -> bool:
            return False

    async def nothing() -> None:
        return None

    coro = nothing()
    try:
        # Named, so it does not take "Task-1" from the program's first unnamed task.
        task = tasks.Task(coro, loop=_Probe(), name="loopviz-probe")
        task._log_destroy_pending = False
    finally:
        coro.close()
    return _Probe.seen


_STEP_WRAPPER = _step_wrapper_type()
