"""Recording uvloop's loop from outside: a Python subclass of ``uvloop.Loop`` that records what
goes through the loop's Python methods, while uvloop's C loop runs everything as it would.

uvloop runs its iterations, its I/O and its own callbacks in C: there is no ``_run_once`` to
record, no select to time and no ready queue to read. What a subclass can see, it records with
the asyncio recorder's records and helpers (`loop.RecordingLoop`'s ``_lv_*``):

- ``call_soon``: each callback queued through it runs wrapped, so that its run is recorded: a
  task's step or wakeup (a C task schedules both with ``loop.call_soon``, found by method
  lookup) with how it ended (yielded, waits on what, done), or a plain callback. Each run
  begins with a HANDLE_BEGIN: when it began, when it was queued and which recorded handle
  queued it (none: uvloop's own code did, its I/O or its callbacks).
- ``call_later``, ``call_at``: timers added, their run (a TIMER_DUE at their HANDLE_BEGIN) and
  their cancellation (uvloop lets go of the wrapped callback then).
- ``create_task``, ``run_forever``, ``close``, ``call_soon_threadsafe``,
  ``call_exception_handler``: as the asyncio recorder records them.

What it cannot see is never written: no SELECT, IDLE, READY, IO_EVENT, SKIP or I/O watchers,
and every ``qlen`` is -1. A LOOP_OUTSIDE record after the loop's LOOP_OPEN says so.

A wrapped callback must look like the callback to whatever inspects the handle (its repr, the
"Exception in callback ..." message, ``__qualname__``, ``__self__``), run in the handle's
context, and leave no frame of ours in an exception's traceback.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import weakref
from typing import Any

from ..trace import schema
from . import core, waits
from .loop import (
    _EAGER,
    _SLEEP_CALLBACK,
    _STEP_WRAPPER,
    _TASK_TYPES,
    RecordingLoop,
    _task_done,
    _task_of,
    subclass_with,
)
from .loop import _State as _LoopState

_clock = core.clock
_get_ident = threading.get_ident
_getframe = sys._getframe

HANDLE_BEGIN = schema.HANDLE_BEGIN
STEP_YIELD = schema.STEP_YIELD
CALLBACK = schema.CALLBACK
TIMER_DUE = schema.TIMER_DUE
ABORT = schema.ABORT
BY_TASK = schema.BY_TASK
BY_TIMER = schema.BY_TIMER
BY_CALLBACK = schema.BY_CALLBACK
BY_THREAD = schema.BY_THREAD
UNKNOWN = -1  # every qlen: the ready queue is uvloop's, out of sight

# What queued a handle when no recorded handle was running: (by, ref, what, via, via_ref).
_BY_UNSEEN = (schema.BY_UNSEEN, 0, 0, 0, 0)  # the loop runs: uvloop's own code (I/O, callbacks)
_BY_OUTSIDE = (schema.BY_OUTSIDE, 0, 0, 0, 0)  # the loop is not running
_BY_THREAD = (BY_THREAD, 0, 0, 0, 0)  # its `what` is the queued callback's, known when it runs

# Records buffered since the last write are written this long after a handle, at the latest: a
# live viewer sees the program idle, or between handles, without waiting for the next one.
IDLE_FLUSH_S = 0.01
IDLE_FLUSH_NS = int(IDLE_FLUSH_S * 1e9)
_FLUSH_ITEMS = core.FLUSH_ITEMS
_MAX_DELAY_S = 100 * 365 * 86400  # uvloop's longest timer (about 100 years)
_LEAVES_LOOP = (SystemExit, KeyboardInterrupt)  # what a handle lets out of the loop


class _State(_LoopState):
    """The asyncio recorder's state for one loop, and what recording from outside adds."""

    __slots__ = (
        "current", "running", "thread", "timer_refs", "flush_due", "on_timer_gone", "call_soon",
    )  # fmt: skip

    def __init__(self, recorder: core.Recorder, owner: Any, call_soon: Any) -> None:
        super().__init__(recorder, owner)
        # uvloop's own call_soon, bound: every task step is queued through it, and a look-up on
        # the loop (a Cython class: no method cache) costs more than all the rest of the call
        self.call_soon = call_soon
        # what queues a handle now: the running recorded handle, as (by, ref, what, via,
        # via_ref) for a HANDLE_BEGIN, or None between them
        self.current: tuple[int, int, int, int, int] | None = None
        self.running = False  # in run_forever
        self.thread: int | None = None  # the thread running it (the watchdog asks)
        self.timer_refs: dict[int, _TimerRef] = {}  # timer number -> its wrapper, till it runs
        self.flush_due = False  # a flush is scheduled
        self.on_timer_gone = self.timer_gone

    # A stepper holds asyncio's loop between its handles; uvloop's can't be held: never stepped.
    gate = property(lambda self: None, lambda self, value: None)

    def timer_gone(self, ref: _TimerRef) -> None:
        """A timer's wrapped callback was let go before it ran: the timer was cancelled."""
        if self.timer_refs.pop(ref.seq, None) is not None:
            self.put_foreign(schema.TIMER_CANCEL, _clock(), ref.seq)


