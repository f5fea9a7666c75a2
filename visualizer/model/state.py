"""The model's data: tasks, loops and the program, as plain objects rebuilt from a trace.

A model holds millions of steps, so a task keeps its steps as rows of ints in one array (see
`Steps`) and derives everything else about them (its state history, who woke it, what it waits
on now) from those rows when asked.
"""

from __future__ import annotations

import operator
import os
from array import array
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import repeat
from typing import NamedTuple, overload

from ..trace import schema
from .series import INT64, LoopSeries


class State(IntEnum):
    """What a task is doing. Colours and glyphs for each live in the viewer."""

    READY = 1  # scheduled, waiting for its turn in the ready queue
    RUNNING = 2
    WAITING = 3  # on a future, task, lock, queue...
    WAITING_IO = 4
    SLEEPING = 5
    DONE = 6
    FAILED = 7
    CANCELLED = 8


IO_WAITS = frozenset({schema.WAIT_IO_READ, schema.WAIT_IO_WRITE})
# The states a task leaves for READY when something wakes it.
WAITING_STATES = frozenset({State.WAITING, State.WAITING_IO, State.SLEEPING})

OUTCOME_STATES = {
    schema.OUTCOME_OK: State.DONE,
    schema.OUTCOME_CANCELLED: State.CANCELLED,
    schema.OUTCOME_FAILED: State.FAILED,
}


def wait_state(kind: int) -> State:
    """The state a task is in while it waits on a WAIT_* kind (0: a bare yield)."""
    if kind == 0:
        return State.READY
    if kind == schema.WAIT_SLEEP:
        return State.SLEEPING
    if kind in IO_WAITS:
        return State.WAITING_IO
    return State.WAITING


# What every view says of a fact that a loop recorded from outside (uvloop kept with
# --keep-uvloop, `Loop.outside`) cannot give: its select, I/O, ready queue, iterations.
UNRECORDED = "not recorded under uvloop"


class Origin(IntEnum):
    """Who put a handle in the ready queue."""

    TASK = 1  # a task's step (ref: task index)
    CALLBACK = 2  # a plain callback (ref: callback name; via: that callback's own origin)
    TIMER = 3  # the timer phase (ref: timer number)
    IO = 4  # the I/O phase (ref: fd, or -1 when unknown)
    THREAD = 5  # call_soon_threadsafe from another thread (ref: callback name)
    OUTSIDE = 6  # before the loop ran, or from a signal handler
    UNSEEN = 7  # a loop recorded from outside: its own code, which the recorder cannot see


class Scheduled(NamedTuple):
    """One entry of the ready queue: when it was put there and by whom."""

    t: int
    origin: Origin
    ref: int | str
    via: Scheduled | None = None

    def describe(self, tasks: Sequence[Task]) -> str:
        """In words, looking through callbacks to what set them off."""
        if self.origin == Origin.TASK:
            return tasks[int(self.ref)].label
        if self.origin == Origin.CALLBACK:
            via = self.via
            if via is None or via.origin == Origin.OUTSIDE:
                return f"callback {self.ref}"
            if via.origin == Origin.TIMER and self.ref == "_set_result_unless_cancelled":
                return f"sleep timer #{via.ref}"
            return f"{via.describe(tasks)} via {self.ref}"
        if self.origin == Origin.TIMER:
            return f"timer #{self.ref}"
        if self.origin == Origin.IO:
            return "I/O" if self.ref == -1 else f"I/O fd {self.ref}"
        if self.origin == Origin.THREAD:
            return f"another thread ({self.ref})"
        if self.origin == Origin.UNSEEN:
            return f"uvloop's own I/O or callbacks ({UNRECORDED})"
        return "outside the loop"


# A ready-queue entry as the replay keeps it: (when queued, who). `who` is a task index when a
# task's step queued it (nearly always: no object per handle then), else a Scheduled.
Entry = tuple[int, "int | Scheduled"]


@dataclass(slots=True)
class Step:
    begin: int
    end: int
    wait: int  # WAIT_* after the step (0: yielded, -1: finished)
    waker: Scheduled | None  # who scheduled it (None: an eager first step)
    ready_since: int
    ref: int = 0  # the awaited task's index, the sleep's timer, ...
    site: str = ""  # where the task is suspended after the step
    chain: str = ""  # the await chain at that point, outermost first


