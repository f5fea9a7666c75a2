"""Replaying a trace into tasks and loops.

`Model.feed(batch)` takes batches in file order. Each loop's records arrive in the order they
happened; process-level records (output, marks, threads) carry times and are kept apart.

Who woke a task comes from replaying the ready queue: it is FIFO, so the handles one handle run
appended (its ``qlen`` minus what was left) are the next ones to run after those already queued.
A loop recorded from outside (LOOP_OUTSIDE: uvloop's) has no ready queue to replay: each of its
handles says who queued it (HANDLE_BEGIN), and the replayed queue holds that handle alone until
its end, the same way.

A live viewer feeds a program's records as fast as it makes them, so the replay of a task step
(nearly every record) allocates next to nothing: a queue entry is a ``(t, task index)`` tuple,
a step is one row of ints in its task's array, and words are only made when someone asks.

Each loop's `LoopSeries` grows as its records arrive (a few array appends per iteration, and
two per handle that changes the ready queue's length); `TimeIndex` answers for any time t from
those and the step rows.
"""

from __future__ import annotations

import gc
import os
import struct
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import chain, islice, repeat
from typing import Any

from ..trace import schema
from ..trace.reader import INT_LENGTH, Trace, TraceError, all_ints, explain, layout, read_trace
from .series import INT64, LONG_HANDLE_NS, Activity, LoopSeries, append_int64, int64
from .state import (
    FINISHED,
    LAG_BUCKET,
    LAG_BUCKETS,
    NO_WAKER,
    OUTCOME_STATES,
    ROW,
    WAITING_STATES,
    YIELDED,
    Entry,
    Held,
    Loop,
    LoopError,
    Mark,
    Origin,
    Output,
    Queued,
    Registry,
    Scheduled,
    StackSample,
    State,
    Task,
    scheduled,
    wait_state,
)
from .timeindex import Event, EventKind, Snapshot, TimeIndex

READY = State.READY
# Origins a handle's replay names: module globals load faster than enum members (on 3.11).
TASK, CALLBACK, OUTSIDE = Origin.TASK, Origin.CALLBACK, Origin.OUTSIDE
STEP_YIELD = schema.STEP_YIELD
STEP_WAIT = schema.STEP_WAIT
IO_EVENT = schema.IO_EVENT
_HANDLES_IN_PLACE = frozenset({STEP_YIELD, STEP_WAIT, schema.CALLBACK})  # see .handles
# The most entries the replayed ready queue holds: more than a real loop queues at once, and a
# bound on what a damaged or forged length can make the viewer allocate.
MAX_QUEUE = 1 << 22
GONE_KEPT = 64  # collected tasks' ids remembered, for the errors their finalizers report
BULK_GC_THRESHOLD = 50_000  # allocations between young collections during a bulk replay
SELECTING, HANDLES = Activity.SELECT, Activity.HANDLES
Record = tuple[Any, ...]
# Records whose first field is not a time.
_UNTIMED = frozenset({schema.STR, schema.IO_EVENT, schema.TIMER_DUE, schema.SKIP, schema.QUEUED})
# A record's length in a batch, its kind included.
_LENGTH = {kind: n + 1 for kind, n in schema.ARITY.items()}
# A step row (see Task.rows) as the bytes of its array.
_pack_row = struct.Struct(f"{ROW}{INT64}").pack


def _first_time(tb: tuple[Any, ...], length: dict[int, int]) -> int | None:
    """The time of the first timed record in a loop's batch (None: it has none)."""
    pos, end = 1, len(tb)
    while pos < end:
        kind = tb[pos]
        if kind not in _UNTIMED:
            return tb[pos + 1]  # type: ignore[no-any-return]
        pos += length[kind]
    return None


# Scheduled((t, origin, ref, via)): a NamedTuple's own constructor is Python code, this is C.
_new_scheduled = partial(tuple.__new__, Scheduled)


def _entries(t: int, origin: Origin, refs: Iterator[int]) -> Iterator[Entry]:
    """Ready-queue entries ``(t, Scheduled(t, origin, ref))``, one for each of `refs`, made in
    C (an I/O phase queues a handle for every ready fd)."""
    return zip(repeat(t), map(_new_scheduled, zip(repeat(t), repeat(origin), refs, repeat(None))))


def _text(strings: dict[int, str], sid: int) -> str:
    if not sid:
        return ""
    return strings.get(sid, f"<string {sid}?>")


