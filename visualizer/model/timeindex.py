"""What the model says at a time t, and where the events around t are.

Every view follows one time cursor, so the model answers "what was the state at t" for all the
tasks and loops at once (`Snapshot`), and "where is the next or previous event" for moving the
cursor (`Event`). Nothing here is recorded at ingest: answers come from each task's step rows
and each loop's series, and the little this module keeps (running sums of a task's steps, made
the first time a question needs them) only grows with what the trace grows.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, islice, repeat
from operator import sub
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from .series import INT64, LONG_HANDLE_NS, Activity, LoopSeries, extend_int64, value_at
from .state import (
    BEGIN,
    END,
    READY_SINCE,
    REF,
    ROW,
    SUSPENSION,
    WAITING_STATES,
    YIELDED,
    Loop,
    State,
    Task,
    wait_state,
)

if TYPE_CHECKING:
    from .replay import Model

EventKind = Literal["created", "step", "step_end", "select", "blocked", "output", "mark", "error"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
# The kinds that say which task they concern.
TASK_EVENT_KINDS: tuple[EventKind, ...] = (
    "created", "step", "step_end", "blocked", "mark", "error",
)  # fmt: skip


class TaskAt(NamedTuple):
    """One task at a time t: its state then, and what its steps ended by then add up to."""

    task: Task
    state: State
    since: int  # when it entered `state`
    steps: int  # steps ended by t
    busy: int  # their running time, ns
    scheduled_delay: int  # how long they waited in the ready queue, ns
    suspension: int  # Registry code of how the last of them ended (YIELDED before any)
    ref: int  # what that step waited on: the awaited task's index, the sleep's timer, an fd...
    until: int | None  # when it left `state` (None: not recorded yet, or it never does)

    @property
    def wait(self) -> int:
        """WAIT_* the last step ended by t waited on (0: none, a bare yield, or finished)."""
        return max(0, self.task.registry.suspensions[self.suspension][0])

    @property
    def wait_site(self) -> str:
        """Where that step left the task suspended."""
        return self.task.registry.suspensions[self.suspension][1]

    @property
    def wait_chain(self) -> str:
        """The await chain at that point, outermost first."""
        return self.task.registry.suspensions[self.suspension][2]


class LoopAt(NamedTuple):
    """One loop at a time t."""

    loop: Loop
    activity: Activity | None  # in select, running handles, or neither (see activity_at)
    ready: int  # handles in the ready queue
    timers: int  # timers pending
    fds: int  # I/O watchers registered
    alive: int  # its tasks created and not ended
    iterations: int  # iterations whose select had returned


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What every view shows with the time cursor at `t`. Shared: read it, don't change it."""

    t: int
    tasks: dict[int, TaskAt]  # every task created by t (finished ones too), by index
    loops: dict[int, LoopAt]  # every loop opened by t, by source

    def state_counts(self) -> Counter[State]:
        """How many tasks were in each state."""
        return Counter(task.state for task in self.tasks.values())


class Event(NamedTuple):
    """Something that happened at `t`, to move a time cursor to."""

    t: int
    kind: EventKind
    loop: int  # the loop's source (0: the process)
    task: int | None  # the task's index, when it concerns one


_make = TaskAt._make
RUNNING, READY = State.RUNNING, State.READY  # enum members read once, not per task


class _Sums:
    """Running sums over a task's steps: after step i, its end, busy time and delay so far."""

    __slots__ = ("busy", "delay", "ends", "longest")

    def __init__(self) -> None:
        self.ends: array[int] = array(INT64)
        self.busy: array[int] = array(INT64)
        self.delay: array[int] = array(INT64)
        self.longest = 0  # the longest step summed

    def extend(self, rows: array[int]) -> None:
        """Take in the steps of `rows` past those already summed.

        The first time travel over a big trace sums every step of every task (a million, say):
        the arrays are built straight from C iterators, through a list only when one overflows.
        """
        at = len(self.ends) * ROW
        begins, ends = rows[at + BEGIN :: ROW], rows[at + END :: ROW]
        readies = rows[at + READY_SINCE :: ROW]
        self.ends.extend(ends)
        durations = list(map(sub, ends, begins))
        self.longest = max(self.longest, max(durations, default=0))
        _extend_running(self.busy, lambda: durations)
        _extend_running(self.delay, lambda: map(max, map(sub, begins, readies), repeat(0)))


