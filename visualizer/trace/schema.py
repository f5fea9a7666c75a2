"""The record kinds of a loopviz trace and the fields each one carries.

A batch is a flat msgpack array: ``[source, kind, field, field, ..., kind, field, ...]``.
Every kind has a fixed number of fields, listed in ``FIELDS``; a field whose name ends in ``$``
holds a string id, defined earlier in the same source by a ``STR`` record. A task is named by
its ``id()`` in the program; ``TASK_GONE`` says when that id may name another task. A source is
one event loop (1, 2, ...) or the process itself (0: other threads, program output, exit).

Times are ``time.perf_counter_ns()`` values (CLOCK_MONOTONIC on Linux, shared by all threads).

Between two handle records of a loop (``STEP_*``, ``CALLBACK``, ``SKIP``) every other record
happened while the later handle ran. A handle's begin is the time of the record before it (the
previous handle's end, or ``READY.t`` for the first one of an iteration): the loop's own
bookkeeping between two handles is well under a microsecond, so one clock read per handle does.
``qlen`` is ``len(loop._ready)`` just after the handle ran: since the ready queue is FIFO, a
replay can tell which handle scheduled every later one without watching ``call_soon``.

A loop whose class runs in C (uvloop's, kept with ``--keep-uvloop``) is recorded from outside, by
a subclass overriding its Python methods: its LOOP_OPEN is followed by a LOOP_OUTSIDE. It has no
SELECT, IDLE, READY, IO_EVENT, SKIP, PAUSED or I/O watcher records, every ``qlen`` is -1 (not
known), and each handle the subclass saw run begins with a HANDLE_BEGIN that says when, and who
queued it (it saw every ``call_soon``); a timer's is followed by its TIMER_DUE. Records between
a handle's end and the next HANDLE_BEGIN happened outside any recorded handle (in uvloop's own
callbacks, or its I/O).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

# 2 added the stepper's PAUSED, QUEUED and RESUMED, the watchdog's STACK and ANSWER; 3 added
# NOTE; 4 added LOOP_OUTSIDE and HANDLE_BEGIN (a loop recorded from outside). An older trace is
# the newer format without them, so it is read as it is.
FORMAT_VERSION: Final = 4
OLDEST_READABLE: Final = 1
MAGIC: Final = b"LOOPVIZ\x00"


class Kind(IntEnum):
    """Record kinds. The recorder binds them to plain ints on its hot path."""

    STR = 1
    LOOP_OPEN = 2
    LOOP_CLOSE = 3
    RUN_BEGIN = 4
    RUN_END = 5
    SELECT = 6
    IO_EVENT = 7
    TIMER_DUE = 8
    READY = 9
    CALLBACK = 10
    SKIP = 11
    STEP_YIELD = 12
    STEP_WAIT = 13
    STEP_DONE = 14
    TASK_NEW = 15
    TASK_NAME = 16
    TASK_CANCEL = 17
    TASK_GONE = 18
    EAGER_BEGIN = 19
    TIMER_ADD = 20
    TIMER_CANCEL = 21
    IO_ADD = 22
    IO_REMOVE = 23
    THREADSAFE = 24
    EXCEPTION = 25
    MARK = 26
    OUTPUT = 27
    EXIT = 28
    DROPPED = 29
    ABORT = 30
    IDLE = 31
    PAUSED = 32
    QUEUED = 33
    RESUMED = 34
    STACK = 35
    ANSWER = 36
    NOTE = 37
    LOOP_OUTSIDE = 38
    HANDLE_BEGIN = 39


STR: Final = int(Kind.STR)
LOOP_OPEN: Final = int(Kind.LOOP_OPEN)
LOOP_CLOSE: Final = int(Kind.LOOP_CLOSE)
RUN_BEGIN: Final = int(Kind.RUN_BEGIN)
RUN_END: Final = int(Kind.RUN_END)
SELECT: Final = int(Kind.SELECT)
IO_EVENT: Final = int(Kind.IO_EVENT)
TIMER_DUE: Final = int(Kind.TIMER_DUE)
READY: Final = int(Kind.READY)
CALLBACK: Final = int(Kind.CALLBACK)
SKIP: Final = int(Kind.SKIP)
STEP_YIELD: Final = int(Kind.STEP_YIELD)
STEP_WAIT: Final = int(Kind.STEP_WAIT)
STEP_DONE: Final = int(Kind.STEP_DONE)
TASK_NEW: Final = int(Kind.TASK_NEW)
TASK_NAME: Final = int(Kind.TASK_NAME)
TASK_CANCEL: Final = int(Kind.TASK_CANCEL)
TASK_GONE: Final = int(Kind.TASK_GONE)
EAGER_BEGIN: Final = int(Kind.EAGER_BEGIN)
TIMER_ADD: Final = int(Kind.TIMER_ADD)
TIMER_CANCEL: Final = int(Kind.TIMER_CANCEL)
IO_ADD: Final = int(Kind.IO_ADD)
IO_REMOVE: Final = int(Kind.IO_REMOVE)
THREADSAFE: Final = int(Kind.THREADSAFE)
EXCEPTION: Final = int(Kind.EXCEPTION)
MARK: Final = int(Kind.MARK)
OUTPUT: Final = int(Kind.OUTPUT)
EXIT: Final = int(Kind.EXIT)
DROPPED: Final = int(Kind.DROPPED)
ABORT: Final = int(Kind.ABORT)
IDLE: Final = int(Kind.IDLE)
PAUSED: Final = int(Kind.PAUSED)
QUEUED: Final = int(Kind.QUEUED)
RESUMED: Final = int(Kind.RESUMED)
STACK: Final = int(Kind.STACK)
ANSWER: Final = int(Kind.ANSWER)
NOTE: Final = int(Kind.NOTE)
LOOP_OUTSIDE: Final = int(Kind.LOOP_OUTSIDE)
HANDLE_BEGIN: Final = int(Kind.HANDLE_BEGIN)

FIELDS: Final[dict[int, tuple[str, ...]]] = {
    STR: ("id", "text"),
    # loop: small id within the process; the source of its batches.
    LOOP_OPEN: ("t", "loop_time_ns", "thread", "thread_name$", "cls$"),
    LOOP_CLOSE: ("t",),
    RUN_BEGIN: ("t", "thread", "thread_name$"),
    RUN_END: ("t",),
    # select: timeout_ns is -1 for "block until I/O"; qlen is len(ready) when select returned.
    SELECT: ("t", "timeout_ns", "t_end", "events", "qlen"),
    IO_EVENT: ("fd", "mask"),
    TIMER_DUE: ("timer",),
    # ready: the iteration is about to run `ntodo` handles; qlen_io is len(ready) after the I/O
    # phase (the handles appended by it), ntodo after the timer phase.
    READY: ("t", "qlen_io", "ntodo", "timers"),
    CALLBACK: ("t", "qlen", "what$"),
    SKIP: ("qlen",),
    STEP_YIELD: ("t", "task", "qlen"),
    # wait: a WAIT_* kind; ref: the awaited task, the sleep's timer, an fd, or 0.
    STEP_WAIT: ("t", "task", "qlen", "wait", "ref", "site$", "chain$"),
    # outcome: OUTCOME_*; detail: the exception's traceback text, or "".
    STEP_DONE: ("t", "task", "qlen", "outcome", "detail$"),
    # task: id() of the task in the program, unique until its TASK_GONE; name is inline (most
    # are unique "Task-N", not worth interning); parent is the creating task's id, or 0.
    TASK_NEW: ("t", "task", "name", "coro$", "site$", "parent", "eager"),
    TASK_NAME: ("t", "task", "name"),
    # requests: task.cancelling() when the request was seen (at the task's next step); the
    # replay knows who asked from which handle scheduled that step.
    TASK_CANCEL: ("t", "task", "requests"),
    TASK_GONE: ("t", "task"),
    EAGER_BEGIN: ("t",),
    TIMER_ADD: ("t", "timer", "when_ns", "what$"),
    TIMER_CANCEL: ("t", "timer"),
    IO_ADD: ("t", "fd", "mask", "what$"),
    IO_REMOVE: ("t", "fd", "mask"),
    # source 0: another thread scheduled a callback on `loop`.
    THREADSAFE: ("t", "loop", "thread", "what$"),
    # the loop's exception handler was called; task: the failed task, if known. In a loop's
    # own source `loop` is 0; from another thread it comes through source 0 naming the loop.
    EXCEPTION: ("t", "loop", "task", "message$", "detail$"),
    # visualizer.mark(text), placed like EXCEPTION; loop and task are 0 outside any loop.
    MARK: ("t", "loop", "task", "text$"),
    # source 0: one chunk of the program's stdout (1) or stderr (2).
    OUTPUT: ("t", "stream", "text"),
    # source 0: how the program ended; status is the exit status (negative: killed by signal).
    EXIT: ("t", "status", "detail"),
    # source 0: a bounded in-memory recording left out this many batches after its limit.
    DROPPED: ("t", "batches"),
    # a handle raised SystemExit or KeyboardInterrupt out of the loop.
    ABORT: ("t", "qlen"),
    # the loop is about to block in select (timeout_ns -1: until I/O); its SELECT follows. A
    # viewer that saw this last knows the loop is idle, not stuck in a callback.
    IDLE: ("t", "timeout_ns"),
    # A stepper holds the loop at a step point (POINT_*): the top of an iteration, before its
    # select (timeout_ns: the select's timeout, -1 none; why: WHY_*), or before the k-th of the
    # iteration's n handles. `queued` QUEUED records follow: the handle about to run first (at a
    # POINT_HANDLE), then the ready queue in order. The program's clock stands still until
    # RESUMED (t: about the same time, as the program sees it).
    PAUSED: ("t", "point", "k", "n", "timeout_ns", "why", "queued"),
    # task: id() of the task the handle steps or wakes (0: none); what$: the callback in words;
    # where$: for a task, "file:line" where its coroutine will go on from ("" otherwise).
    QUEUED: ("task", "what$", "where$"),
    # lag_ns: how far the program's clock is behind the real one now, all holds together.
    RESUMED: ("t", "lag_ns"),
    # source 0: the watchdog saw `loop` in one handle for long (no record, not in select) and
    # sampled its thread's stack: "file:line in function" lines, outermost first; task: the
    # task whose step that is (its id()), or 0 for a plain callback; name: that task's name and
    # coroutine ("Task-2 main()"), for a stuck loop has not written the task's TASK_NEW yet.
    # stuck_ns: how long the loop had been stuck in that handle when sampled.
    STACK: ("t", "loop", "stuck_ns", "task", "name", "detail"),
    # source 0: the agent's answer to a viewer's command (cancel, dump), in words.
    ANSWER: ("t", "text"),
    # source 0: a fact about the recording itself, in words, that every view must tell: "uvloop
    # replaced by asyncio's event loop for recording", "uvloop kept: recorded as ...",
    # "recording stopped: disk full at 12 MB".
    NOTE: ("t", "text"),
    # this loop is recorded from outside: its class `base$` ("uvloop.Loop") runs in C, and a
    # Python subclass of it records what goes through its methods (see the top of this file).
    LOOP_OUTSIDE: ("t", "base$"),
    # in a loop recorded from outside, a handle begins at t; the handle record that follows
    # (STEP_*, CALLBACK, ABORT) is its end. queued: when it was queued (a timer: when it was
    # due). by: BY_*, what queued it; ref: a task's id() (BY_TASK) or a timer's number
    # (BY_TIMER); what$: the callback that queued it (BY_CALLBACK), or the callback another
    # thread queued (BY_THREAD); via, via_ref: for BY_CALLBACK, what queued that callback
    # (BY_*, never BY_CALLBACK: chains are kept one deep), as `by` and `ref` say it.
    HANDLE_BEGIN: ("t", "queued", "by", "ref", "what$", "via", "via_ref"),
}


# What every view says of a trace without a recorded loop (it holds no tasks, nothing to check).
NO_LOOP: Final = (
    "no asyncio event loop was recorded: the program made none, or only loops loopviz cannot "
    "record (a loop class with its own _run_once)"
)


ARITY: Final[dict[int, int]] = {kind: len(fields) for kind, fields in FIELDS.items()}
# Fields that hold text inline; every other field is an int (string ids included).
STR_FIELDS: Final = frozenset({"text", "detail", "name"})

# What a task waits on after a step (STEP_WAIT.wait).
WAIT_FUTURE: Final = 1
WAIT_TASK: Final = 2
WAIT_SLEEP: Final = 3
WAIT_QUEUE_GET: Final = 4
WAIT_QUEUE_PUT: Final = 5
WAIT_LOCK: Final = 6
WAIT_EVENT: Final = 7
WAIT_SEMAPHORE: Final = 8
WAIT_CONDITION: Final = 9
WAIT_GATHER: Final = 10
WAIT_TASKGROUP: Final = 11
WAIT_IO_READ: Final = 12
WAIT_IO_WRITE: Final = 13
WAIT_THREAD: Final = 14
WAIT_WAIT: Final = 15
WAIT_BARRIER: Final = 16

WAIT_NAMES: Final[dict[int, str]] = {
    0: "yield",
    WAIT_FUTURE: "future",
    WAIT_TASK: "task",
    WAIT_SLEEP: "sleep",
    WAIT_QUEUE_GET: "Queue.get",
    WAIT_QUEUE_PUT: "Queue.put",
    WAIT_LOCK: "Lock.acquire",
    WAIT_EVENT: "Event.wait",
    WAIT_SEMAPHORE: "Semaphore.acquire",
    WAIT_CONDITION: "Condition.wait",
    WAIT_GATHER: "gather",
    WAIT_TASKGROUP: "TaskGroup",
    WAIT_IO_READ: "I/O read",
    WAIT_IO_WRITE: "I/O write",
    WAIT_THREAD: "thread",
    WAIT_WAIT: "asyncio.wait",
    WAIT_BARRIER: "Barrier.wait",
}

OUTCOME_OK: Final = 0
OUTCOME_CANCELLED: Final = 1
OUTCOME_FAILED: Final = 2
OUTCOME_NAMES: Final[dict[int, str]] = {
    OUTCOME_OK: "finished",
    OUTCOME_CANCELLED: "cancelled",
    OUTCOME_FAILED: "failed",
}

# HANDLE_BEGIN.by: what queued a handle of a loop recorded from outside.
BY_UNSEEN: Final = 0  # the loop's own code, which a subclass cannot see (uvloop's I/O, callbacks)
BY_TASK: Final = 1  # a task's step
BY_TIMER: Final = 2  # the timer is the handle itself
BY_CALLBACK: Final = 3  # a recorded callback
BY_THREAD: Final = 4  # call_soon_threadsafe
BY_OUTSIDE: Final = 5  # the program, while the loop was not running

# PAUSED.point: where in `_run_once` a stepper holds the loop.
POINT_TOP: Final = 1
POINT_HANDLE: Final = 2
# PAUSED.why: what chose the select's timeout.
WHY_READY: Final = 1  # handles are ready: 0, a poll
WHY_TIMER: Final = 2  # until the earliest timer is due
WHY_NOTHING: Final = 3  # no handles, no timers: until I/O (or another thread) wakes it
WHY_STOPPING: Final = 4  # loop.stop() was called: 0, to end run_forever

# Interest masks, as selectors uses them.
READ: Final = 1
WRITE: Final = 2