class _TimerRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a timer's wrapped callback that remembers the timer's number."""

    __slots__ = ("seq",)


def _hide_own_frame(exc: BaseException, frame: Any) -> None:
    """Take the wrapper's frame (`frame`) off the top of `exc`'s traceback: the program's
    exception handler prints what it would print without loopviz."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame is frame:
        exc.__traceback__ = tb.tb_next


class _Handle:
    """A callback queued on the loop, wrapped so that its run is recorded. To uvloop (a handle's
    repr, its error messages) it looks like the callback itself."""

    __slots__ = ("loop", "lv", "callback", "queued", "origin")

    def __init__(
        self, loop: Any, lv: _State, callback: Any, queued: int,
        origin: tuple[int, int, int, int, int],
    ) -> None:  # fmt: skip
        self.loop = loop
        self.lv = lv  # the loop's state: read from here, not through the loop, on a hot path
        self.callback = callback
        self.queued = queued  # when it was queued (a timer: when it is due)
        self.origin = origin  # what queued it, as a HANDLE_BEGIN says it

    def __repr__(self) -> str:
        return repr(self.callback)

    @property
    def __wrapped__(self) -> Any:
        return self.callback


class _Step(_Handle):
    """A task's step or wakeup: the task runs until it yields, waits or is done. Its run is
    what a busy program does most: every line here costs per step.

    A task drops the handle of its step at once: only uvloop sees it, and asks its callback for
    ``__self__`` (the task, in its slow-callback warning) and its repr. No ``__getattr__`` here:
    it would slow every attribute read of the wrapper by a fifth of what recording a step costs.
    """

    __slots__ = ("task", "wakeup")

    def __init__(
        self, loop: Any, lv: _State, callback: Any, queued: int,
        origin: tuple[int, int, int, int, int], task: Any,
    ) -> None:  # fmt: skip
        self.loop = loop
        self.lv = lv
        self.callback = callback
        self.queued = queued
        self.origin = origin
        self.task = task  # the callback holds it already: kept no longer than it is
        # a wakeup carries the cancellation asked while the task waited; a step's is seen at
        # its end (as RecordingLoop._lv_run_ready sees them)
        self.wakeup = type(callback) is not _STEP_WRAPPER

    @property
    def __self__(self) -> Any:
        return self.task

    def __call__(self, *args: Any) -> None:
        lv = self.lv
        task = self.task
        t = _clock()
        lv.buf.extend((HANDLE_BEGIN, t, self.queued, *self.origin))
        if lv.fresh:
            self.loop._lv_check_names()
        if self.wakeup and (lv.cancels or task.cancelling()):
            self.loop._lv_cancel_check(task, t)
        outer = lv.current
        lv.current = (BY_TASK, id(task), 0, 0, 0)
        lv.waiting = False
        try:
            self.callback(*args)
        except BaseException as exc:  # SystemExit or KeyboardInterrupt: a task keeps the rest
            _hide_own_frame(exc, _getframe())
            lv.buf.extend((ABORT, _clock(), UNKNOWN))
            raise
        finally:
            lv.current = outer
            lv.waiting = True
        # how it ended, as RecordingLoop._lv_run_ready tells a C task's step
        waiter = task._fut_waiter
        if waiter is not None:
            self.loop._lv_step_wait(task, waiter, _clock(), UNKNOWN)
        elif not _task_done(task):
            lv.buf.extend((STEP_YIELD, _clock(), id(task), UNKNOWN))
        else:
            self.loop._lv_step_end(task, _clock(), UNKNOWN)
        if not lv.flush_due or len(lv.buf) > _FLUSH_ITEMS:
            self.loop._lv_after_handle()