def _extend_running(sums: array[int], values: Callable[[], Iterable[int]]) -> None:
    """Append the running sum of `values()` to `sums`, clamped where it would overflow."""
    try:
        sums.extend(array(INT64, _running_sum(sums, values())))
    except OverflowError:  # a damaged or forged trace
        extend_int64(sums, _running_sum(sums, values()))


def _running_sum(sums: array[int], values: Iterable[int]) -> Iterator[int]:
    """The running sum of `values`, continuing the one in `sums`."""
    return islice(accumulate(values, initial=sums[-1] if sums else 0), 1, None)


class _Column(Sequence[int]):
    """One column of a task's step rows (BEGIN, END...), to bisect: steps are in time order."""

    __slots__ = ("_column", "_rows")

    def __init__(self, rows: array[int], column: int) -> None:
        self._rows = rows
        self._column = column

    def __len__(self) -> int:
        return len(self._rows) // ROW

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        return self._rows[i * ROW + self._column]


def _nearest(times: Sequence[int], t: int, after: bool) -> int | None:
    """The position in sorted `times` of the first one after `t`, or of the last one before."""
    if after:
        i = bisect_right(times, t)
        return i if i < len(times) else None
    i = bisect_left(times, t)
    return i - 1 if i else None


def _walk(i: int | None, n: int, after: bool, fits: Callable[[int], bool]) -> int | None:
    """From position `i` on (forward, or back), the first position below `n` that `fits`."""
    step = 1 if after else -1
    while i is not None and 0 <= i < n:
        if fits(i):
            return i
        i += step
    return None


def _select_near(s: LoopSeries, t: int, after: bool) -> int | None:
    """The position in `s`'s spans of the select wait nearest `t`, after or before it."""

    def fits(i: int) -> bool:
        return s.kind[i] == Activity.SELECT

    # select waits and iterations' handles take turns: the nearest wait is close by
    return _walk(_nearest(s.begin, t, after), len(s.kind), after, fits)


def _long_handle_near(
    s: LoopSeries, t: int, after: bool, task: int | None, min_ns: int
) -> int | None:
    """The position in `s`'s long handles of the one nearest `t` that ran at least `min_ns`
    (and was a step of `task`, if given)."""

    def fits(i: int) -> bool:
        return s.long_end[i] - s.long_begin[i] >= min_ns and task in (None, s.long_task[i])

    return _walk(_nearest(s.long_begin, t, after), len(s.long_begin), after, fits)


def _closest(events: Iterable[Event | None], after: bool) -> Event | None:
    pick = min if after else max
    return pick(filter(None, events), key=lambda event: event.t, default=None)


def _beyond(t: int, when: int, after: bool) -> bool:
    return when > t if after else when < t


