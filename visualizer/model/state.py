"""The model's data: tasks, loops and the program, as plain objects rebuilt from a trace."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from enum import IntEnum

from ..trace import schema


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


class Origin(IntEnum):
    """Who put a handle in the ready queue."""

    TASK = 1  # a task's step (ref: task index)
    CALLBACK = 2  # a plain callback (ref: callback name; via: that callback's own origin)
    TIMER = 3  # the timer phase (ref: timer number)
    IO = 4  # the I/O phase (ref: fd, or -1 when unknown)
    THREAD = 5  # call_soon_threadsafe from another thread (ref: callback name)
    OUTSIDE = 6  # before the loop ran, or from a signal handler


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One entry of the ready queue: when it was put there and by whom."""

    t: int
    origin: Origin
    ref: int | str
    via: Scheduled | None = None

    def describe(self, tasks: list[Task]) -> str:
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
        return "outside the loop"


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
    state: State = State.READY
    since: int = 0
    steps: list[Step] = field(default_factory=list)
    history: list[tuple[int, State, int]] = field(default_factory=list)  # (t, state, wait)
    wait: int = 0
    wait_ref: int = 0
    wait_site: str = ""
    wait_chain: str = ""
    wakers: Counter[str] = field(default_factory=Counter)
    children: list[int] = field(default_factory=list)
    ended: int | None = None
    outcome: int | None = None
    error: str = ""
    cancel_requests: list[tuple[int, str]] = field(default_factory=list)
    gone: int | None = None  # when it was garbage-collected
    placeholder: bool = False  # seen stepping before (or without) its TASK_NEW
    busy: int = 0
    scheduled_delay: int = 0
    longest_step: int = 0

    @property
    def label(self) -> str:
        return f"{self.name} {self.coro}()"

    def enter(self, t: int, state: State, wait: int = 0) -> None:
        if self.history and self.history[-1][0] == t and self.history[-1][1] == state:
            return
        self.state = state
        self.since = t
        self.history.append((t, state, wait))

    def state_at(self, t: int) -> State | None:
        """The state at time `t`, or None before the task existed."""
        if t < self.created:
            return None
        found = None
        for when, state, _ in self.history:
            if when > t:
                break
            found = state
        return found

    def total(self, now: int) -> int:
        return (self.ended if self.ended is not None else now) - self.created

    def idle(self, now: int) -> int:
        return max(0, self.total(now) - self.busy - self.scheduled_delay)


@dataclass(slots=True)
class Loop:
    """One event loop (a source of the trace)."""

    source: int
    opened: int
    thread: int = 0
    thread_name: str = ""
    cls: str = ""
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
    watchers: dict[tuple[int, int], str] = field(default_factory=dict)  # (fd, mask) -> callback
    timers: dict[int, tuple[int, str]] = field(default_factory=dict)  # pending: seq -> (when, cb)
    ready: deque[Scheduled] = field(default_factory=deque)


@dataclass(slots=True)
class Output:
    t: int
    stream: int  # 1 stdout, 2 stderr
    text: str


@dataclass(slots=True)
class Mark:
    t: int
    loop: int
    task: int | None
    text: str


@dataclass(slots=True)
class LoopError:
    t: int
    loop: int
    task: int | None
    message: str
    detail: str
