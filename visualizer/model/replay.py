"""Replaying a trace into tasks and loops.

`Model.feed(batch)` takes batches in file order. Each loop's records arrive in the order they
happened; process-level records (output, marks, threads) carry times and are kept apart.

Who woke a task comes from replaying the ready queue: it is FIFO, so the handles one handle run
appended (its ``qlen`` minus what was left) are the next ones to run after those already queued.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from typing import Any

from ..trace import schema
from ..trace.reader import StringTable, Trace, read_trace, records
from .state import (
    OUTCOME_STATES,
    Loop,
    LoopError,
    Mark,
    Origin,
    Output,
    Scheduled,
    State,
    Step,
    Task,
    wait_state,
)

_WAITING = (State.WAITING, State.WAITING_IO, State.SLEEPING)


class _LoopReplay:
    """The replay state of one loop: its ready queue and the handle running now."""

    def __init__(self, model: Model, loop: Loop) -> None:
        self.model = model
        self.loop = loop
        self.tasks: dict[int, int] = {}  # the task's id() in the program -> Model.tasks index
        self.handle_begin = 0
        self.io_fds: list[int] = []
        self.due: list[int] = []
        self.select_end = 0
        self.eager_begins: list[int] = []
        self.eager_next: dict[int, int] = {}  # task index -> begin of its eager step
        self.threadsafe: deque[tuple[int, str]] = deque()
        self.orphans: dict[int, list[int]] = {}  # parent id not seen yet -> its children

    # -- the ready queue --------------------------------------------------------------------

    def _fill(self, qlen: int, make: Any) -> None:
        """Bring the replayed queue to `qlen` entries, the new ones made by `make()`."""
        ready = self.loop.ready
        while len(ready) < qlen:
            ready.append(make())
        while len(ready) > qlen:
            ready.popleft()  # removed without running (loop closed): forget the oldest

    def _outside(self, t: int) -> Scheduled:
        if self.threadsafe and self.threadsafe[0][0] <= t:
            _, what = self.threadsafe.popleft()
            return Scheduled(t, Origin.THREAD, what)
        return Scheduled(t, Origin.OUTSIDE, "")

    def _claim_threadsafe(self, t: int) -> None:
        """Another thread appended while a handle ran: relabel the newest entries as its own.

        Which of the entries appended during the handle came from the thread is not recorded;
        the newest ones are the likeliest, as a step schedules most of its work as it suspends.
        """
        threadsafe = self.threadsafe
        ready = self.loop.ready
        index = len(ready) - 1
        while threadsafe and threadsafe[0][0] <= t and index >= 0:
            if ready[index].t != t:
                break  # only entries appended during this handle
            when, what = threadsafe.popleft()
            ready[index] = Scheduled(when, Origin.THREAD, what)
            index -= 1

    def _pop(self, t: int) -> Scheduled:
        ready = self.loop.ready
        return ready.popleft() if ready else Scheduled(t, Origin.OUTSIDE, "")

    def _handle_done(self, t: int, qlen: int, origin: Scheduled) -> None:
        self._fill(qlen, lambda: origin)
        self._claim_threadsafe(t)
        loop = self.loop
        loop.handles += 1
        duration = t - self.handle_begin
        loop.busy_time += duration
        if duration > loop.longest_handle:
            loop.longest_handle = duration
        self.handle_begin = t
        self.eager_begins.clear()

    # -- records ----------------------------------------------------------------------------

    def select(self, t: int, timeout: int, t_end: int, events: int, qlen: int) -> None:
        loop = self.loop
        loop.iterations += 1
        waited = t_end - t
        loop.select_time += waited
        loop.longest_select = max(loop.longest_select, waited)
        loop.io_events += events
        self._fill(qlen, lambda: self._outside(t_end))
        self.select_end = t_end
        self.io_fds.clear()
        self.due.clear()

    def ready(self, t: int, qlen_io: int, ntodo: int) -> None:
        fds = iter(self.io_fds)
        self._fill(qlen_io, lambda: Scheduled(self.select_end, Origin.IO, next(fds, -1)))
        due = iter(self.due)
        self._fill(ntodo, lambda: Scheduled(t, Origin.TIMER, next(due, 0)))
        self.handle_begin = t

    def callback(self, t: int, qlen: int, what: str) -> None:
        scheduled_by = self._pop(t)
        if scheduled_by.origin == Origin.CALLBACK:
            # keep chains of callbacks one deep: what set them off is what a person asks
            scheduled_by = scheduled_by.via
        self.loop.callbacks += 1
        self._handle_done(t, qlen, Scheduled(t, Origin.CALLBACK, what, scheduled_by))

    def skip(self, qlen: int) -> None:
        self._pop(self.handle_begin)
        self.loop.skipped += 1
        self._fill(qlen, lambda: Scheduled(self.handle_begin, Origin.OUTSIDE, ""))

    def step(self, t: int, ident: int, qlen: int, after: State, wait: int) -> Task:
        model = self.model
        task = model.tasks[self.task_index(ident, t)]
        eager_begin = self.eager_next.pop(task.index, None)
        if eager_begin is not None:
            begin, waker = eager_begin, None
            ready_since = eager_begin
        else:
            begin = self.handle_begin
            waker = self._pop(t)
            # already ready (new, or it yielded): since then; else since its wakeup was queued
            ready_since = task.since if task.state == State.READY else min(waker.t, begin)
            self.loop.steps += 1
        if waker is not None and (waker.origin != Origin.TASK or waker.ref != task.index):
            task.wakers[waker.describe(model.tasks)] += 1
        if task.state in _WAITING and ready_since > task.since:
            task.enter(ready_since, State.READY)
        task.enter(begin, State.RUNNING)
        task.enter(t, after, wait)
        duration = t - begin
        task.busy += duration
        task.scheduled_delay += max(0, begin - ready_since)
        task.longest_step = max(task.longest_step, duration)
        task.steps.append(Step(begin, t, wait, waker, ready_since))
        origin = Scheduled(t, Origin.TASK, task.index)
        if eager_begin is not None:
            self._fill(qlen, lambda: origin)  # nested in its creator's handle
        else:
            self._handle_done(t, qlen, origin)
        return task

    def task_index(self, ident: int, t: int) -> int:
        index = self.tasks.get(ident)
        if index is None:
            # Not created through create_task (the recorder says so at its first wait or end),
            # or created before a cut: a placeholder until its TASK_NEW, if any, comes.
            task = Task(len(self.model.tasks), self.loop.source, ident, "?", "?", "", None,
                        False, t, placeholder=True)  # fmt: skip
            index = self._add_task(task)
        return index

    def _adopt_child(self, parent: int, child: int) -> None:
        self.model.tasks[child].parent = parent
        self.model.tasks[parent].children.append(child)

    def _add_task(self, task: Task) -> int:
        task.enter(task.created, State.READY)
        self.model.tasks.append(task)
        self.tasks[task.ident] = task.index
        return task.index

    def new_task(
        self, t: int, ident: int, name: str, coro: str, site: str, parent: int, eager: int
    ) -> int:
        model = self.model
        parent_index = self.tasks.get(parent) if parent else None
        index = self.tasks.get(ident)
        if index is not None and model.tasks[index].placeholder:
            task = model.tasks[index]  # a task adopted late: what its steps could not say
            task.name, task.coro, task.site, task.placeholder = name, coro, site, False
        else:
            task = Task(len(model.tasks), self.loop.source, ident, name, coro, site, None,
                        bool(eager), t)  # fmt: skip
            index = self._add_task(task)
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
        return index


class Model:
    """Everything a trace says, replayed: tasks, loops, output, marks, errors, how it ended."""

    def __init__(self) -> None:
        self.header: dict[str, Any] = {}
        self.tasks: list[Task] = []
        self.loops: dict[int, Loop] = {}
        self.output: list[Output] = []
        self.marks: list[Mark] = []
        self.errors: list[LoopError] = []
        self.exit_status: int | None = None
        self.exit_detail: str = ""
        self.truncated = False
        self.dropped = 0
        self.records = 0
        self.start: int | None = None
        self.end = 0
        self._strings = StringTable()
        self._replays: dict[int, _LoopReplay] = {}

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
        for batch in batches:
            self.feed(batch)

    def feed(self, batch: list[Any]) -> None:
        """Replay one batch (``[source, kind, fields...]``)."""
        source = batch[0]
        for record in records(batch):
            self.records += 1
            kind = record[0]
            if kind == schema.STR:
                self._strings.define(source, record[1], record[2])
                continue
            if len(record) > 1 and kind not in (schema.IO_EVENT, schema.TIMER_DUE, schema.SKIP):
                t = record[1]
                if self.start is None or t < self.start:
                    self.start = t
                if t > self.end:
                    self.end = t
            if source == 0:
                self._process_record(record)
            else:
                self._loop_record(source, record)

    # -- helpers -----------------------------------------------------------------------------

    def _s(self, source: int, sid: int) -> str:
        return self._strings.get(source, sid)

    def _replay(self, source: int, t: int) -> _LoopReplay:
        replay = self._replays.get(source)
        if replay is None:
            loop = self.loops[source] = Loop(source, t)
            replay = self._replays[source] = _LoopReplay(self, loop)
        return replay

    def task_of(self, loop: int, ident: int) -> Task | None:
        """The task a loop's records call `ident` now."""
        replay = self._replays.get(loop)
        index = replay.tasks.get(ident) if replay else None
        return None if index is None else self.tasks[index]

    # -- process records (source 0) ------------------------------------------------------------

    def _process_record(self, record: tuple[Any, ...]) -> None:
        kind = record[0]
        if kind == schema.OUTPUT:
            _, t, stream, text = record
            self.output.append(Output(t, stream, str(text)))
        elif kind in (schema.MARK, schema.EXCEPTION):
            self._on_note(0, record)
        elif kind == schema.THREADSAFE:
            _, t, loop, _thread, what = record
            self._replay(loop, t).threadsafe.append((t, self._s(0, what)))
            self.loops[loop].threadsafe_calls += 1
        elif kind == schema.EXIT:
            _, _t, status, detail = record
            self.exit_status = status
            if detail:
                self.exit_detail = str(detail)
        elif kind == schema.DROPPED:
            self.dropped += record[2]

    # -- loop records ----------------------------------------------------------------------

    def _loop_record(self, source: int, record: tuple[Any, ...]) -> None:
        kind = record[0]
        handler = _LOOP_HANDLERS.get(kind)
        if handler is not None:
            handler(self, source, record)

    def _on_loop_open(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, _loop_time, thread, thread_name, cls = r
        loop = self._replay(source, t).loop
        loop.opened, loop.thread = t, thread
        loop.thread_name, loop.cls = self._s(source, thread_name), self._s(source, cls)

    def _on_loop_close(self, source: int, r: tuple[Any, ...]) -> None:
        self._replay(source, r[1]).loop.closed = r[1]

    def _on_run_begin(self, source: int, r: tuple[Any, ...]) -> None:
        loop = self._replay(source, r[1]).loop
        loop.thread, loop.thread_name = r[2], self._s(source, r[3])

    def _on_select(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, _timeout, t_end, events, qlen = r
        self._replay(source, t).select(t, _timeout, t_end, events, qlen)

    def _on_io_event(self, source: int, r: tuple[Any, ...]) -> None:
        self._replays[source].io_fds.append(r[1])

    def _on_timer_due(self, source: int, r: tuple[Any, ...]) -> None:
        replay = self._replays[source]
        replay.due.append(r[1])
        replay.loop.timers_due += 1
        replay.loop.timers.pop(r[1], None)

    def _on_ready(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, qlen_io, ntodo, _timers = r
        self._replay(source, t).ready(t, qlen_io, ntodo)

    def _on_callback(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, qlen, what = r
        self._replay(source, t).callback(t, qlen, self._s(source, what))

    def _on_skip(self, source: int, r: tuple[Any, ...]) -> None:
        self._replays[source].skip(r[1])

    def _on_step_yield(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, seq, qlen = r
        task = self._replay(source, t).step(t, seq, qlen, State.READY, 0)
        task.wait, task.wait_ref, task.wait_site, task.wait_chain = 0, 0, "", ""

    def _on_step_wait(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, seq, qlen, wait, ref, site, chain = r
        replay = self._replay(source, t)
        task = replay.step(t, seq, qlen, wait_state(wait), wait)
        if wait == schema.WAIT_TASK:
            ref = replay.task_index(ref, t)
        task.wait, task.wait_ref = wait, ref
        task.wait_site, task.wait_chain = self._s(source, site), self._s(source, chain)
        step = task.steps[-1]
        step.ref, step.site, step.chain = ref, task.wait_site, task.wait_chain

    def _on_step_done(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, seq, qlen, outcome, detail = r
        task = self._replay(source, t).step(t, seq, qlen, OUTCOME_STATES[outcome], -1)
        task.ended, task.outcome = t, outcome
        task.error = self._s(source, detail)
        task.wait, task.wait_ref, task.wait_site, task.wait_chain = 0, 0, "", ""

    def _on_task_new(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, ident, name, coro, site, parent, eager = r
        s = self._s
        self._replay(source, t).new_task(
            t, ident, name, s(source, coro), s(source, site), parent, eager
        )

    def _on_task_name(self, source: int, r: tuple[Any, ...]) -> None:
        task = self.task_of(source, r[2])
        if task is not None:
            task.name = r[3]

    def _on_task_cancel(self, source: int, r: tuple[Any, ...]) -> None:
        replay = self._replay(source, r[1])
        task = self.task_of(source, r[2])
        if task is not None:
            ready = replay.loop.ready
            by = ready[0].describe(self.tasks) if ready else "unknown"
            task.cancel_requests.append((r[1], by))

    def _on_task_gone(self, source: int, r: tuple[Any, ...]) -> None:
        replay = self._replay(source, r[1])
        index = replay.tasks.pop(r[2], None)  # the id is free for a new task from here on
        if index is not None:
            self.tasks[index].gone = r[1]

    def _on_eager_begin(self, source: int, r: tuple[Any, ...]) -> None:
        self._replay(source, r[1]).eager_begins.append(r[1])

    def _on_timer_add(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, seq, when, what = r
        loop = self._replay(source, t).loop
        loop.timers_added += 1
        loop.timers[seq] = (when, self._s(source, what))

    def _on_timer_cancel(self, source: int, r: tuple[Any, ...]) -> None:
        loop = self._replay(source, r[1]).loop
        loop.timers_cancelled += 1
        loop.timers.pop(r[2], None)

    def _on_io_add(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, fd, mask, what = r
        self._replay(source, t).loop.watchers[(fd, mask)] = self._s(source, what)

    def _on_io_remove(self, source: int, r: tuple[Any, ...]) -> None:
        _, t, fd, mask = r
        self._replay(source, t).loop.watchers.pop((fd, mask), None)

    def _on_note(self, source: int, r: tuple[Any, ...]) -> None:
        """A MARK or an EXCEPTION, from a loop's own source or from source 0."""
        kind, t, loop, task_seq = r[:4]
        loop = loop or source
        task = self.task_of(loop, task_seq) if task_seq else None
        index = None if task is None else task.index
        texts = [self._s(source, sid) for sid in r[4:]]
        if kind == schema.MARK:
            self.marks.append(Mark(t, loop, index, texts[0]))
        else:
            self.errors.append(LoopError(t, loop, index, *texts))

    def _on_abort(self, source: int, r: tuple[Any, ...]) -> None:
        replay = self._replay(source, r[1])
        replay._pop(r[1])
        replay._handle_done(r[1], r[2], Scheduled(r[1], Origin.OUTSIDE, ""))

    # -- questions ----------------------------------------------------------------------------

    @property
    def duration(self) -> int:
        return 0 if self.start is None else self.end - self.start


_LOOP_HANDLERS = {
    schema.LOOP_OPEN: Model._on_loop_open,
    schema.LOOP_CLOSE: Model._on_loop_close,
    schema.RUN_BEGIN: Model._on_run_begin,
    schema.SELECT: Model._on_select,
    schema.IO_EVENT: Model._on_io_event,
    schema.TIMER_DUE: Model._on_timer_due,
    schema.READY: Model._on_ready,
    schema.CALLBACK: Model._on_callback,
    schema.SKIP: Model._on_skip,
    schema.STEP_YIELD: Model._on_step_yield,
    schema.STEP_WAIT: Model._on_step_wait,
    schema.STEP_DONE: Model._on_step_done,
    schema.TASK_NEW: Model._on_task_new,
    schema.TASK_NAME: Model._on_task_name,
    schema.TASK_CANCEL: Model._on_task_cancel,
    schema.TASK_GONE: Model._on_task_gone,
    schema.EAGER_BEGIN: Model._on_eager_begin,
    schema.TIMER_ADD: Model._on_timer_add,
    schema.TIMER_CANCEL: Model._on_timer_cancel,
    schema.IO_ADD: Model._on_io_add,
    schema.IO_REMOVE: Model._on_io_remove,
    schema.ABORT: Model._on_abort,
    schema.MARK: Model._on_note,
    schema.EXCEPTION: Model._on_note,
}
