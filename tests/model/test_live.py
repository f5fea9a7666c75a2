"""What a live viewer asks the model: loop lag, what a task waits on, counts by state, output."""

from __future__ import annotations

from collections import Counter

import pytest

from visualizer.model import Model, State
from visualizer.model.state import LAG_BUCKETS
from visualizer.trace import schema as s

SECOND = 1_000_000_000
STRINGS = (
    (s.STR, 1, "main"), (s.STR, 2, "app.py:3 in <module>"), (s.STR, 3, "worker"),
    (s.STR, 4, "app.py:9 in worker"), (s.STR, 5, "_set_result_unless_cancelled"),
)  # fmt: skip


def _model(*records: tuple) -> Model:
    model = Model()
    model.feed([1, *[field for record in records for field in record]])
    return model


def _step_at(t: int, kind: int = s.STEP_YIELD, *rest: int) -> tuple[tuple, ...]:
    """An iteration that runs task 1's step from `t` to `t + 10`."""
    return ((s.SELECT, t - 20, 0, t - 10, 0, 1), (s.READY, t, 1, 1, 0), (kind, t + 10, 1, *rest))


def test_loop_lag_is_the_latest_delay_and_the_series_keeps_each_seconds_longest():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, SECOND, 1, "Task-1", 1, 2, 0, 0),
        *_step_at(SECOND + 500, s.STEP_YIELD, 1),  # ready since its creation: 500ns
        *_step_at(SECOND + 9_510, s.STEP_YIELD, 1),  # since its yield: 9µs
        *_step_at(SECOND + 10_000, s.STEP_WAIT, 0, s.WAIT_FUTURE, 0, 4, 4),  # 480ns
        # two seconds later an I/O callback sets the future: queued at 3s + 50, run at 3s + 150
        (s.SELECT, 2 * SECOND, -1, 3 * SECOND, 1, 0),
        (s.IO_EVENT, 5, s.READ),
        (s.READY, 3 * SECOND, 1, 1, 0),
        (s.CALLBACK, 3 * SECOND + 50, 1, 5),
        *_step_at(3 * SECOND + 150, s.STEP_YIELD, 1),
    )
    loop = model.loops[1]
    assert loop.lag == 100
    assert loop.lag_series == [(SECOND, 9_000), (2 * SECOND, 0), (3 * SECOND, 100)]


def test_lag_series_keeps_the_last_hour():
    seconds = range(1, LAG_BUCKETS + 6)
    steps = [record for n in seconds for record in _step_at(n * SECOND, s.STEP_YIELD, 1)]
    model = _model(*STRINGS, (s.TASK_NEW, 0, 1, "Task-1", 1, 2, 0, 0), *steps)
    series = model.loops[1].lag_series
    assert len(series) == LAG_BUCKETS
    assert [start for start, _ in series] == [n * SECOND for n in seconds[-LAG_BUCKETS:]]
    assert series[-1] == ((LAG_BUCKETS + 5) * SECOND, SECOND - 10)


def _waiting(wait: int, ref: int, *more: tuple) -> tuple[Model, str]:
    """What task 1 waits on after one step that ends waiting on (`wait`, `ref`)."""
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 1, 2, 0, 0),
        (s.TASK_NEW, 101, 2, "Task-2", 3, 2, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 2),
        (s.READY, 112, 2, 2, 0),
        *more,
        (s.STEP_WAIT, 120, 1, 1, wait, ref, 4, 4),
    )
    return model, model.waiting_on(model.tasks[0])


def test_sleeping_task_is_shown_with_the_time_left_on_its_timer():
    model, words = _waiting(s.WAIT_SLEEP, 7, (s.TIMER_ADD, 115, 7, 120 + 420_000_000, 5))
    assert words == "sleep 0.42s left"
    assert model.tasks[0].state == State.SLEEPING