class _Callback(_Handle):
    """A plain callback: from call_soon, or (`_Timer`) a timer's. The program may keep its
    handle and look at it: its attributes are the callback's."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        # __qualname__, __name__, __self__, __func__...
        return getattr(self.callback, name)

    def __call__(self, *args: Any) -> Any:
        loop = self.loop
        lv = self.lv
        t = _clock()
        what = loop._lv_what(self.callback)
        outer = lv.current
        lv.current = self._begin(lv, t, what)
        lv.waiting = False
        try:
            result = self.callback(*args)
        except BaseException as exc:
            _hide_own_frame(exc, _getframe())
            # uvloop reports an exception to the loop's handler, and runs on; these two stop it
            ended = (ABORT, _clock(), UNKNOWN) if isinstance(exc, _LEAVES_LOOP) else (
                CALLBACK, _clock(), UNKNOWN, what)  # fmt: skip
            lv.buf.extend(ended)
            raise
        finally:
            lv.current = outer
            lv.waiting = True
        lv.buf.extend((CALLBACK, _clock(), UNKNOWN, what))
        if not lv.flush_due or len(lv.buf) > _FLUSH_ITEMS:
            loop._lv_after_handle()
        return result

    def _begin(self, lv: _State, t: int, what: int) -> tuple[int, int, int, int, int]:
        """Record the run's beginning; return what queues a handle during it (this callback,
        and what queued it: chains of callbacks are kept one deep, as the replay keeps them)."""
        by, ref, _, via, via_ref = origin = self.origin
        if origin is _BY_THREAD:
            origin = (BY_THREAD, 0, what, 0, 0)
        lv.buf.extend((HANDLE_BEGIN, t, self.queued, *origin))
        if by == BY_CALLBACK:
            return (BY_CALLBACK, 0, what, via, via_ref)
        return (BY_CALLBACK, 0, what, by, ref)


class _Timer(_Callback):
    """A timer's callback (call_later, call_at): its run is the timer coming due."""

    __slots__ = ("seq", "__weakref__")

    def __init__(self, loop: Any, lv: _State, callback: Any, when: int, seq: int) -> None:
        super().__init__(loop, lv, callback, when, (BY_TIMER, seq, 0, 0, 0))
        self.seq = seq

    def _begin(self, lv: _State, t: int, what: int) -> tuple[int, int, int, int, int]:
        seq = self.seq
        lv.timer_refs.pop(seq, None)  # it runs: not cancelled
        lv.buf.extend((HANDLE_BEGIN, t, self.queued, BY_TIMER, seq, what, 0, 0, TIMER_DUE, seq))
        return (BY_CALLBACK, 0, what, BY_TIMER, seq)