class _LoopReplay:
    """The replay state of one loop: its ready queue, the handle running now, its strings."""

    def __init__(self, model: Model, loop: Loop) -> None:
        self.model = model
        self.loop = loop
        self.queue = loop.queue
        self.all_tasks = model.tasks
        self.registry = model.registry
        self.strings: dict[int, str] = {}
        self.tasks: dict[int, int] = {}  # the task's id() in the program -> Model.tasks index
        # (wait, site id, chain id) -> (Registry suspension code, the state it leaves a task in)
        self.suspensions: dict[tuple[int, int, int], tuple[int, State]] = {}
        self.handle_begin = 0
        self.in_place = 0  # records `handles` replayed, all told
        self.counts = self.registry.counts
        self.lag = [0, 0]  # the current second of loop.lag_buckets: [start, max lag]
        self.lag_end = 0  # the end of that second (0: none yet)
        self.io_fds: list[int] = []
        self.due: list[int] = []
        self.select_end = 0
        self.eager_begins: list[int] = []
        self.eager_next: dict[int, int] = {}  # task index -> begin of its eager step
        self.outside_span: int | None = None  # a loop recorded from outside: its handle's begin
        self.threadsafe: deque[tuple[int, str]] = deque()
        self.series = loop.series
        self.ready_last = 0  # the ready queue length in self.series, to skip unchanged ones
        self.alive = 0  # tasks of this loop created and not ended yet
        self.orphans: dict[int, list[int]] = {}  # parent id not seen yet -> its children
        self.gone: dict[int, int] = {}  # ids of the tasks collected last -> their index
        self.handlers: dict[int, Callable[[Record], object]] = {
            kind: getattr(self, f"_on_{schema.Kind(kind).name.lower()}", _ignore)
            for kind in schema.ARITY
        }
        self.handlers[schema.STEP_YIELD] = partial(self.step, READY, YIELDED, 0)

    def text(self, sid: int) -> str:
        return _text(self.strings, sid)

    # -- the ready queue --------------------------------------------------------------------

    def _fill(self, qlen: int, entry: Entry | None) -> None:
        """Bring the replayed queue to `qlen` entries, the new ones all `entry`. A `qlen` below 0
        is not known (a loop recorded from outside): the queue is left as it is."""
        if qlen < 0:
            return
        queue = self.queue
        missing = min(qlen, MAX_QUEUE) - len(queue)
        if missing == 1:
            queue.append(entry)  # type: ignore[arg-type]
        elif missing > 1:
            queue.extend(repeat(entry, missing))  # type: ignore[arg-type]
        elif missing < 0:
            self._forget(-missing)

    def _fill_from(self, qlen: int, entries: Iterator[Entry]) -> None:
        """Bring the replayed queue to `qlen` entries, the new ones taken from `entries`."""
        queue = self.queue
        missing = min(qlen, MAX_QUEUE) - len(queue)
        if missing > 0:
            queue.extend(islice(entries, missing))
        elif missing < 0:
            self._forget(-missing)

    def _forget(self, n: int) -> None:
        queue = self.queue
        for _ in range(min(n, len(queue))):
            queue.popleft()  # removed without running (loop closed): forget the oldest

    def _outside(self, t: int) -> Iterator[Entry]:
        """Entries appended while the loop did not run a handle: another thread's, if pending."""
        threadsafe = self.threadsafe
        while threadsafe and threadsafe[0][0] <= t:
            _, what = threadsafe.popleft()
            yield t, Scheduled(t, Origin.THREAD, what)
        yield from repeat((t, Scheduled(t, Origin.OUTSIDE, "")))

    def _claim_threadsafe(self, t: int) -> None:
        """Another thread appended while a handle ran: relabel the newest entries as its own.

        Which of the entries appended during the handle came from the thread is not recorded;
        the newest ones are the likeliest, as a step schedules most of its work as it suspends.
        """
        threadsafe = self.threadsafe
        queue = self.queue
        index = len(queue) - 1
        while threadsafe and threadsafe[0][0] <= t and index >= 0:
            if queue[index][0] != t:
                break  # only entries appended during this handle
            when, what = threadsafe.popleft()
            queue[index] = (when, Scheduled(when, Origin.THREAD, what))
            index -= 1

    def _note_ready(self, t: int) -> None:
        """The ready queue may have changed length at `t`: a point in the series if it did.

        Called for most handles (its callers skip it when the handle's qlen is the last length
        noted), so the appends are written out here.
        """
        n = len(self.queue)
        if n != self.ready_last:
            self.ready_last = n
            series = self.series
            try:
                series.ready_t.append(t)
            except OverflowError:
                series.ready_t.append(int64(t))
            series.ready_n.append(n)

    def _note_count(self, series_t: array[int], series_n: array[int], t: int, n: int) -> None:
        """One of the loop's counts is `n` at `t`: a point in its series if that is a change."""
        if n != (series_n[-1] if series_n else 0):
            append_int64(series_t, t)
            series_n.append(n)

    def _long_handle(self, begin: int, end: int, task: int) -> None:
        series = self.series
        append_int64(series.long_begin, begin)
        append_int64(series.long_end, end)
        series.long_task.append(task)

    def _pop(self, t: int) -> Entry:
        queue = self.queue
        return queue.popleft() if queue else (t, Scheduled(t, Origin.OUTSIDE, ""))

    def _handle_done(self, t: int, qlen: int, entry: Entry | None) -> None:
        """A handle that began at `handle_begin` ended at `t`, having queued `entry`s."""
        missing = qlen - len(self.queue)
        if missing == 1:  # the commonest cases of _fill, without the call
            self.queue.append(entry)  # type: ignore[arg-type]
        elif missing:
            self._fill(qlen, entry)
        if qlen != self.ready_last:
            self._note_ready(t)
        if self.threadsafe:
            self._claim_threadsafe(t)
        loop = self.loop
        loop.handles += 1
        duration = t - self.handle_begin
        loop.busy_time += duration
        if duration > loop.longest_handle:
            loop.longest_handle = duration
        if duration >= LONG_HANDLE_NS:
            self._long_handle(self.handle_begin, t, -1)
        self.handle_begin = t
        if self.eager_begins:
            self.eager_begins.clear()

    # -- task steps -------------------------------------------------------------------------

    def step(self, after: State, suspension: int, ref: int, r: Record) -> Task:
        """The step record `r` (``STEP_*, t, task, qlen, ...``) leaves its task `after`.

        Nearly every record of a busy program is a step, so this is written out in one function:
        a Python call costs as much as several lines. `handles` repeats it for runs of STEP_YIELD
        and STEP_WAIT (what changes here changes there too).
        """
        t = r[1]
        ident = r[2]
        qlen = r[3]
        try:
            index = self.tasks[ident]
        except KeyError:
            index = self.task_index(ident, t)
        task = self.all_tasks[index]
        eager_begin = self.eager_next.pop(index, None) if self.eager_next else None
        queue = self.queue
        if eager_begin is None:
            begin = self.handle_begin
            waker_t, who = queue.popleft() if queue else self._pop(t)
            waker = who if type(who) is int else self.registry.keep(who)  # type: ignore[arg-type]
            # already ready (new, or it yielded): since then; else since its wakeup was queued
            if task.state is READY:  # states are State members: `is` skips IntEnum's ==
                ready_since = task.since
            else:
                ready_since = waker_t if waker_t < begin else begin
        else:
            begin = ready_since = waker_t = eager_begin
            waker = NO_WAKER
        # packed to bytes: cheaper than an array converting a list one int at a time
        try:
            task.rows.frombytes(_pack_row(begin, t, ready_since, waker_t, waker, suspension, ref))
        except struct.error:  # ints past 64 bits: a damaged or forged trace
            row = [begin, t, ready_since, waker_t, waker, suspension, ref]
            task.rows.fromlist([int64(value) for value in row])
        if after is not task.state:  # as Task.enter
            counts = self.counts
            counts[task.state] -= 1
            counts[after] += 1
            task.state = after
        task.since = t
        duration = t - begin
        delay = begin - ready_since if begin > ready_since else 0
        missing = qlen - len(queue)
        if missing == 1:
            queue.append((t, index))
        elif missing:
            self._fill(qlen, (t, index))
        if qlen != self.ready_last:
            self._note_ready(t)
        if eager_begin is not None:
            return task  # nested in its creator's handle
        # the handle's end, as _handle_done
        if self.threadsafe:
            self._claim_threadsafe(t)
        loop = self.loop
        loop.handles += 1
        loop.steps += 1
        loop.busy_time += duration
        if duration > loop.longest_handle:
            loop.longest_handle = duration
        if duration >= LONG_HANDLE_NS:
            self._long_handle(begin, t, index)
        self.handle_begin = t
        if self.eager_begins:
            self.eager_begins.clear()
        loop.lag = delay
        if begin < self.lag_end:
            if delay > self.lag[1]:
                self.lag[1] = delay
                self._note_lag(begin, delay)
        else:
            self._next_lag_second(begin, delay)
        return task

    def handles(self, tb: tuple[Any, ...], pos: int, end: int) -> int:
        """Replay the STEP_YIELD, STEP_WAIT and CALLBACK records from `tb[pos]` on, as `step`
        and `_on_callback` do; return where they end.

        A busy program's trace is mostly runs of these (every task in the ready queue yields or
        waits in turn, I/O callbacks wake tasks), so they are replayed in place, without a tuple
        or a call per record: `step` and `_on_callback` written out once more, their state kept
        in locals for the run. A run that would need one of `step`'s rare paths (an eager
        task's first step, a thread's pending callbacks) goes through the handlers.
        """
        if self.eager_next or self.threadsafe:
            handlers, length = self.handlers, _LENGTH
            while pos < end and tb[pos] in _HANDLES_IN_PLACE:
                nxt = pos + length[tb[pos]]
                if nxt > end:
                    raise ValueError("a record is cut short")  # only an unchecked batch's
                handlers[tb[pos]](tb[pos:nxt])
                pos = nxt
                self.in_place += 1
            return pos
        if self.eager_begins:
            self.eager_begins.clear()  # as the first step's end does: nothing else reads them
        tasks = self.tasks
        all_tasks = self.all_tasks
        queue = self.queue
        popleft = queue.popleft
        keep = self.registry.keep
        suspensions = self.suspensions
        pack_row = _pack_row
        counts = self.counts
        loop = self.loop
        lag = self.lag
        lag_end = self.lag_end
        handle_begin = self.handle_begin
        ready_last = self.ready_last
        ready_t_append = self.series.ready_t.append
        ready_n_append = self.series.ready_n.append
        longest_handle = loop.longest_handle
        watch = min(longest_handle, LONG_HANDLE_NS - 1)  # a duration past this is news
        delay = loop.lag
        first_begin = handle_begin  # each step begins where the one before it ended, so
        step_yield, step_wait, wait_task = STEP_YIELD, STEP_WAIT, schema.WAIT_TASK
        callback, strings = schema.CALLBACK, self.strings
        callbacks = 0
        ready, yielded = READY, YIELDED
        steps = 0  # the run was busy from first_begin to its last end
        try:
            while pos < end:
                kind = tb[pos]
                if kind == step_yield:
                    t = tb[pos + 1]
                    ident = tb[pos + 2]
                    qlen = tb[pos + 3]
                    pos += 4
                    after, suspension, ref = ready, yielded, 0
                elif kind == step_wait:
                    _, t, ident, qlen, wait, ref, site, chain = tb[pos : pos + 8]
                    key = (wait, site, chain)
                    pos += 8
                    if wait == wait_task:
                        self.task_index(ident, t)  # a placeholder for the stepping task first
                        ref = self.task_index(ref, t)
                    try:
                        suspension, after = suspensions[key]
                    except KeyError:
                        suspension, after = self._suspension(key)
                elif kind == callback:  # as _on_callback and _handle_done
                    t = tb[pos + 1]
                    qlen = tb[pos + 2]
                    what = tb[pos + 3]
                    pos += 4
                    try:
                        when, scheduled_by = popleft()
                    except IndexError:
                        scheduled_by = _new_scheduled((t, OUTSIDE, "", None))
                    else:
                        if type(scheduled_by) is int:
                            scheduled_by = _new_scheduled((when, TASK, scheduled_by, None))
                        elif scheduled_by.origin is CALLBACK:
                            scheduled_by = scheduled_by.via
                    callbacks += 1
                    missing = qlen - len(queue)
                    if missing > 0:
                        try:
                            text = strings[what]
                        except KeyError:
                            text = _text(strings, what)
                        entry = (t, _new_scheduled((t, CALLBACK, text, scheduled_by)))
                        if missing == 1:
                            queue.append(entry)
                        else:
                            self._fill(qlen, entry)
                    elif missing:
                        self._fill(qlen, None)
                    if qlen != ready_last:  # as _note_ready
                        n = len(queue)
                        if n != ready_last:
                            ready_last = n
                            try:
                                ready_t_append(t)
                            except OverflowError:
                                ready_t_append(int64(t))
                            ready_n_append(n)
                    duration = t - handle_begin
                    if duration > watch:
                        if duration > longest_handle:
                            longest_handle = duration
                        if duration >= LONG_HANDLE_NS:
                            self._long_handle(handle_begin, t, -1)
                        watch = min(longest_handle, LONG_HANDLE_NS - 1)
                    handle_begin = t
                    continue
                else:
                    break
                begin = handle_begin
                try:
                    index = tasks[ident]
                except KeyError:
                    index = self.task_index(ident, t)
                task = all_tasks[index]
                try:
                    waker_t, who = popleft()
                except IndexError:  # queued while no handle ran that we saw
                    waker_t, who = t, _new_scheduled((t, OUTSIDE, "", None))
                waker = who if type(who) is int else keep(who)  # type: ignore[arg-type]
                state = task.state
                if state is ready:
                    ready_since = task.since
                else:
                    ready_since = waker_t if waker_t < begin else begin
                if after is not state:
                    counts[state] -= 1
                    counts[after] += 1
                    task.state = after
                try:
                    task.rows.frombytes(
                        pack_row(begin, t, ready_since, waker_t, waker, suspension, ref)
                    )
                except struct.error:  # as in `step`
                    row = [begin, t, ready_since, waker_t, waker, suspension, ref]
                    task.rows.fromlist([int64(value) for value in row])
                task.since = t
                duration = t - begin
                delay = begin - ready_since if begin > ready_since else 0
                missing = qlen - len(queue)
                if missing == 1:
                    queue.append((t, index))
                elif missing:
                    self._fill(qlen, (t, index))
                if qlen != ready_last:  # as _note_ready
                    n = len(queue)
                    if n != ready_last:
                        ready_last = n
                        try:
                            ready_t_append(t)
                        except OverflowError:
                            ready_t_append(int64(t))
                        ready_n_append(n)
                steps += 1
                if duration > watch:  # a new longest handle, or a long one
                    if duration > longest_handle:
                        longest_handle = duration
                    if duration >= LONG_HANDLE_NS:
                        self._long_handle(begin, t, index)
                    watch = min(longest_handle, LONG_HANDLE_NS - 1)
                handle_begin = t
                if begin < lag_end:
                    if delay > lag[1]:
                        lag[1] = delay
                        self._note_lag(begin, delay)
                else:
                    self._next_lag_second(begin, delay)
                    lag = self.lag
                    lag_end = self.lag_end
        finally:
            self.handle_begin = handle_begin
            self.ready_last = ready_last
            loop.longest_handle = longest_handle
            loop.lag = delay
            loop.handles += steps + callbacks
            self.in_place += steps + callbacks
            loop.steps += steps
            loop.callbacks += callbacks
            loop.busy_time += handle_begin - first_begin
        return pos

    def _next_lag_second(self, begin: int, lag: int) -> None:
        """The first step in a new second of loop.lag_buckets; the seconds skipped had none."""
        start = begin - begin % LAG_BUCKET
        buckets = self.loop.lag_buckets
        if self.lag_end:
            idle_from = max(self.lag_end, start - LAG_BUCKETS * LAG_BUCKET)
            buckets.extend([second, 0] for second in range(idle_from, start, LAG_BUCKET))
        self.lag = [start, lag]
        self.lag_end = start + LAG_BUCKET
        buckets.append(self.lag)
        self._note_lag(begin, lag)

    def _note_lag(self, begin: int, lag: int) -> None:
        append_int64(self.series.lag_t, begin)
        append_int64(self.series.lag_n, lag)

    def _on_step_wait(self, r: Record) -> None:
        _, t, ident, _, wait, ref, site_id, chain_id = r
        if wait == schema.WAIT_TASK:
            self.task_index(ident, t)  # a placeholder for the stepping task comes first
            ref = self.task_index(ref, t)
        key = (wait, site_id, chain_id)
        try:
            suspension, after = self.suspensions[key]
        except KeyError:
            suspension, after = self._suspension(key)
        self.step(after, suspension, ref, r)

    def _suspension(self, key: tuple[int, int, int]) -> tuple[int, State]:
        """The Registry code of a (wait, site id, chain id) seen the first time, and the state
        it leaves a task in; kept for the next time."""
        wait, site_id, chain_id = key
        suspension = self.registry.suspension(wait, self.text(site_id), self.text(chain_id))
        found = self.suspensions[key] = suspension, wait_state(wait)
        return found

    def _on_step_done(self, r: Record) -> None:
        _, t, _, _, outcome, detail = r
        state = OUTCOME_STATES.get(outcome)
        if state is None:  # a well-formed record no recorder writes: the trace is damaged
            raise TraceError(f"a task's step ended with an unknown outcome ({outcome!r})")
        task = self.step(state, FINISHED, 0, r)
        if task.ended is None:
            self._note_alive(t, -1)
        task.ended, task.outcome = t, outcome
        task.error = self.text(detail)

    # -- tasks ------------------------------------------------------------------------------

    def task_index(self, ident: int, t: int) -> int:
        index = self.tasks.get(ident)
        if index is None:
            # Not created through create_task (the recorder says so at its first wait or end),
            # or created before a cut: a placeholder until its TASK_NEW, if any, comes.
            task = self._new_task(ident, "?", "?", "", False, t)
            task.placeholder = True
            index = task.index
        return index

    def _new_task(self, ident: int, name: str, coro: str, site: str, eager: bool, t: int) -> Task:
        tasks = self.all_tasks
        task = Task(len(tasks), self.loop.source, ident, name, coro, site, None, eager, t,
                    self.registry)  # fmt: skip
        tasks.append(task)
        self.tasks[ident] = task.index
        self._note_alive(t, 1)
        return task

    def _note_alive(self, t: int, change: int) -> None:
        self.alive += change
        self._note_count(self.series.alive_t, self.series.alive_n, t, self.alive)

    def _adopt_child(self, parent: int, child: int) -> None:
        self.all_tasks[child].parent = parent
        self.all_tasks[parent].children.append(child)

    def _on_task_new(self, r: Record) -> None:
        _, t, ident, name, coro, site, parent, eager = r
        parent_index = self.tasks.get(parent) if parent else None
        index = self.tasks.get(ident)
        if index is not None and self.all_tasks[index].placeholder:
            task = self.all_tasks[index]  # a task adopted late: what its steps could not say
            task.name, task.coro, task.site = name, self.text(coro), self.text(site)
            task.placeholder = False
        else:
            task = self._new_task(ident, name, self.text(coro), self.text(site), bool(eager), t)
            index = task.index
        if parent_index is not None and task.parent is None:
            self._adopt_child(parent_index, index)
        elif parent and parent_index is None:
            # An eager parent's TASK_NEW comes after the children its first step made.
            self.orphans.setdefault(parent, []).append(index)
        for child in self.orphans.pop(ident, ()):
            self._adopt_child(index, child)
        if eager:
            self.eager_next[index] = self.eager_begins.pop() if self.eager_begins else t
        elif self.eager_begins:
            self.eager_begins.pop()

    def _task(self, ident: int) -> Task | None:
        index = self.tasks.get(ident)
        return None if index is None else self.all_tasks[index]

    def _on_task_name(self, r: Record) -> None:
        task = self._task(r[2])
        if task is not None:
            task.name = r[3]

    def _on_task_cancel(self, r: Record) -> None:
        task = self._task(r[2])
        if task is not None:
            queue = self.queue
            by = scheduled(queue[0]).describe(self.all_tasks) if queue else "unknown"
            task.cancel_requests.append((r[1], by))
            task.cancelling = max(task.cancelling, r[3])

    def _on_task_gone(self, r: Record) -> None:
        index = self.tasks.pop(r[2], None)  # the id is free for a new task from here on
        if index is not None:
            self.all_tasks[index].gone = r[1]
            # its finalizer may report it right after ("destroyed but it is pending")
            self.gone[r[2]] = index
            if len(self.gone) > GONE_KEPT:
                del self.gone[next(iter(self.gone))]

    def _on_eager_begin(self, r: Record) -> None:
        self.eager_begins.append(r[1])

    # -- the loop ---------------------------------------------------------------------------

    def _on_str(self, r: Record) -> None:
        self.strings[r[1]] = r[2]

    def _on_loop_open(self, r: Record) -> None:
        _, t, _loop_time, thread, thread_name, cls = r
        loop = self.loop
        loop.opened, loop.thread = t, thread
        loop.thread_name, loop.cls = self.text(thread_name), self.text(cls)

    def _on_loop_outside(self, r: Record) -> None:
        self.loop.outside = self.text(r[2]) or "?"
        self.ready_last = -1  # its qlen: never a point in the ready series
        self.threadsafe.clear()  # its handles say what queued them

    def _on_handle_begin(self, r: Record) -> None:
        """A handle of a loop recorded from outside begins: its entry alone in the queue, for
        its end (a step, a callback) to take as any handle takes its own."""
        _, t, queued, by, ref, what, via, via_ref = r
        if self.outside_span is not None and self.handle_begin > self.outside_span:
            self._span(self.outside_span, self.handle_begin, HANDLES)  # the handle before
        self.outside_span = self.handle_begin = t
        who = self._queued_by(queued, by, ref, what)
        if by == schema.BY_CALLBACK:
            who = Scheduled(
                queued,
                CALLBACK,
                self.text(what),
                scheduled((queued, self._queued_by(queued, via, via_ref, what))),
            )
        self.queue.clear()  # a handle that never ended (the trace was cut, or it was aborted)
        self.queue.append((queued, who))

    def _queued_by(self, t: int, by: int, ref: int, what: int) -> int | Scheduled:
        """Who queued a handle at `t`, as a HANDLE_BEGIN says (`by` never BY_CALLBACK here): a
        task's index, or a Scheduled."""
        if by == schema.BY_TASK:
            index = self.tasks.get(ref)
            if index is None or self.all_tasks[index].created > t:
                # its id names a newer task now: the one that queued it was collected since
                index = self.gone.get(ref, index)
            if index is not None:
                return index
        elif by == schema.BY_TIMER:
            return Scheduled(t, Origin.TIMER, ref)
        elif by == schema.BY_THREAD:
            return Scheduled(t, Origin.THREAD, self.text(what))
        elif by == schema.BY_OUTSIDE:
            return Scheduled(t, OUTSIDE, "")
        return Scheduled(t, Origin.UNSEEN, "")

    def _on_loop_close(self, r: Record) -> None:
        self.loop.closed = r[1]
        self._on_run_end(r)

    def _on_run_begin(self, r: Record) -> None:
        self.loop.thread, self.loop.thread_name = r[2], self.text(r[3])

    def _end_span(self) -> None:
        """The span in progress (there is one) ends: an iteration's handles with its last one."""
        series = self.series
        begin, activity = series.current  # type: ignore[misc]
        series.current = None
        if activity == HANDLES and self.handle_begin > begin:
            self._span(begin, self.handle_begin, HANDLES)

    def _span(self, begin: int, end: int, activity: Activity) -> None:
        """Append an activity span (once per select, and once per iteration's handles: the
        appends are written out here)."""
        series = self.series
        try:
            series.begin.append(begin)
            series.end.append(end)
        except OverflowError:  # a damaged trace: clamped, and the two arrays kept in step
            del series.begin[len(series.end) :]
            series.begin.append(int64(begin))
            series.end.append(int64(end))
        series.kind.append(activity)

    def _on_idle(self, r: Record) -> None:
        self.loop.idle_since = r[1]
        if self.series.current is not None:
            self._end_span()
        self.series.current = (r[1], SELECTING)

    def _on_run_end(self, r: Record) -> None:
        self.loop.run_ends.append(r[1])
        if self.series.current is not None:
            self._end_span()
        if self.outside_span is not None:
            if self.handle_begin > self.outside_span:
                self._span(self.outside_span, self.handle_begin, HANDLES)  # its last handle
            self.outside_span = None

    def _on_select(self, r: Record) -> None:
        _, t, _timeout, t_end, events, qlen = r
        series = self.series
        if series.current is not None:
            self._end_span()
        self._span(t, t_end, SELECTING)
        try:
            series.iterations.append(t_end)
        except OverflowError:
            series.iterations.append(int64(t_end))
        loop = self.loop
        loop.idle_since = None
        loop.iterations += 1
        waited = t_end - t
        loop.select_time += waited
        loop.longest_select = max(loop.longest_select, waited)
        loop.io_events += events
        self._fill_from(qlen, self._outside(t_end))
        if qlen != self.ready_last:
            self._note_ready(t_end)  # written when select returned: it holds from then on
        self.select_end = t_end
        self.io_fds.clear()
        self.due.clear()

    def _on_io_event(self, r: Record) -> None:
        self.io_fds.append(r[1])

    def _on_timer_due(self, r: Record) -> None:
        self.due.append(r[1])
        self.loop.timers_due += 1
        self.loop.timers.pop(r[1], None)
        # the timer phase follows the select; from outside, the timer's own run begins then
        self._note_timers(self.handle_begin if self.loop.outside else self.select_end)

    def _on_ready(self, r: Record) -> None:
        _, t, qlen_io, ntodo, _timers = r
        end = self.select_end
        self._fill_from(qlen_io, _entries(end, Origin.IO, chain(self.io_fds, repeat(-1))))
        self._fill_from(ntodo, _entries(t, Origin.TIMER, chain(self.due, repeat(0))))
        if ntodo != self.ready_last:
            self._note_ready(t)
        self.handle_begin = t
        if self.series.current is not None:
            self._end_span()
        self.series.current = (t, HANDLES)

    def _on_callback(self, r: Record) -> None:
        """A callback ran (`handles` repeats this for runs: what changes here changes there)."""
        _, t, qlen, what = r
        queue = self.queue
        # scheduled(self._pop(t)), written out: callbacks are the commonest handles after steps
        if queue:
            when, scheduled_by = queue.popleft()
            if type(scheduled_by) is int:
                scheduled_by = _new_scheduled((when, TASK, scheduled_by, None))
            elif scheduled_by.origin is CALLBACK:
                # keep chains of callbacks one deep: what set them off is what a person asks
                scheduled_by = scheduled_by.via  # type: ignore[assignment]
        else:
            scheduled_by = _new_scheduled((t, OUTSIDE, "", None))
        self.loop.callbacks += 1
        entry = None
        if qlen > len(queue):
            text = _text(self.strings, what)
            entry = (t, _new_scheduled((t, CALLBACK, text, scheduled_by)))
        self._handle_done(t, qlen, entry)

    def _on_skip(self, r: Record) -> None:
        begin = self.handle_begin
        self._pop(begin)
        self.loop.skipped += 1
        self._fill(r[1], (begin, Scheduled(begin, Origin.OUTSIDE, "")))
        self._note_ready(begin)

    def _on_abort(self, r: Record) -> None:
        _, t, qlen = r
        self._pop(t)
        self._handle_done(t, qlen, (t, Scheduled(t, Origin.OUTSIDE, "")))

    def _on_timer_add(self, r: Record) -> None:
        _, t, seq, when, what = r
        self.loop.timers_added += 1
        self.loop.timers[seq] = (when, self.text(what))
        self._note_timers(t)

    def _on_timer_cancel(self, r: Record) -> None:
        self.loop.timers_cancelled += 1
        self.loop.timers.pop(r[2], None)
        self._note_timers(r[1])

    def _note_timers(self, t: int) -> None:
        self._note_count(self.series.timers_t, self.series.timers_n, t, len(self.loop.timers))

    def _on_io_add(self, r: Record) -> None:
        _, t, fd, mask, what = r
        self.loop.watchers[(fd, mask)] = self.text(what)
        self._note_fds(t)

    def _on_io_remove(self, r: Record) -> None:
        self.loop.watchers.pop((r[2], r[3]), None)
        self._note_fds(r[1])

    def _note_fds(self, t: int) -> None:
        self._note_count(self.series.fds_t, self.series.fds_n, t, len(self.loop.watchers))

    def _on_mark(self, r: Record) -> None:
        self.model._note(self.loop.source, self.strings, r)

    _on_exception = _on_mark

    # -- a stepper's holds --------------------------------------------------------------------

    def _on_paused(self, r: Record) -> None:
        _, t, point, k, n, timeout, why, queued = r
        loop = self.loop
        loop.held = Held(t, point, k, n, None if timeout < 0 else timeout, why, [], queued)
        loop.holds += 1
        loop.idle_since = None  # held, not idle: the viewer says which

    def _on_queued(self, r: Record) -> None:
        held = self.loop.held
        if held is None or held.expected <= 0:
            return  # not after a PAUSED (a damaged trace): nothing to add it to
        held.expected -= 1
        _, ident, what, where = r
        index = self.tasks.get(ident) if ident else None
        entry = Queued(index, self.text(what), self.text(where))
        position = len(held.queue)
        held.queue.append(entry)
        if entry.what == "wakeup" and index is not None and position < len(self.queue):
            # Its wakeup is queued: it is ready now, as its next step will say; since when
            # the entry was queued, which is what that step takes its ready time from.
            task = self.all_tasks[index]
            if task.state in WAITING_STATES:
                task.enter(self.queue[position][0], READY)

    def _on_resumed(self, r: Record) -> None:
        self.loop.held = None
        self.model.held_ns = max(self.model.held_ns, r[2])


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Let the garbage collector run less often while a trace is replayed in bulk.

    A replay keeps nearly everything it makes (tasks, rows, queue entries), so the collections
    its allocations set off find nothing to free; over a million records they cost ~15% of the
    load. The thresholds are the process's: they are put back as they were.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], BULK_GC_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _ignore(r: Record) -> None:
    """Records the model has nothing to take from (process records in a loop's source)."""