def test_a_sleep_past_its_deadline_is_late_by_what_the_records_have_seen():
    model, _ = _waiting(s.WAIT_SLEEP, 7, (s.TIMER_ADD, 115, 7, 120 + 420_000_000, 5))
    assert model.waiting_on(model.tasks[0], now=120 + 400_000_000) == "sleep 0.02s left"
    # The clock is past the deadline, the records are not: they may yet say it woke on time.
    assert model.waiting_on(model.tasks[0], now=120 + 1_420_000_000) == "sleep, due"
    # A later record (here the loop going idle; a stuck loop's watchdog samples do the same)
    # says it had not woken by then.
    model.feed([1, s.IDLE, 120 + 1_420_000_000, -1])
    assert model.waiting_on(model.tasks[0], now=120 + 1_500_000_000) == "sleep, 1.00s late"


def test_sleep_without_a_known_timer_is_just_sleep():
    assert _waiting(s.WAIT_SLEEP, 7)[1] == "sleep"


def test_task_waiting_on_a_task_is_shown_waiting_on_its_label():
    assert _waiting(s.WAIT_TASK, 2)[1] == "Task-2 worker()"


@pytest.mark.parametrize(
    ("wait", "ref", "words"),
    [
        (s.WAIT_QUEUE_GET, 0, "Queue.get"),
        (s.WAIT_LOCK, 0, "Lock.acquire"),
        (s.WAIT_GATHER, 0, "gather"),
        (s.WAIT_TASKGROUP, 0, "TaskGroup"),
        (s.WAIT_FUTURE, 0, "future"),
        (s.WAIT_IO_READ, 9, "fd 9 read"),
        (s.WAIT_IO_WRITE, 9, "fd 9 write"),
        (s.WAIT_IO_READ, 0, "I/O read"),
        (s.WAIT_IO_WRITE, -1, "I/O write"),
    ],
)
def test_waiting_on_names_what_the_task_waits_for(wait, ref, words):
    assert _waiting(wait, ref)[1] == words


def test_waiting_on_says_ready_running_or_nothing_once_done():
    model, _ = _waiting(s.WAIT_FUTURE, 0, (s.STEP_YIELD, 119, 2, 1))
    first, second = model.tasks
    assert model.waiting_on(second) == "ready"  # it yielded
    first.enter(130, State.RUNNING)
    assert model.waiting_on(first) == "running"
    done = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 1, 2, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.STEP_DONE, 120, 1, 0, s.OUTCOME_OK, 0),
    )
    assert done.waiting_on(done.tasks[0]) == ""


def test_state_counts_follow_every_task():
    model, _ = _waiting(s.WAIT_LOCK, 0, (s.TASK_NEW, 113, 3, "Task-3", 3, 2, 0, 0))
    assert model.state_counts() == {
        State.READY: 2, State.RUNNING: 0, State.WAITING: 1, State.WAITING_IO: 0,
        State.SLEEPING: 0, State.DONE: 0, State.FAILED: 0, State.CANCELLED: 0,
    }  # fmt: skip
    assert model.state_counts() == {state: 0 for state in State} | Counter(
        task.state for task in model.tasks
    )


def test_output_from_outside_the_trace_is_appended():
    model = Model()
    model.feed([0, s.OUTPUT, 10, 1, "from sys.stdout\n"])
    model.add_output(12, 3, "straight to fd 1\n")
    model.add_output(11, 4, "straight to fd 2\n")
    assert [(o.t, o.stream, o.text) for o in model.output] == [
        (10, 1, "from sys.stdout\n"), (12, 3, "straight to fd 1\n"), (11, 4, "straight to fd 2\n"),
    ]  # fmt: skip
    assert (model.start, model.end) == (10, 12)


def test_a_loop_is_idle_from_its_idle_record_until_its_select_returns():
    model = Model()
    model.feed([1, s.LOOP_OPEN, 10, 0, 1, 0, 0, s.IDLE, 20, 5_000_000])
    assert model.loops[1].idle_since == 20
    model.feed([1, s.SELECT, 20, 5_000_000, 5_000_030, 0, 0])
    assert model.loops[1].idle_since is None