class RecordingUvloop:
    """The recorder, as a mixin over ``uvloop.Loop`` (or a subclass of it): put it first in the
    bases, or let `recording_class` do it. uvloop's own loop runs everything."""

    _lv: _State

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lv_open(core.current())

    def _lv_open(self, recorder: core.Recorder) -> None:
        """Start recording: the loop, and that it is seen from outside (written at once, before
        another thread's call_soon_threadsafe can name it)."""
        self._lv = lv = _State(recorder, self, super().call_soon)  # type: ignore[misc]
        now, loop_now = _clock(), int(self.time() * 1e9)  # type: ignore[attr-defined]
        lv.offset = now - loop_now
        thread = threading.current_thread()
        base = next(cls for cls in type(self).__mro__ if not issubclass(cls, RecordingUvloop))
        lv.buf.extend((
            schema.LOOP_OPEN, now, loop_now, thread.ident,
            self._lv_intern(thread.name), self._lv_intern(type(self).__qualname__),
            schema.LOOP_OUTSIDE, now, self._lv_intern(f"{base.__module__}.{base.__qualname__}"),
        ))  # fmt: skip
        self._lv_flush()

    @property
    def _thread_id(self) -> int | None:
        """The thread running the loop (None: not running), as asyncio's loops say it."""
        return self._lv.thread

    # -- handles ---------------------------------------------------------------------------------

    def _lv_after_handle(self) -> None:
        """After a recorded handle: write the buffer when it is full; else soon, by a timer of
        uvloop's own (not the program's, never recorded), so that a viewer sees it."""
        lv = self._lv
        if len(lv.buf) > core.FLUSH_ITEMS or _clock() - lv.last_flush > IDLE_FLUSH_NS:
            # the loop may go idle now, which this subclass cannot see: a viewer's picture
            # stays at most IDLE_FLUSH_S behind, or it would call a due sleep "late"
            self._lv_flush()
        elif not lv.flush_due:
            try:
                super().call_later(  # type: ignore[misc]
                    IDLE_FLUSH_S, self._lv_idle_flush, context=contextvars.Context()
                )
            except RuntimeError:
                return  # closed: close() writes what is left
            lv.flush_due = True

    def _lv_idle_flush(self) -> None:
        self._lv.flush_due = False
        self._lv.rec.on_idle()  # what the program printed, up to here
        self._lv_flush()

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:
        # Every task step comes through here: the wrapping is written out, not called.
        lv = self._lv
        origin = lv.current
        if origin is None:
            origin = _BY_UNSEEN if lv.running else _BY_OUTSIDE
        if type(callback) is _STEP_WRAPPER:  # a C task's step: the commonest, told first
            wrapped: _Handle = _Step(self, lv, callback, _clock(), origin, callback.__self__)
        elif (task := _task_of(callback)) is not None:
            wrapped = _Step(self, lv, callback, _clock(), origin, task)
        else:
            wrapped = _Callback(self, lv, callback, _clock(), origin)
        handle = lv.call_soon(wrapped, *args, context=context)
        if handle._source_traceback:
            waits.strip_own_frames(handle._source_traceback)
        return handle

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        # Written before the append, so it precedes in the trace whatever batch sees the handle.
        rec = self._lv.rec
        what = rec.intern(waits.describe_callback(callback))
        rec.emit(schema.THREADSAFE, _clock(), self._lv.src, _get_ident(), what)
        wrapped = _Callback(self, self._lv, callback, _clock(), _BY_THREAD)
        handle = super().call_soon_threadsafe(wrapped, *args, context=context)  # type: ignore[misc]
        if handle._source_traceback:
            waits.strip_own_frames(handle._source_traceback)
        return handle

    # -- timers ----------------------------------------------------------------------------------

    def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> Any:
        if type(callback) is _Timer:  # from call_at, through uvloop's own call_at
            return super().call_later(delay, callback, *args, context=context)  # type: ignore[misc]
        return self._lv_timer(delay, callback, args, context)

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        return self._lv_timer(when - self.time(), callback, args, context, when)  # type: ignore[attr-defined]

    def _lv_timer(
        self, delay: float, callback: Any, args: tuple[Any, ...], context: Any,
        when: float | None = None,
    ) -> Any:  # fmt: skip
        """Add a timer (at `when`, loop time, else after `delay`) whose run is recorded; record
        it once uvloop has taken it."""
        lv = self._lv
        now = _clock()
        try:
            due = now + int(min(max(delay, 0), _MAX_DELAY_S) * 1e9)
        except (TypeError, ValueError, OverflowError):
            due = now  # uvloop refuses such a delay: nothing is recorded
        seq = next(lv.timer_seq)
        timer = _Timer(self, lv, callback, due, seq)
        if when is None:
            handle = super().call_later(delay, timer, *args, context=context)  # type: ignore[misc]
        else:
            handle = super().call_at(when, timer, *args, context=context)  # type: ignore[misc]
        if handle._source_traceback:
            waits.strip_own_frames(handle._source_traceback)
        ref = _TimerRef(timer, lv.on_timer_gone)
        ref.seq = seq
        lv.timer_refs[seq] = ref
        if callback is _SLEEP_CALLBACK and args:
            lv.sleeps[id(args[0])] = seq
        lv.buf.extend((schema.TIMER_ADD, now, seq, due, self._lv_what(callback)))
        return handle

    # -- tasks -----------------------------------------------------------------------------------

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        lv = self._lv
        maybe_eager = _EAGER and (
            self.get_task_factory() is not None  # type: ignore[attr-defined]
            or bool(kwargs.get("eager_start"))
        )
        if maybe_eager:
            lv.buf.extend((schema.EAGER_BEGIN, _clock()))
        task = super().create_task(coro, **kwargs)  # type: ignore[misc]
        try:
            t = _clock()
            if task._source_traceback:
                waits.strip_own_frames(task._source_traceback)
            if id(task) in lv.tasks:
                return task  # numbered already, by a child its eager first step created
            eager = (
                maybe_eager
                and isinstance(task, _TASK_TYPES)
                and (task.done() or getattr(coro, "cr_suspended", False))
            )
            self._lv_register(task, t, int(eager), coro, _getframe(1))
            if eager:
                self._lv_step_end(task, t, UNKNOWN)
            return task
        finally:
            del task  # an eager step's traceback reaches this frame (as in RecordingLoop)

    # -- the loop's life ---------------------------------------------------------------------------

    def run_forever(self) -> None:
        lv = self._lv
        if lv.running:
            super().run_forever()  # type: ignore[misc]  # uvloop says it runs already
            return
        thread = threading.current_thread()
        lv.buf.extend((schema.RUN_BEGIN, _clock(), thread.ident, self._lv_intern(thread.name)))
        lv.thread, lv.running = thread.ident, True
        try:
            super().run_forever()  # type: ignore[misc]
        finally:
            lv.thread, lv.running = None, False
            lv.buf.extend((schema.RUN_END, _clock()))
            self._lv_flush()

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        lv = self._lv
        if not lv.closed:
            lv.closed = True
            lv.buf.extend((schema.LOOP_CLOSE, _clock()))
            self._lv_flush()

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        try:
            lv = self._lv
            future = context.get("future") or context.get("task")
            known = id(future) in lv.tasks or id(future) in lv.gone
            exc = context.get("exception")
            detail = waits.format_exception(exc) if isinstance(exc, BaseException) else ""
            message = str(context.get("message", ""))
            self._lv_note(schema.EXCEPTION, id(future) if known else 0, message, detail)
        except Exception:
            pass  # the program's own handler must run whatever the recorder thinks
        super().call_exception_handler(context)  # type: ignore[misc]


# The asyncio recorder's helpers (its `_lv_*` methods, which work on `self._lv` and on each
# other: a task's birth, how a step ended, what it waits on, strings, writes), shared rather than
# copied, except those written above.
for _name, _helper in vars(RecordingLoop).items():
    if _name.startswith("_lv_") and _name not in vars(RecordingUvloop):
        setattr(RecordingUvloop, _name, _helper)


def recording_class(cls: type) -> type:
    """The recording subclass of uvloop's loop class `cls`, made once: the same name, qualified
    name and module, so the loop's repr and what the program sees of its class stay as they
    were."""
    return subclass_with(RecordingUvloop, cls)