class TimeIndex:
    """A model's answers about time t (`Model.at`, `Model.next_event`, `Model.prev_event`)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._sums: dict[int, _Sums] = {}  # by task index
        # suspension code -> the state a step that ended so leaves its task in (None: finished)
        self._after: list[State | None] = []
        self._last: tuple[tuple[int, int], Snapshot] | None = None

    # -- the state at t ------------------------------------------------------------------------

    def at(self, t: int) -> Snapshot:
        """Every task and loop at `t`. Asked again for the same `t` with no record fed since,
        it returns the same snapshot."""
        key = (t, self.model.records)
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        task_at = self.task_at
        before = {} if last is None else last[1].tasks
        tasks = {
            task.index: task_at(task, t, before.get(task.index))
            for task in self.model.tasks
            if task.created <= t
        }
        loops = {
            source: self.loop_at(loop, t)
            for source, loop in self.model.loops.items()
            if loop.opened <= t
        }
        snapshot = Snapshot(t, tasks, loops)
        self._last = (key, snapshot)
        return snapshot

    def warm(self, first: int, count: int) -> int:
        """Sum the steps of tasks `first` to `first + count` now, so that the first time travel
        does not have to; returns the index to go on from (len(tasks): all done)."""
        tasks = self.model.tasks
        for task in tasks[first : first + count]:
            if len(task.rows) > 2 * ROW:  # with two steps or fewer, at() needs no sums
                self._summed(task)
        return min(first + count, len(tasks))

    def task_at(self, task: Task, t: int, near: TaskAt | None = None) -> TaskAt:
        """`task` at `t` (created by then); `near`, the same task at some other time, is the
        answer again if `t` is in the same state. Called for every task each time the cursor
        moves: one bisect at most, and NamedTuples made by `_make`, which is quicker."""
        rows = task.rows
        if not rows:
            return _make((task, task.state, task.since, 0, 0, 0, YIELDED, 0, None))
        if rows[-ROW + END] <= t:  # all its steps had ended: what the replay says now held then
            n = len(rows) // ROW
            suspension, ref = rows[-ROW + SUSPENSION], rows[-ROW + REF]
            return _make((task, task.state, task.since, n, task.busy, task.scheduled_delay,
                          suspension, ref, None))  # fmt: skip
        if near is not None and near.until is not None and near.since <= t < near.until:
            return near  # the cursor moved a little: most tasks are as they were
        # How many steps had ended by t, their busy time and delay: written out here, not in
        # helpers, as this runs for each of 10,000 tasks on a jump (a call costs ~0.1 µs).
        if rows[END] > t:
            done = busy = delay = 0
            end, suspension, ref, after = task.created, YIELDED, 0, READY
        else:
            if rows[-2 * ROW + END] <= t:  # all but the last had ended: no sums needed
                begin = rows[-ROW + BEGIN]
                done = len(rows) // ROW - 1
                busy = task.busy - (rows[-ROW + END] - begin)
                delay = task.scheduled_delay - max(0, begin - rows[-ROW + READY_SINCE])
            else:
                sums = self._sums.get(task.index)
                if sums is None or sums.ends[-1] <= t:
                    sums = self._summed(task)  # steps it made since: one ends after t
                done = bisect_right(sums.ends, t)
                busy, delay = sums.busy[done - 1], sums.delay[done - 1]
            last = (done - 1) * ROW
            end, suspension, ref = rows[last + END], rows[last + SUSPENSION], rows[last + REF]
            known = self._after
            after = known[suspension] if suspension < len(known) else None
            if after is None:
                after = self._state_after(task, suspension)
        following = done * ROW  # the step under way at t, or the next one
        begin, woken = rows[following + BEGIN], rows[following + READY_SINCE]
        if begin <= t:
            state, since, until = RUNNING, begin, rows[following + END]
        elif after in WAITING_STATES and end < woken:
            # woken at `woken`, then ready until its step
            state, since, until = (READY, woken, begin) if woken <= t else (after, end, woken)
        else:
            state, since, until = after, end, begin
        return _make((task, state, since, done, busy, delay, suspension, ref, until))

    def _summed(self, task: Task) -> _Sums:
        """The running sums of `task`'s steps, brought up to date."""
        sums = self._sums.get(task.index)
        if sums is None:
            sums = self._sums[task.index] = _Sums()
        sums.extend(task.rows)
        if sums.ends:  # the task's totals come with them: its views need not sum again
            task.take_totals(len(sums.ends) * ROW, sums.busy[-1], sums.delay[-1], sums.longest)
        return sums

    def _state_after(self, task: Task, suspension: int) -> State:
        """The state a step that ended with `suspension` left `task` in."""
        after = self._after
        if suspension >= len(after):
            waits = [wait for wait, _, _ in task.registry.suspensions[len(after) :]]
            after.extend(None if wait == -1 else wait_state(wait) for wait in waits)
        return after[suspension] or task._state_after(suspension)

    @staticmethod
    def loop_at(loop: Loop, t: int) -> LoopAt:
        """`loop` at `t`."""
        s = loop.series
        return LoopAt(
            loop,
            s.activity_at(t),
            value_at(s.ready_t, s.ready_n, t),
            value_at(s.timers_t, s.timers_n, t),
            value_at(s.fds_t, s.fds_n, t),
            value_at(s.alive_t, s.alive_n, t),
            s.iterations_at(t),
        )

    # -- events around t -----------------------------------------------------------------------

    def find(
        self, t: int, after: bool, task: int | None, kind: EventKind | None, min_ns: int
    ) -> Event | None:
        """The first event after `t` (or the last before it) of `task` and of `kind`; None for
        any. "blocked" events are handles that ran at least `min_ns`."""
        if min_ns < LONG_HANDLE_NS:
            raise ValueError(f"min_ns must be at least {LONG_HANDLE_NS:,}: shorter handles are "
                             "not indexed")  # fmt: skip
        kinds = EVENT_KINDS if task is None else TASK_EVENT_KINDS
        if kind is not None:
            if kind not in kinds:
                raise ValueError(f"no {kind!r} events{'' if task is None else ' of a task'}: "
                                 f"ask for one of {', '.join(kinds)}")  # fmt: skip
            kinds = (kind,)
        tasks = self.model.tasks if task is None else [self.model.tasks[task]]
        finders: dict[EventKind, Callable[[], Iterable[Event]]] = {
            "created": lambda: self._created(t, after, tasks),
            "step": lambda: self._steps(t, after, tasks, BEGIN, "step"),
            "step_end": lambda: self._steps(t, after, tasks, END, "step_end"),
            "select": lambda: self._selects(t, after),
            "blocked": lambda: self._blocked(t, after, task, min_ns),
            "output": lambda: self._output(t, after),
            "mark": lambda: self._notes(t, after, task, "mark"),
            "error": lambda: self._notes(t, after, task, "error"),
        }
        return _closest((_closest(finders[k](), after) for k in kinds), after)

    @staticmethod
    def _created(t: int, after: bool, tasks: Iterable[Task]) -> Iterator[Event]:
        for task in tasks:
            if _beyond(t, task.created, after):
                yield Event(task.created, "created", task.loop, task.index)

    @staticmethod
    def _steps(
        t: int, after: bool, tasks: Iterable[Task], column: int, kind: EventKind
    ) -> Iterator[Event]:
        for task in tasks:
            times = _Column(task.rows, column)
            i = _nearest(times, t, after)
            if i is not None:
                yield Event(times[i], kind, task.loop, task.index)

    def _selects(self, t: int, after: bool) -> Iterator[Event]:
        for source, loop in self.model.loops.items():
            s = loop.series
            i = _select_near(s, t, after)
            if i is not None:
                yield Event(s.begin[i], "select", source, None)

    def _blocked(self, t: int, after: bool, task: int | None, min_ns: int) -> Iterator[Event]:
        for source, loop in self.model.loops.items():
            s = loop.series
            i = _long_handle_near(s, t, after, task, min_ns)
            if i is not None:
                handler = s.long_task[i]
                yield Event(s.long_begin[i], "blocked", source, None if handler < 0 else handler)

    def _output(self, t: int, after: bool) -> Iterator[Event]:
        # not always in time order: the program's raw output comes in at its end
        for output in self.model.output:
            if _beyond(t, output.t, after):
                yield Event(output.t, "output", 0, None)

    def _notes(self, t: int, after: bool, task: int | None, kind: EventKind) -> Iterator[Event]:
        notes = self.model.marks if kind == "mark" else self.model.errors
        for note in notes:
            if _beyond(t, note.t, after) and task in (None, note.task):
                yield Event(note.t, kind, note.loop, note.task)