class Model:
    """Everything a trace says, replayed: tasks, loops, output, marks, errors, how it ended."""

    def __init__(self) -> None:
        self.header: dict[str, Any] = {}
        self.tasks: list[Task] = []
        self.loops: dict[int, Loop] = {}
        self.output: list[Output] = []
        self.marks: list[Mark] = []
        self.errors: list[LoopError] = []
        self.stacks: list[StackSample] = []  # the watchdog's samples of stuck loops
        self.answers: list[tuple[int, str]] = []  # the program's answers to a viewer's commands
        self.notes: list[tuple[int, str]] = []  # what the recorder said about the recording
        self.exit_status: int | None = None
        self.exit_detail: str = ""
        self.truncated = False
        self.dropped = 0
        self.records = 0
        self.held_ns = 0  # how far a stepper has set the program's clock behind the real one
        self.start: int | None = None
        self.end = 0
        self.registry = Registry(self.tasks)
        self._strings: dict[int, str] = {}  # the process source's
        self._replays: dict[int, _LoopReplay] = {}
        self._time = TimeIndex(self)

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def from_trace(cls, trace: Trace) -> Model:
        model = cls()
        model.header = trace.header.meta
        model.feed_all(trace.batches)
        model.truncated = trace.truncated
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        return cls.from_trace(read_trace(path))

    def feed_all(self, batches: Iterable[list[Any]]) -> None:
        with fewer_collections():
            for batch in batches:
                self.feed(batch)

    def feed(self, batch: list[Any]) -> None:
        """Replay one batch (``[source, kind, fields...]``).

        A loop's batch of ints only (most of them) is replayed as it is walked: a walk of its
        own first costs a tenth of the replay. Then a damaged batch is found where the walk
        meets the damage, and what came before it has been replayed; any other batch is
        checked whole, as `records` checks it, first.
        """
        tb = all_ints(batch)
        if tb is not None and tb[0] != 0:
            try:
                self._feed_loop(tb[0], tb, INT_LENGTH)
            except Exception:
                problem = explain(batch)
                if problem is None:
                    raise  # a good batch: the model's own error
                raise TraceError(problem) from None
            return
        tb, starts = layout(batch)
        if tb[0] == 0:
            self.records += len(starts)
            self._feed_process([tb[start : start + _LENGTH[tb[start]]] for start in starts])
        else:
            self._feed_loop(tb[0], tb, _LENGTH)

    def _feed_loop(self, source: int, tb: tuple[Any, ...], length: dict[int, int]) -> None:
        """Replay a loop's batch, walking it by `length`; count its records as they go."""
        first = _first_time(tb, length)
        replay = self._replays.get(source)
        if replay is None:
            replay = self._replay(source, self.end if first is None else first)
        handlers = replay.handlers
        pos, end = 1, len(tb)
        handles = replay.handles
        io_event = replay.io_fds.append  # the list is cleared in place at each select
        last = first
        n = 0  # records replayed here; those of `handles` it counts itself
        in_place = replay.in_place
        try:
            while pos < end:
                kind = tb[pos]
                if kind in _HANDLES_IN_PLACE:
                    pos = handles(tb, pos, end)
                    last = replay.handle_begin
                elif kind == IO_EVENT:  # one per ready fd: as _on_io_event, without a call
                    io_event(tb[pos + 1])
                    pos += 3
                    n += 1
                else:
                    nxt = pos + length[kind]
                    if nxt > end:
                        raise ValueError("a record is cut short")  # only an unchecked batch's
                    handlers[kind](tb[pos:nxt])
                    if kind not in _UNTIMED:
                        last = tb[pos + 1]
                    pos = nxt
                    n += 1
            if pos != end:
                raise ValueError("a record is cut short")  # an I/O event's, unchecked
        finally:
            self.records += n + replay.in_place - in_place
            if first is not None:
                self._saw(first, last)  # type: ignore[arg-type]

    def _feed_process(self, recs: list[Record]) -> None:
        # from any thread of the program: not in time order
        times = [r[1] for r in recs if r[0] not in _UNTIMED]
        if times:
            self._saw(min(times), max(times))
        for record in recs:
            self._process_record(record)

    def add_output(self, t: int, stream: int, text: str) -> None:
        """Output the program wrote that reached the viewer some other way than the trace."""
        self._saw(t, t)
        self.output.append(Output(t, stream, text))

    # -- helpers -----------------------------------------------------------------------------

    def _saw(self, first: int, last: int) -> None:
        if self.start is None or first < self.start:
            self.start = first
        if last > self.end:
            self.end = last

    def _replay(self, source: int, t: int) -> _LoopReplay:
        replay = self._replays.get(source)
        if replay is None:
            loop = self.loops[source] = Loop(source, t)
            replay = self._replays[source] = _LoopReplay(self, loop)
        return replay

    def stuck_at(self, source: int) -> StackSample | None:
        """Where loop `source` is stuck now, if the watchdog sampled it since its last handle
        ended (None: it is not known to be stuck)."""
        replay = self._replays.get(source)
        for sample in reversed(self.stacks):
            if sample.loop == source:  # (a loop stuck before its first records were written
                # has no replay yet: the watchdog's samples are all there is)
                stuck = replay is None or sample.t > replay.handle_begin
                return sample if stuck else None
        return None

    def stuck_since(self, source: int) -> int | None:
        """When the handle loop `source` is stuck in began (its previous handle's end), if the
        watchdog has seen it stuck; else None."""
        sample = self.stuck_at(source)
        return None if sample is None else sample.t - sample.stuck

    def samples_between(self, source: int, begin: int, end: int) -> list[StackSample]:
        """The watchdog's samples of loop `source` taken from `begin` to `end`."""
        return [s for s in self.stacks if s.loop == source and begin <= s.t <= end]

    def task_of(self, loop: int, ident: int) -> Task | None:
        """The task a loop's records call `ident` now (or called it until it was collected a
        moment ago: its finalizer's report names it)."""
        replay = self._replays.get(loop)
        if replay is None:
            return None
        index = replay.tasks.get(ident)
        if index is None:
            index = replay.gone.get(ident)
        return None if index is None else self.tasks[index]

    # -- process records (source 0) ------------------------------------------------------------

    def _process_record(self, record: Record) -> None:
        kind = record[0]
        if kind == schema.STR:
            self._strings[record[1]] = record[2]
        elif kind == schema.OUTPUT:
            _, t, stream, text = record
            self.output.append(Output(t, stream, str(text)))
        elif kind in (schema.MARK, schema.EXCEPTION):
            self._note(0, self._strings, record)
        elif kind == schema.THREADSAFE:
            _, t, loop, _thread, what = record
            replay = self._replay(loop, t)
            if not replay.loop.outside:  # whose handles say who queued them
                replay.threadsafe.append((t, _text(self._strings, what)))
            replay.loop.threadsafe_calls += 1
        elif kind == schema.EXIT:
            _, _t, status, detail = record
            self.exit_status = status
            if detail:
                self.exit_detail = str(detail)
        elif kind == schema.DROPPED:
            self.dropped += record[2]
        elif kind == schema.ANSWER:
            self.answers.append((record[1], str(record[2])))
        elif kind == schema.NOTE:
            self.notes.append((record[1], str(record[2])))
        elif kind == schema.STACK:
            _, t, loop, stuck, ident, label, text = record
            task = self.task_of(loop, ident) if ident else None
            index = None if task is None else task.index
            frames = tuple(str(text).split("\n"))
            self.stacks.append(StackSample(t, loop, frames, index, str(label), stuck))

    def _note(self, source: int, strings: dict[int, str], r: Record) -> None:
        """A MARK or an EXCEPTION, from a loop's own source or from source 0."""
        kind, t, loop, task_seq = r[:4]
        loop = loop or source
        task = self.task_of(loop, task_seq) if task_seq else None
        index = None if task is None else task.index
        texts = [_text(strings, sid) for sid in r[4:]]
        if kind == schema.MARK:
            self.marks.append(Mark(t, loop, index, texts[0]))
        else:
            self.errors.append(LoopError(t, loop, index, *texts))

    # -- questions ----------------------------------------------------------------------------

    @property
    def duration(self) -> int:
        return 0 if self.start is None else self.end - self.start

    def state_counts(self) -> dict[State, int]:
        """How many tasks are in each state now."""
        counts = self.registry.counts
        return {state: counts[state] for state in State}

    def waiting_on(self, task: Task, now: int | None = None) -> str:
        """What `task` waits for, in a few words ("" once it is done); a sleep's time left counts
        from `now` (default: the latest record seen)."""
        if task.outcome is not None:
            return ""
        # The records come in batches, some way behind `now`: a sleep is known to be late only
        # by as much as it was due before the latest of them (a stuck loop's watchdog samples
        # move that on too).
        timers = self.loops[task.loop].timers
        return self.wait_words(task.state, task.wait, task.wait_ref, timers, now, self.end)

    def wait_words(
        self,
        state: State,
        wait: int,
        ref: int,
        timers: dict[int, tuple[int, str]] | None = None,
        now: int | None = None,
        known: int | None = None,
    ) -> str:
        """A task in `state` after a step that waited on (`wait`, `ref`), in a few words.
        `timers` (the loop's pending timers) give a sleep its time left; None: not known.
        `known`: the records say what happened up to then only, so a sleep is late by as much
        as it was due before then."""
        if state == State.RUNNING:
            return "running"
        if state not in WAITING_STATES:
            return "ready"
        if wait == schema.WAIT_SLEEP and timers is not None:
            timer = timers.get(ref)
            if timer is None:
                return "sleep"
            left = timer[0] - (self.end if now is None else now)
            if left < 0 and known is not None:
                left = min(0, timer[0] - known)
                if left == 0:
                    return "sleep, due"
            if left < 0:  # due, and the loop has not got round to it: it is blocked or busy
                return f"sleep, {-left / 1e9:.2f}s late"
            return f"sleep {left / 1e9:.2f}s left"
        if wait == schema.WAIT_TASK and 0 <= ref < len(self.tasks):
            return self.tasks[ref].label
        if wait in (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE) and ref > 0:
            return f"fd {ref} {'read' if wait == schema.WAIT_IO_READ else 'write'}"
        return schema.WAIT_NAMES.get(wait, "?")

    # -- time travel ----------------------------------------------------------------------------

    def series(self, source: int) -> LoopSeries:
        """Loop `source` over time: what it was doing, and its counts (see LoopSeries)."""
        return self.loops[source].series

    def warm_time_travel(self, first: int, count: int) -> int:
        """Prepare tasks `first` to `first + count` for `at` (see TimeIndex.warm)."""
        return self._time.warm(first, count)

    def at(self, t: int) -> Snapshot:
        """Every task and loop as they were at `t`, once every record up to `t` had happened
        (a select's record happens when the select returns)."""
        return self._time.at(t)

    def next_event(
        self,
        t: int,
        *,
        task: int | None = None,
        kind: EventKind | None = None,
        min_ns: int = LONG_HANDLE_NS,
    ) -> Event | None:
        """The first event strictly after `t`: of the task of index `task`, of `kind`, or both
        (None: any). A "blocked" event is a handle that ran at least `min_ns`."""
        return self._time.find(t, True, task, kind, min_ns)

    def prev_event(
        self,
        t: int,
        *,
        task: int | None = None,
        kind: EventKind | None = None,
        min_ns: int = LONG_HANDLE_NS,
    ) -> Event | None:
        """The last event strictly before `t`, as `next_event` chooses them."""
        return self._time.find(t, False, task, kind, min_ns)