# A step row in Task.rows: these columns, ROW ints per step.
BEGIN, END, READY_SINCE, WAKER_T, WAKER, SUSPENSION, REF = range(7)
ROW = 7
NO_WAKER = -1  # WAKER of an eager first step; other negative codes name a kept Scheduled
YIELDED, FINISHED = 0, 1  # SUSPENSION codes every model starts with


class Registry:
    """What the tasks of one model share: who woke steps, where they suspended, state counts.

    A step row names its waker by a code (a task index, or ``-1 - i`` for ``wakers[i]``) and
    its suspension (wait kind, site, await chain) by an index in ``suspensions``.
    """

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = tasks
        self.wakers: list[Scheduled | None] = [None]
        self.suspensions: list[tuple[int, str, str]] = [(0, "", ""), (-1, "", "")]
        self.suspension_codes = {key: i for i, key in enumerate(self.suspensions)}
        self.counts = [0] * (max(State) + 1)  # tasks by current state
        self._last: Scheduled | None = None

    def keep(self, waker: Scheduled) -> int:
        """The code of a waker that is not a task's step (one callback often wakes several)."""
        if waker is not self._last:
            self._last = waker
            self.wakers.append(waker)
        return -len(self.wakers)

    def waker(self, code: int, t: int) -> Scheduled | None:
        if code >= 0:
            return Scheduled(t, Origin.TASK, code)
        return self.wakers[-1 - code]

    def describe(self, code: int) -> str:
        if code >= 0:
            return self.tasks[code].label
        waker = self.wakers[-1 - code]
        return "" if waker is None else waker.describe(self.tasks)

    def suspension(self, wait: int, site: str, chain: str) -> int:
        key = (wait, site, chain)
        code = self.suspension_codes.get(key)
        if code is None:
            code = self.suspension_codes[key] = len(self.suspensions)
            self.suspensions.append(key)
        return code


