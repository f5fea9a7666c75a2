"""The model at any time t: loop series, `Model.at(t)`, and the events around t.

Hand-made record streams pin the details; random programs, recorded, check `Model.at(t)`
against a brute-force replay of only the records up to t.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
from array import array
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visualizer
from tests.conftest import replay_bytes
from visualizer.model import Activity, Model, State, Task, value_at
from visualizer.model.series import LONG_HANDLE_NS
from visualizer.model.state import LAG_BUCKET, ROW, WAITING_STATES
from visualizer.trace import schema as s
from visualizer.trace.reader import read_stream, records

SELECT, HANDLES = Activity.SELECT, Activity.HANDLES
STRINGS = (
    (s.STR, 1, "main"), (s.STR, 2, "app.py:3 in <module>"), (s.STR, 3, "cb"),
    (s.STR, 4, "app.py:9 in main"),
)  # fmt: skip
LONG = 1_100_000  # the last step of task 1 runs this long: a "blocked" event
# Two tasks on one loop, with a sleep, a timer, an fd, an idle select and one long step.
STREAM = (
    *STRINGS,
    (s.TASK_NEW, 100, 1, "Task-1", 1, 2, 0, 0),
    (s.TASK_NEW, 101, 2, "Task-2", 1, 2, 0, 0),
    (s.IO_ADD, 102, 7, s.READ, 3),
    (s.SELECT, 110, 0, 111, 0, 2),
    (s.READY, 112, 2, 2, 0),
    (s.TIMER_ADD, 115, 1, 1_000, 3),
    (s.STEP_WAIT, 120, 1, 1, s.WAIT_SLEEP, 1, 4, 4),  # task 1 sleeps on timer 1
    (s.STEP_DONE, 130, 2, 0, s.OUTCOME_OK, 0),  # task 2 ends
    (s.IDLE, 131, 869),
    (s.SELECT, 132, 869, 1_001, 0, 0),
    (s.TIMER_DUE, 1),
    (s.READY, 1_002, 0, 1, 0),
    (s.MARK, 1_004, 0, 1, 3),  # in the timer's callback, naming task 1
    (s.CALLBACK, 1_005, 1, 3),  # ...which wakes task 1
    (s.SELECT, 1_006, 0, 1_007, 0, 1),
    (s.READY, 1_008, 1, 1, 0),
    (s.IO_REMOVE, 1_000_000, 7, s.READ),
    (s.STEP_DONE, 1_008 + LONG, 1, 0, s.OUTCOME_OK, 0),
    (s.RUN_END, 1_008 + LONG + 5),
)
PROCESS = ((s.OUTPUT, 1_050, 1, "hello\n"), (s.EXCEPTION, 1_060, 1, 0, 0, 0))


def _model(*loop_records: tuple, process: tuple = ()) -> Model:
    model = Model()
    if process:
        model.feed([0, *[field for record in process for field in record]])
    model.feed([1, *[field for record in loop_records for field in record]])
    return model


def _pairs(series_t: array, series_n: array) -> list[tuple[int, int]]:
    return list(zip(series_t, series_n, strict=True))


# -- loop series ---------------------------------------------------------------------------------


def test_loop_spans_are_select_waits_and_the_handles_of_each_iteration():
    series = _model(*STREAM).series(1)
    assert list(zip(series.begin, series.end, series.kind, strict=True)) == [
        (110, 111, SELECT), (112, 130, HANDLES), (132, 1_001, SELECT), (1_002, 1_005, HANDLES),
        (1_006, 1_007, SELECT), (1_008, 1_008 + LONG, HANDLES),
    ]  # fmt: skip
    assert list(series.iterations) == [111, 1_001, 1_007]
    assert series.current is None  # RUN_END ended the last iteration's handles


def test_counts_over_time_keep_only_their_changes():
    series = _model(*STREAM).series(1)
    end = 1_008 + LONG
    ready = [(111, 2), (120, 1), (130, 0), (1_002, 1), (end, 0)]
    assert _pairs(series.ready_t, series.ready_n) == ready
    assert _pairs(series.timers_t, series.timers_n) == [(115, 1), (1_001, 0)]
    assert _pairs(series.fds_t, series.fds_n) == [(102, 1), (1_000_000, 0)]
    assert _pairs(series.alive_t, series.alive_n) == [(100, 1), (101, 2), (130, 1), (end, 0)]


def test_value_at_is_the_latest_point_at_or_before_t_and_zero_before_any():
    times, values = array("q", [10, 20]), array("q", [3, 5])
    assert [value_at(times, values, t) for t in (9, 10, 19, 20, 99)] == [0, 3, 3, 5, 5]
    assert value_at(array("q"), array("q"), 10) == 0


def test_handles_that_ran_long_are_kept_with_their_task():
    model = _model(
        *STREAM,
        (s.SELECT, 2_000_000, 0, 2_000_001, 0, 1),
        (s.READY, 2_000_002, 1, 1, 0),
        (s.CALLBACK, 2_000_002 + LONG_HANDLE_NS, 0, 3),
    )
    series = model.series(1)
    assert list(series.long_begin) == [1_008, 2_000_002]
    assert list(series.long_end) == [1_008 + LONG, 2_000_002 + LONG_HANDLE_NS]
    assert list(series.long_task) == [0, -1]  # task 1's step, then a callback
    assert model.next_event(1_008, kind="blocked") == (2_000_002, "blocked", 1, None)


def test_a_live_loop_is_shown_idle_from_its_idle_record_and_busy_from_its_ready_record():
    model = _model(*STREAM[: STREAM.index((s.IDLE, 131, 869)) + 1])
    series = model.series(1)
    assert series.current == (131, SELECT)
    assert (series.activity_at(130), series.activity_at(131)) == (None, SELECT)
    model.feed([1, s.SELECT, 132, 869, 1_001, 0, 0, s.READY, 1_002, 0, 1, 0])
    assert series.current == (1_002, HANDLES)
    assert [series.activity_at(t) for t in (500, 1_001, 5_000)] == [SELECT, None, HANDLES]


def test_numbers_past_64_bits_from_a_damaged_trace_are_clamped():
    huge = 2**64 - 1
    model = _model(*STRINGS, (s.SELECT, 110, 0, huge, 0, 1), (s.TIMER_ADD, huge, 1, 0, 3))
    series = model.series(1)
    assert series.end[0] == series.ready_t[0] == series.timers_t[0] == 2**63 - 1
    steps = [((s.READY, -(2**63), 1, 1, 0), (s.STEP_YIELD, end, 1, 1)) for end in (-10, -5, 9, 20)]
    model = _model(*STRINGS, (s.TASK_NEW, -(2**63), 1, "Task-1", 1, 2, 0, 0), *sum(steps, ()))
    assert model.at(0).tasks[0].busy == 2**63 - 1  # two steps of nearly 2**63 ns each


# -- the state at t ------------------------------------------------------------------------------


def test_before_the_first_record_there_is_nothing():
    snapshot = _model(*STREAM).at(99)
    assert snapshot.tasks == {} and snapshot.loops == {}


def test_a_running_step_and_a_ready_task_in_the_first_iteration():
    first, second = _model(*STREAM).at(116).tasks.values()
    assert (first.state, first.since, first.steps, first.busy) == (State.RUNNING, 112, 0, 0)
    assert (second.state, second.since, second.steps) == (State.READY, 101, 0)


def test_a_sleeping_task_says_what_its_last_step_ended_waiting_on():
    first, second = _model(*STREAM).at(125).tasks.values()
    assert (first.state, first.since, first.steps) == (State.SLEEPING, 120, 1)
    assert (first.busy, first.scheduled_delay) == (8, 12)
    assert (first.wait, first.ref, first.wait_site) == (s.WAIT_SLEEP, 1, "app.py:9 in main")
    assert (second.state, second.since) == (State.RUNNING, 120)


def test_a_finished_task_keeps_its_sums_and_a_woken_one_is_ready_before_its_step():
    first, second = _model(*STREAM).at(1_005).tasks.values()
    assert (second.state, second.since, second.steps) == (State.DONE, 130, 1)
    assert (second.busy, second.scheduled_delay, second.wait) == (10, 19, 0)
    assert (first.state, first.since) == (State.READY, 1_005)  # the timer's callback woke it
    assert first.wait == s.WAIT_SLEEP  # what its last step waited on


def test_after_the_last_record_every_task_is_as_the_replay_left_it():
    model = _model(*STREAM)
    snapshot = model.at(10**9)
    assert [task.state for task in snapshot.tasks.values()] == [State.DONE, State.DONE]
    assert [task.busy for task in snapshot.tasks.values()] == [8 + LONG, 10]
    assert snapshot.state_counts() == {State.DONE: 2}


@pytest.mark.parametrize(
    ("t", "loop"),
    [
        (110, (SELECT, 0, 0, 1, 2, 0)),  # in the first select: what it says is for later
        (116, (HANDLES, 2, 1, 1, 2, 1)),
        (500, (SELECT, 0, 1, 1, 1, 1)),
        (1_003, (HANDLES, 1, 0, 1, 1, 2)),
        (1_005, (None, 1, 0, 1, 1, 2)),  # between the callback and the next select
        (1_050_000, (HANDLES, 1, 0, 0, 1, 3)),
        (2_000_000, (None, 0, 0, 0, 0, 3)),
    ],
)
def test_loop_at_t(t, loop):
    at = _model(*STREAM).at(t).loops[1]
    assert (at.activity, at.ready, at.timers, at.fds, at.alive, at.iterations) == loop


def test_the_same_time_asked_again_gives_the_same_snapshot_until_records_arrive():
    model = _model(*STREAM[:-3])
    snapshot = model.at(1_050_000)
    assert model.at(1_050_000) is snapshot
    model.feed([1, *STREAM[-3], *STREAM[-2]])
    assert model.at(1_050_000) is not snapshot
    assert model.at(1_050_000).tasks[0].state == State.RUNNING


def _many_steps() -> list[tuple]:
    return [
        record
        for n in range(10)
        for record in (
            (s.SELECT, 1_000 * n + 100, 0, 1_000 * n + 101, 0, 1),
            (s.READY, 1_000 * n + 200, 1, 1, 0),
            (s.STEP_YIELD, 1_000 * n + 200 + n + 1, 1, 1),  # step n runs n + 1 ns
        )
    ]


def test_time_travel_prepared_ahead_gives_the_same_answers():
    cold = _model(*STRINGS, (s.TASK_NEW, 0, 1, "Task-1", 1, 2, 0, 0), *_many_steps())
    warm = _model(*STRINGS, (s.TASK_NEW, 0, 1, "Task-1", 1, 2, 0, 0), *_many_steps())
    assert warm.warm_time_travel(0, 500) == 1 and warm.warm_time_travel(1, 500) == 1
    for t in range(0, 10_000, 250):
        assert warm.at(t).tasks[0][1:] == cold.at(t).tasks[0][1:], t


def test_sums_at_t_follow_a_task_with_many_steps():
    steps = [
        record
        for n in range(10)
        for record in (
            (s.SELECT, 1_000 * n + 100, 0, 1_000 * n + 101, 0, 1),
            (s.READY, 1_000 * n + 200, 1, 1, 0),
            (s.STEP_YIELD, 1_000 * n + 200 + n + 1, 1, 1),  # step n runs n + 1 ns
        )
    ]
    model = _model(*STRINGS, (s.TASK_NEW, 0, 1, "Task-1", 1, 2, 0, 0), *steps)
    for n in range(10):
        at = model.at(1_000 * n + 500).tasks[0]
        assert (at.steps, at.busy) == (n + 1, sum(range(1, n + 2)))
    assert model.at(5_201).tasks[0].state == State.RUNNING  # model.at(...) takes in new rows


# -- events around t -----------------------------------------------------------------------------


def test_next_and_prev_event_of_a_task():
    model = _model(*STREAM, process=PROCESS)
    assert model.next_event(99, task=0) == (100, "created", 1, 0)
    assert model.next_event(100, task=0) == (112, "step", 1, 0)
    assert model.next_event(112, task=0) == (120, "step_end", 1, 0)
    assert model.next_event(120, task=0) == (1_004, "mark", 1, 0)
    assert model.next_event(1_004, task=0) == (1_008, "step", 1, 0)
    assert model.next_event(1_008, task=0) == (1_008 + LONG, "step_end", 1, 0)
    assert model.next_event(1_008 + LONG, task=0) is None
    assert model.prev_event(1_008, task=0) == (1_004, "mark", 1, 0)
    assert model.prev_event(100, task=0) is None
    assert model.next_event(0, task=1, kind="step_end") == (130, "step_end", 1, 1)


def test_next_and_prev_event_of_a_kind():
    model = _model(*STREAM, process=PROCESS)
    assert model.next_event(111, kind="select") == (132, "select", 1, None)
    assert model.prev_event(132, kind="select") == (110, "select", 1, None)
    assert model.next_event(1_006, kind="select") is None
    assert model.next_event(100, kind="created") == (101, "created", 1, 1)
    assert model.prev_event(200, kind="step") == (120, "step", 1, 1)
    assert model.next_event(0, kind="blocked") == (1_008, "blocked", 1, 0)
    assert model.next_event(0, kind="blocked", min_ns=LONG + 1) is None
    assert model.next_event(0, kind="output") == (1_050, "output", 0, None)
    assert model.prev_event(10**9, kind="error") == (1_060, "error", 1, None)
    assert model.next_event(1_004, kind="mark") is None


def test_next_event_of_any_kind_is_the_nearest_one():
    model = _model(*STREAM, process=PROCESS)
    assert model.next_event(0) == (100, "created", 1, 0)
    assert model.next_event(1_004) == (1_006, "select", 1, None)
    assert model.next_event(1_010) == (1_050, "output", 0, None)
    assert model.prev_event(1_008) == (1_006, "select", 1, None)
    assert model.next_event(1_008 + LONG) is None


def test_events_that_are_not_a_tasks_or_not_indexed_are_refused():
    model = _model(*STREAM)
    with pytest.raises(ValueError, match="no 'select' events of a task"):
        model.next_event(0, task=0, kind="select")
    with pytest.raises(ValueError, match="no 'bogus' events"):
        model.next_event(0, kind="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_ns must be at least"):
        model.prev_event(0, kind="blocked", min_ns=LONG_HANDLE_NS - 1)


# -- random programs against a brute-force replay ------------------------------------------------

OPS = ["yield", "sleep", "lock", "queue", "spawn", "eager", "io", "cancel", "callback", "block",
       "thread"]  # fmt: skip
programs = st.lists(st.lists(st.sampled_from(OPS), max_size=6), min_size=1, max_size=4)


async def _child() -> None:
    await asyncio.sleep(0)


async def _forever() -> None:
    await asyncio.sleep(3600)


async def _io(loop: asyncio.AbstractEventLoop) -> None:
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.setblocking(False)
        loop.call_later(0.0003, writer.send, b"x")
        await loop.sock_recv(reader, 1)


async def _eager(loop: asyncio.AbstractEventLoop) -> None:
    """A task whose first step runs inside create_task (3.12+; a plain one before)."""
    previous = loop.get_task_factory()
    loop.set_task_factory(getattr(asyncio, "eager_task_factory", None))
    try:
        task = loop.create_task(_child())
    finally:
        loop.set_task_factory(previous)
    await task


def _other_loop() -> None:
    """A loop of its own in this thread, recorded too: the trace has two loops then."""
    loop = visualizer.RecordingEventLoop()
    try:
        loop.run_until_complete(_child())
    finally:
        loop.close()


async def _op(op: str, n: int, lock: asyncio.Lock, queue: asyncio.Queue[int]) -> None:
    loop = asyncio.get_running_loop()
    if op == "yield":
        await asyncio.sleep(0)
    elif op == "sleep":
        await asyncio.sleep(0.0005)
    elif op == "lock":
        async with lock:
            await asyncio.sleep(0)
    elif op == "queue":
        await queue.put(n)
        await queue.get()
    elif op == "spawn":
        await asyncio.create_task(_child())
    elif op == "eager":
        await _eager(loop)
    elif op == "io":
        await _io(loop)
    elif op == "cancel":
        victim = asyncio.create_task(_forever())
        await asyncio.sleep(0)
        victim.cancel()
        await asyncio.gather(victim, return_exceptions=True)
    elif op == "callback":
        done = loop.create_future()
        loop.call_soon(done.set_result, None)
        await done
    elif op == "block":
        time.sleep(0.0012)  # a step long enough to be a "blocked" event
        await asyncio.sleep(0)
    elif op == "thread":
        await asyncio.to_thread(_other_loop)


async def _run(plan: list[list[str]]) -> None:
    lock = asyncio.Lock()
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)

    async def worker(ops: list[str]) -> None:
        for n, op in enumerate(ops):
            await _op(op, n, lock, queue)

    await asyncio.gather(*(worker(ops) for ops in plan))


def _recorded(plan: list[list[str]]) -> list[list[Any]]:
    with visualizer.record() as recording:
        asyncio.run(_run(plan))
    return read_stream(io.BytesIO(recording.data()), "test trace").batches


def _timed(batches: list[list[Any]]) -> Iterator[tuple[int, tuple[Any, ...], int | None]]:
    """Every record with its source and the time it happened (None: a string, kept always).

    A select's record is written when the select returns (``t_end``); a record without a time
    of its own (an I/O event, a timer due, a skipped handle) happened with the one before it
    in its source.
    """
    last: dict[int, int | None] = {}
    for batch in batches:
        source = batch[0]
        for record in records(batch):
            kind = record[0]
            if kind == s.STR:
                yield source, record, None
                continue
            if kind == s.SELECT:
                last[source] = record[3]
            elif kind not in (s.IO_EVENT, s.TIMER_DUE, s.SKIP):
                last[source] = record[1]
            yield source, record, last.get(source)


def _replayed_until(timed: list[tuple[int, tuple[Any, ...], int | None]], t: int) -> Model:
    """A fresh model fed one record at a time, only those that happened by `t`."""
    model = Model()
    for source, record, when in timed:
        if when is None or when <= t:
            model.feed([source, *record])
    return model


def _key(task: Task) -> tuple[int, int, int]:
    """A task as two models name it: they number tasks in the order their records came."""
    return task.loop, task.ident, task.created


def _awaited(model: Model, wait: int, ref: int) -> object:
    return _key(model.tasks[ref]) if wait == s.WAIT_TASK else ref


def _check_at(model: Model, expected: Model, t: int) -> None:
    snapshot = model.at(t)
    got = {_key(at.task): at for at in snapshot.tasks.values()}
    want = {_key(task): task for task in expected.tasks}
    assert got.keys() == want.keys(), t
    for key, task in want.items():
        at = got[key]
        assert (at.steps, at.busy, at.scheduled_delay) == (
            len(task.steps), task.busy, task.scheduled_delay,
        ), (t, key)  # fmt: skip
        assert (at.wait, _awaited(model, at.wait, at.ref), at.wait_site) == (
            task.wait, _awaited(expected, task.wait, task.wait_ref), task.wait_site,
        ), (t, key)  # fmt: skip
        # the state holds from `since` up to `until`, by the task's own history
        assert at.task.state_at(max(at.since, at.task.created)) == at.state, (t, key)
        if at.until is not None:
            assert at.since <= t < at.until and at.task.state_at(at.until - 1) == at.state
        if at.state == task.state:
            continue
        # What only the task's next step record says (it is after t): it had begun, or been
        # queued, by t.
        following = at.task.steps[at.steps]
        if at.state == State.RUNNING:
            assert following.begin <= t < following.end, (t, key)
            assert snapshot.loops[at.task.loop].activity == HANDLES, (t, key)
        else:
            assert (at.state, task.state in WAITING_STATES) == (State.READY, True), (t, key)
            assert following.ready_since <= t < following.begin, (t, key)
    for source, loop in snapshot.loops.items():
        replayed = expected.loops.get(source)
        counts = (0, 0, 0, 0, 0)
        if replayed is not None:
            alive = sum(task.loop == source and task.ended is None for task in expected.tasks)
            counts = (len(replayed.queue), len(replayed.timers), len(replayed.watchers), alive,
                      replayed.iterations)  # fmt: skip
        got_counts = (loop.ready, loop.timers, loop.fds, loop.alive, loop.iterations)
        assert got_counts == counts, (t, source)
        # the longest scheduling delay of the steps begun in t's second up to t
        second = t - t % LAG_BUCKET
        delays = [
            max(0, step.begin - step.ready_since)
            for task in model.tasks
            if task.loop == source
            for step in task.steps
            if second <= step.begin <= t
        ]
        assert loop.loop.lag_at(t) == max(delays, default=0), (t, source)  # fmt: skip


def _moments(timed: list[tuple[int, tuple[Any, ...], int | None]]) -> list[int]:
    """Each record's time, and the times just before, after and between them."""
    times = sorted({when for _, _, when in timed if when is not None})
    between = [(a + b) // 2 for a, b in zip(times, times[1:], strict=False)]
    return sorted({*times, *between, *(t - 1 for t in times), *(t + 1 for t in times)})


def _some(moments: list[int], data: st.DataObject) -> list[int]:
    """A dozen of `moments` at most: drawn by position, as the recorded times vary."""
    places = data.draw(st.lists(st.floats(0, 1), max_size=12), label="places")
    return [moments[int(place * (len(moments) - 1))] for place in places]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs, st.data())
def test_at_t_agrees_with_replaying_only_the_records_up_to_t(plan, data):
    batches = _recorded(plan)
    model = Model()
    model.feed_all(batches)
    timed = list(_timed(batches))
    moments = _moments(timed)
    # in no order: each snapshot takes what it can from the one before
    for t in [moments[0], moments[-1], *_some(moments, data)]:
        _check_at(model, _replayed_until(timed, t), t)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs, st.data())
def test_next_and_prev_event_are_the_nearest_of_all_events(plan, data):
    batches = _recorded(plan)
    model = Model()
    model.feed_all(batches)
    selects = [record[1] for _, record, _ in _timed(batches) if record[0] == s.SELECT]
    steps = [step.begin for task in model.tasks for step in task.steps]
    created = [task.created for task in model.tasks]
    for t in _some(_moments(list(_timed(batches))), data):
        for kind, times in (("select", selects), ("step", steps), ("created", created)):
            after = min((x for x in times if x > t), default=None)
            before = max((x for x in times if x < t), default=None)
            found_after = model.next_event(t, kind=kind)
            found_before = model.prev_event(t, kind=kind)
            assert (found_after and found_after.t, found_before and found_before.t) == (
                after, before,
            ), (t, kind)  # fmt: skip


def test_a_program_with_a_second_loop_in_a_thread_has_series_for_both():
    batches = _recorded([["thread", "io"]])
    model = Model()
    model.feed_all(batches)
    assert len(model.loops) == 2
    for source in model.loops:
        series = model.series(source)
        assert len(series.iterations) == model.loops[source].iterations > 0
        assert list(series.begin) == sorted(series.begin)
        ends_before_next = zip(series.end, series.begin[1:], strict=False)
        assert all(end <= begin for end, begin in ends_before_next)


def test_task_totals_are_the_same_summed_when_asked_or_taken_from_time_travel_sums():
    async def worker(n: int) -> None:
        for i in range(n):
            await asyncio.sleep(0.001 if i % 3 else 0)
            sum(range(2_000 * (i % 4)))  # steps of different lengths

    async def main() -> None:
        await asyncio.gather(*(worker(n) for n in (1, 2, 5, 9)))

    with visualizer.record() as recording:
        asyncio.run(main())
    asked, warmed = replay_bytes(recording.data()), replay_bytes(recording.data())
    expected = [(t.busy, t.scheduled_delay, t.longest_step) for t in asked.tasks]
    assert sum(busy for busy, _, _ in expected) > 0 and len(expected) >= 5
    warmed.warm_time_travel(0, len(warmed.tasks))  # before anything asked for a total
    summed = [t for t in warmed.tasks if len(t.rows) > 2 * ROW]
    assert summed and all(t._summed == len(t.rows) for t in summed)  # taken, not made again
    assert [(t.busy, t.scheduled_delay, t.longest_step) for t in warmed.tasks] == expected