class Steps(Sequence[Step]):
    """A task's steps, oldest first, made into `Step` objects as they are read."""

    __slots__ = ("_task",)

    def __init__(self, task: Task) -> None:
        self._task = task

    def __len__(self) -> int:
        return len(self._task.rows) // ROW

    @overload
    def __getitem__(self, index: int) -> Step: ...
    @overload
    def __getitem__(self, index: slice) -> list[Step]: ...
    def __getitem__(self, index: int | slice) -> Step | list[Step]:
        if isinstance(index, slice):
            return [self._step(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("step index out of range")
        return self._step(index)

    def __iter__(self) -> Iterator[Step]:
        return map(self._step, range(len(self)))

    def _step(self, i: int) -> Step:
        task = self._task
        begin, end, ready_since, waker_t, waker, suspension, ref = task.rows[
            i * ROW : i * ROW + ROW
        ]
        registry = task.registry
        wait, site, chain = registry.suspensions[suspension]
        return Step(begin, end, wait, registry.waker(waker, waker_t), ready_since, ref, site, chain)


@dataclass(slots=True)
class Task:
    index: int  # position in Model.tasks; stable across loops
    loop: int
    ident: int  # its id() in the program, as the trace names it (reused after it was gone)
    name: str
    coro: str
    site: str
    parent: int | None  # index of the parent task
    eager: bool
    created: int
    registry: Registry = field(repr=False, compare=False)
    state: State = State.READY
    since: int = 0
    children: list[int] = field(default_factory=list)
    ended: int | None = None
    outcome: int | None = None
    error: str = ""
    cancel_requests: list[tuple[int, str]] = field(default_factory=list)
    cancelling: int = 0  # the most cancel() calls pending on it at once (task.cancelling())
    gone: int | None = None  # when it was garbage-collected
    placeholder: bool = False  # seen stepping before (or without) its TASK_NEW
    rows: array[int] = field(default_factory=lambda: array(INT64), repr=False)  # see Steps
    # busy, scheduled_delay and longest_step over the first _summed ints of rows
    _summed: int = field(default=0, repr=False)
    _busy: int = field(default=0, repr=False)
    _delay: int = field(default=0, repr=False)
    _longest: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.since = self.created
        self.registry.counts[self.state] += 1

    @property
    def label(self) -> str:
        return f"{self.name} {self.coro}()"

    # -- totals over its steps -----------------------------------------------------------------
    # Summed from the rows when asked, in C iterators, not by the replay for every step: a
    # replay of a million steps is the budget's bottleneck, and a view asks for a few thousand.

    @property
    def busy(self) -> int:
        """How long its steps ran, in ns."""
        if self._summed != len(self.rows):
            self._sum()
        return self._busy

    @property
    def scheduled_delay(self) -> int:
        """How long it waited in the ready queue before its steps, in ns."""
        if self._summed != len(self.rows):
            self._sum()
        return self._delay

    @property
    def longest_step(self) -> int:
        if self._summed != len(self.rows):
            self._sum()
        return self._longest

    def take_totals(self, summed: int, busy: int, delay: int, longest: int) -> None:
        """The totals over the first `summed` ints of its rows, summed elsewhere (time travel's
        running sums, which are made anyway)."""
        if summed > self._summed:
            self._summed, self._busy, self._delay, self._longest = summed, busy, delay, longest

    def _sum(self) -> None:
        """Take the steps made since the last sum into the totals."""
        rows = self.rows
        at = self._summed
        begins, ends = rows[at + BEGIN :: ROW], rows[at + END :: ROW]
        self._busy += sum(ends) - sum(begins)
        self._delay += sum(map(max, map(operator.sub, begins, rows[at + READY_SINCE :: ROW]),
                               repeat(0)))  # fmt: skip
        self._longest = max(self._longest, max(map(operator.sub, ends, begins), default=0))
        self._summed = len(rows)

    @property
    def steps(self) -> Steps:
        return Steps(self)

    def enter(self, t: int, state: State) -> None:
        """Move to `state` at `t` (the history itself is derived from the steps)."""
        counts = self.registry.counts
        counts[self.state] -= 1
        counts[state] += 1
        self.state = state
        self.since = t

    # -- what the last step says -------------------------------------------------------------

    def _suspended(self) -> tuple[int, str, str]:
        rows = self.rows
        if not rows:
            return self.registry.suspensions[YIELDED]
        return self.registry.suspensions[rows[-ROW + SUSPENSION]]

    @property
    def wait(self) -> int:
        """WAIT_* it waits on now (0: not waiting)."""
        return max(0, self._suspended()[0])

    @property
    def wait_ref(self) -> int:
        return self.rows[-ROW + REF] if self.rows else 0

    @property
    def wait_site(self) -> str:
        return self._suspended()[1]

    @property
    def wait_chain(self) -> str:
        return self._suspended()[2]

    @property
    def wakers(self) -> Counter[str]:
        """Who scheduled its steps, in words, with how often (its own yields left out)."""
        return self.woken_by()

    def longest_of(self, steps: int) -> int:
        """The longest of its first `steps` steps, in ns (0: none)."""
        rows = self.rows[: steps * ROW]
        return max(map(operator.sub, rows[END::ROW], rows[BEGIN::ROW]), default=0)

    def woken_by(self, steps: int | None = None) -> Counter[str]:
        """As `wakers`, over its first `steps` steps only (None: all of them)."""
        rows = self.rows if steps is None else self.rows[: steps * ROW]
        codes = Counter(rows[WAKER::ROW])
        codes.pop(self.index, None)
        codes.pop(NO_WAKER, None)
        described: Counter[str] = Counter()
        for code, n in codes.items():
            described[self.registry.describe(code)] += n
        return described

    # -- states over time ----------------------------------------------------------------------

    def _state_after(self, suspension: int) -> State:
        wait = self.registry.suspensions[suspension][0]
        if wait == -1:
            return OUTCOME_STATES.get(self.outcome, State.DONE)  # type: ignore[arg-type]
        return wait_state(wait)

    @property
    def history(self) -> list[tuple[int, State, int]]:
        """Every state change as ``(t, state, wait)``, from its creation on."""
        out = [(self.created, State.READY, 0)]

        def enter(t: int, state: State, wait: int = 0) -> None:
            if out[-1][0] != t or out[-1][1] != state:
                out.append((t, state, wait))

        rows = self.rows
        suspensions = self.registry.suspensions
        for at in range(0, len(rows), ROW):
            if out[-1][1] in WAITING_STATES and rows[at + READY_SINCE] > out[-1][0]:
                enter(rows[at + READY_SINCE], State.READY)
            enter(rows[at + BEGIN], State.RUNNING)
            suspension = rows[at + SUSPENSION]
            enter(rows[at + END], self._state_after(suspension), suspensions[suspension][0])
        return out

    def state_at(self, t: int) -> State | None:
        """The state at time `t`, or None before the task existed."""
        if t < self.created:
            return None
        rows = self.rows
        n = len(rows) // ROW
        # the steps begun by t; the last of them says the state, unless the next one was queued
        begun = bisect_right(range(n), t, key=lambda i: rows[i * ROW + BEGIN])
        if not begun:
            return State.READY
        last = (begun - 1) * ROW
        if t < rows[last + END]:
            return State.RUNNING
        after = self._state_after(rows[last + SUSPENSION])
        if begun < n and after in WAITING_STATES:
            ready_since = rows[begun * ROW + READY_SINCE]
            if rows[last + END] < ready_since <= t:
                return State.READY
        return after

    def total(self, now: int) -> int:
        return (self.ended if self.ended is not None else now) - self.created

    def idle(self, now: int) -> int:
        return max(0, self.total(now) - self.busy - self.scheduled_delay)


class Ready(Sequence[Scheduled]):
    """A loop's ready queue, oldest first, as `Scheduled` entries."""

    __slots__ = ("_queue",)

    def __init__(self, queue: deque[Entry]) -> None:
        self._queue = queue

    def __len__(self) -> int:
        return len(self._queue)

    @overload
    def __getitem__(self, index: int) -> Scheduled: ...
    @overload
    def __getitem__(self, index: slice) -> list[Scheduled]: ...
    def __getitem__(self, index: int | slice) -> Scheduled | list[Scheduled]:
        if isinstance(index, slice):
            return [scheduled(entry) for entry in list(self._queue)[index]]
        return scheduled(self._queue[index])

    def __iter__(self) -> Iterator[Scheduled]:
        return map(scheduled, self._queue)


def scheduled(entry: Entry) -> Scheduled:
    t, who = entry
    return Scheduled(t, Origin.TASK, who) if type(who) is int else who  # type: ignore[return-value]


LAG_BUCKET = 1_000_000_000  # ns: Loop.lag_series has one point per second...
LAG_BUCKETS = 3_600  # ...for the last hour at most


@dataclass(slots=True)
class Queued:
    """A handle in the ready queue of a held loop (a QUEUED record), as the stepper saw it."""

    task: int | None  # the task it steps or wakes (its index in Model.tasks), if any
    what: str  # "step", "wakeup", or the callback's name
    where: str  # for a task: "file:line in f" where its coroutine goes on from


@dataclass(slots=True)
class Held:
    """Where a stepper holds a loop (a PAUSED record), until it is let go (RESUMED)."""

    t: int
    point: int  # schema.POINT_TOP (before the select) or POINT_HANDLE (before handle k of n)
    k: int
    n: int
    timeout: int | None  # POINT_TOP: the select's timeout (ns; None: until I/O)
    why: int  # POINT_TOP: what chose that timeout (schema.WHY_*)
    queue: list[Queued] = field(default_factory=list)  # at POINT_HANDLE, the next to run first
    expected: int = 0  # QUEUED records still to come

    @property
    def next(self) -> Queued | None:
        """The handle about to run (at a POINT_HANDLE)."""
        return self.queue[0] if self.point == schema.POINT_HANDLE and self.queue else None


@dataclass(slots=True)
class Loop:
    """One event loop (a source of the trace)."""

    source: int
    opened: int
    thread: int = 0
    thread_name: str = ""
    cls: str = ""
    # The C loop class recorded from outside, by a subclass ("uvloop.Loop"; "" for a loop
    # recorded from inside): no iterations, select, I/O or ready queue, only the handles it saw.
    outside: str = ""
    closed: int | None = None
    iterations: int = 0
    handles: int = 0
    steps: int = 0
    callbacks: int = 0
    skipped: int = 0
    select_time: int = 0
    busy_time: int = 0
    longest_select: int = 0
    longest_handle: int = 0
    io_events: int = 0
    timers_added: int = 0
    timers_cancelled: int = 0
    timers_due: int = 0
    threadsafe_calls: int = 0
    lag: int = 0  # the scheduling delay of the latest task step (begin - ready since), ns
    idle_since: int | None = None  # blocked in select since then (an IDLE with no SELECT yet)
    watchers: dict[tuple[int, int], str] = field(default_factory=dict)  # (fd, mask) -> callback
    timers: dict[int, tuple[int, str]] = field(default_factory=dict)  # pending: seq -> (when, cb)
    queue: deque[Entry] = field(default_factory=deque, repr=False)  # the ready queue, see Ready
    # [second's start, longest lag] for each second from the first task step to the latest
    lag_buckets: deque[list[int]] = field(
        default_factory=lambda: deque(maxlen=LAG_BUCKETS), repr=False
    )
    series: LoopSeries = field(default_factory=LoopSeries, repr=False)  # the loop over time
    held: Held | None = None  # where a stepper holds it now (None: not held)
    run_ends: list[int] = field(default_factory=list)  # when each run_forever returned
    holds: int = 0  # how many times a stepper held it

    @property
    def ready(self) -> Ready:
        return Ready(self.queue)

    @property
    def lag_series(self) -> list[tuple[int, int]]:
        """The longest scheduling delay in each second, ``(second's start, lag)``, oldest first.

        One point per second of the trace's clock, from the first task step to the latest one
        (0 in a second without any), for the last hour at most.
        """
        return [(start, lag) for start, lag in self.lag_buckets]

    def lag_series_at(self, t: int) -> list[tuple[int, int]]:
        """`lag_series` as it was at `t`: the second of `t` counts only the steps begun by then."""
        start = t - t % LAG_BUCKET
        before = [(second, lag) for second, lag in self.lag_buckets if second < start]
        lag_t = self.series.lag_t
        i = bisect_right(lag_t, t)
        if i and lag_t[i - 1] >= start:
            before.append((start, self.series.lag_n[i - 1]))
        return before

    def lag_at(self, t: int) -> int:
        """The longest scheduling delay of a task step begun in `t`'s second by `t` (ns)."""
        series = self.lag_series_at(t)
        return series[-1][1] if series and series[-1][0] == t - t % LAG_BUCKET else 0


@dataclass(slots=True)
class Output:
    t: int
    stream: int  # 1 stdout, 2 stderr, 3 raw output of the program's fds
    text: str


@dataclass(slots=True)
class Mark:
    t: int
    loop: int
    task: int | None
    text: str


def short_site(site: str) -> str:
    """``/long/dir/file.py:12 in f`` → ``file.py:12 in f``."""
    path, sep, rest = site.partition(":")
    return f"{os.path.basename(path)}:{rest}" if sep else site


@dataclass(slots=True)
class StackSample:
    """The watchdog's look at a loop stuck in one handle: its thread's stack then."""

    t: int
    loop: int
    frames: tuple[str, ...]  # "file:line in function", outermost first
    task: int | None = None  # the task whose step it is (index in Model.tasks), if known
    label: str = ""  # that task's name and coroutine, as the watchdog saw them ("": a callback)
    stuck: int = 0  # how long (ns) the loop had been in that handle when sampled

    @property
    def where(self) -> str:
        """The innermost frame of the program itself (not asyncio's or loopviz's)."""
        for frame in reversed(self.frames):
            if not _library_site(frame):
                return frame
        return self.frames[-1] if self.frames else ""


def _library_site(site: str) -> bool:
    path = site.rpartition(" in ")[0].rpartition(":")[0].replace("\\", "/")
    return "/asyncio/" in path or "/visualizer/recorder/" in path or path.startswith("<frozen ")


@dataclass(slots=True)
class LoopError:
    t: int
    loop: int
    task: int | None
    message: str
    detail: str
