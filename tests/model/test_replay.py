"""The model replays records into tasks and loops: pinned on hand-made record streams."""

from __future__ import annotations

from visualizer.model import Model, Origin, State
from visualizer.trace import schema as s


def _model(*loop_records: tuple, process: tuple = ()) -> Model:
    """A model fed one batch of loop 1's records (and optionally one of process records)."""
    model = Model()
    if process:
        model.feed([0, *[field for record in process for field in record]])
    model.feed([1, *[field for record in loop_records for field in record]])
    return model


STRINGS = (
    (s.STR, 1, "Task-1"), (s.STR, 2, "main"), (s.STR, 3, "app.py:3 in <module>"),
    (s.STR, 4, "Task-2"), (s.STR, 5, "child"), (s.STR, 6, "app.py:9 in main"),
    (s.STR, 7, "app.py:12 in child"), (s.STR, 8, "cb"),
)  # fmt: skip


def test_fifo_replay_says_which_step_scheduled_each_handle():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),  # main, created outside the loop
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.TASK_NEW, 115, 2, "Task-2", 5, 6, 1, 0),  # main creates child...
        (s.STEP_WAIT, 120, 1, 1, s.WAIT_TASK, 2, 6, 6),  # ...and waits for it: queue = [child]
        (s.SELECT, 121, 0, 122, 0, 1),
        (s.READY, 123, 1, 1, 0),
        (s.STEP_DONE, 130, 2, 1, s.OUTCOME_OK, 0),  # child ends, waking main: queue = [main]
        (s.SELECT, 131, 0, 132, 0, 1),
        (s.READY, 133, 1, 1, 0),
        (s.STEP_DONE, 140, 1, 0, s.OUTCOME_OK, 0),
    )
    main, child = model.tasks
    assert child.parent == main.index and main.children == [child.index]
    assert main.steps[0].waker.origin == Origin.OUTSIDE
    assert child.steps[0].waker.origin == Origin.TASK and child.steps[0].waker.ref == main.index
    assert main.steps[1].waker.origin == Origin.TASK and main.steps[1].waker.ref == child.index
    assert main.steps[0].ref == child.index  # waiting on the child, by model index
    assert dict(main.wakers) == {"outside the loop": 1, "Task-2 child()": 1}


def test_step_begins_where_the_previous_handle_ended():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.TASK_NEW, 101, 2, "Task-2", 5, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 2),
        (s.READY, 112, 2, 2, 0),
        (s.STEP_YIELD, 150, 1, 2),
        (s.STEP_YIELD, 170, 2, 2),
    )
    first, second = model.tasks
    assert (first.steps[0].begin, first.steps[0].end) == (112, 150)
    assert (second.steps[0].begin, second.steps[0].end) == (150, 170)
    assert second.scheduled_delay == 150 - 101  # ready since creation, ran at 150
    assert first.busy == 38 and second.busy == 20
    assert model.loops[1].busy_time == 58 and model.loops[1].select_time == 1


def test_states_over_time_follow_the_steps_and_waits():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.TIMER_ADD, 115, 1, 1_000, 8),
        (s.STEP_WAIT, 120, 1, 0, s.WAIT_SLEEP, 1, 7, 7),
        (s.SELECT, 121, 880, 1_001, 0, 0),
        (s.TIMER_DUE, 1),
        (s.READY, 1_002, 0, 1, 0),
        (s.CALLBACK, 1_005, 1, 8),  # the timer's callback wakes the task
        (s.SELECT, 1_006, 0, 1_007, 0, 1),
        (s.READY, 1_008, 1, 1, 0),
        (s.STEP_DONE, 1_020, 1, 0, s.OUTCOME_FAILED, 3),
    )
    (task,) = model.tasks
    assert [(t, state) for t, state, _ in task.history] == [
        (100, State.READY), (112, State.RUNNING), (120, State.SLEEPING), (1_005, State.READY),
        (1_008, State.RUNNING), (1_020, State.FAILED),
    ]  # fmt: skip
    assert task.state_at(99) is None
    assert task.state_at(500) == State.SLEEPING
    assert task.state_at(1_006) == State.READY
    assert task.state_at(5_000) == State.FAILED
    assert task.wakers == {"outside the loop": 1, "timer #1 via cb": 1}
    assert task.error == "app.py:3 in <module>"
    assert model.loops[1].timers == {}  # due, so no longer pending
    assert model.loops[1].timers_due == 1


def test_io_phase_handles_are_attributed_to_the_fd_that_fired():
    model = _model(
        *STRINGS,
        (s.IO_ADD, 100, 7, s.READ, 8),
        (s.SELECT, 110, -1, 500, 1, 0),
        (s.IO_EVENT, 7, s.READ),
        (s.READY, 501, 1, 1, 0),
        (s.CALLBACK, 510, 0, 8),
    )
    loop = model.loops[1]
    assert loop.io_events == 1 and loop.watchers == {(7, s.READ): "cb"}
    assert loop.callbacks == 1 and loop.select_time == 390


def test_threadsafe_call_during_select_is_attributed_to_the_thread():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.STEP_WAIT, 120, 1, 0, s.WAIT_FUTURE, 0, 6, 6),
        (s.SELECT, 121, -1, 300, 1, 1),  # woken by the self-pipe; one handle already queued
        (s.IO_EVENT, 4, s.READ),
        (s.READY, 301, 2, 2, 0),
        (s.CALLBACK, 310, 3, 8),  # the thread's callback sets the future: the task is queued
        (s.CALLBACK, 320, 2, 8),  # the self-pipe reader
        (s.SELECT, 321, 0, 322, 0, 2),
        (s.READY, 323, 2, 2, 0),
        (s.STEP_DONE, 330, 1, 1, s.OUTCOME_OK, 0),
        process=((s.STR, 1, "Future.set_result"), (s.THREADSAFE, 200, 1, 99, 1)),
    )
    (task,) = model.tasks
    assert task.wakers["another thread (Future.set_result) via cb"] == 1
    assert model.loops[1].threadsafe_calls == 1


def test_eager_step_nests_inside_its_creators_step():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.EAGER_BEGIN, 115),
        (s.TASK_NEW, 118, 2, "Task-2", 5, 6, 1, 1),
        (s.STEP_WAIT, 118, 2, 0, s.WAIT_SLEEP, 1, 7, 7),
        (s.STEP_WAIT, 130, 1, 0, s.WAIT_TASK, 2, 6, 6),
    )
    main, child = model.tasks
    assert child.eager
    assert (child.steps[0].begin, child.steps[0].end) == (115, 118)
    assert child.steps[0].waker is None
    assert (main.steps[0].begin, main.steps[0].end) == (112, 130)
    assert model.loops[1].steps == 1  # the eager step did not come from the ready queue


def test_cancellation_request_names_who_scheduled_the_wakeup():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.TASK_NEW, 101, 2, "Task-2", 5, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 2),
        (s.READY, 112, 2, 2, 0),
        (s.STEP_WAIT, 120, 1, 1, s.WAIT_SLEEP, 1, 6, 6),
        (s.STEP_YIELD, 130, 2, 2),  # task 2 cancels task 1: task 1's wakeup is queued
        (s.SELECT, 131, 0, 132, 0, 2),
        (s.READY, 133, 2, 2, 0),
        (s.TASK_CANCEL, 134, 1, 1),
        (s.STEP_DONE, 140, 1, 1, s.OUTCOME_CANCELLED, 0),
    )
    first = model.tasks[0]
    assert first.cancel_requests == [(134, "Task-2 child()")]
    assert first.state == State.CANCELLED and first.outcome == s.OUTCOME_CANCELLED


def test_steps_of_a_task_never_seen_created_make_a_placeholder():
    model = _model(
        (s.SELECT, 110, 0, 111, 0, 1), (s.READY, 112, 1, 1, 0), (s.STEP_YIELD, 120, 5, 1)
    )
    (task,) = model.tasks
    assert task.placeholder and task.ident == 5 and len(task.steps) == 1


def test_renames_gone_marks_and_errors():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.TASK_NAME, 101, 1, "Task-2"),
        (s.MARK, 102, 0, 1, 8),
        (s.EXCEPTION, 103, 0, 1, 5, 6),
        (s.TASK_GONE, 104, 1),
    )
    (task,) = model.tasks
    assert task.name == "Task-2" and task.gone == 104
    assert [(m.text, m.task, m.loop) for m in model.marks] == [("cb", 0, 1)]
    assert [(e.message, e.detail, e.task) for e in model.errors] == [
        ("child", "app.py:9 in main", 0)
    ]


def test_output_and_exit_come_from_the_process_source():
    model = _model(
        process=(
            (s.OUTPUT, 10, 1, "hello\n"), (s.OUTPUT, 11, 2, "oops\n"),
            (s.EXIT, 12, 3, "Traceback..."), (s.EXIT, 13, 3, ""),
        ),
    )  # fmt: skip
    assert [(o.stream, o.text) for o in model.output] == [(1, "hello\n"), (2, "oops\n")]
    assert model.exit_status == 3 and model.exit_detail == "Traceback..."
    assert model.duration == 3


def test_steps_read_like_a_list_and_say_who_woke_each():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.STEP_YIELD, 120, 1, 1),
        (s.SELECT, 121, 0, 122, 0, 1),
        (s.READY, 123, 1, 1, 0),
        (s.STEP_WAIT, 130, 1, 0, s.WAIT_QUEUE_GET, 0, 7, 6),
    )
    (task,) = model.tasks
    steps = task.steps
    assert len(steps) == 2 and [step.wait for step in steps] == [0, s.WAIT_QUEUE_GET]
    first, last = steps[0], steps[-1]
    assert (first.begin, first.end, first.ready_since) == (112, 120, 100)
    assert first.waker.origin == Origin.OUTSIDE
    assert (last.waker.origin, last.waker.ref, last.waker.t) == (Origin.TASK, 0, 120)
    assert (last.site, last.chain) == ("app.py:12 in child", "app.py:9 in main")
    assert steps[1:] == [last] and steps[5:] == []
    assert (task.wait, task.wait_ref, task.wait_site, task.wait_chain) == (
        s.WAIT_QUEUE_GET, 0, "app.py:12 in child", "app.py:9 in main",
    )  # fmt: skip
    assert task.wakers == {"outside the loop": 1}  # its own yield is not a waker


def test_ready_queue_lists_who_queued_each_entry():
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, 1),
        (s.READY, 112, 1, 1, 0),
        (s.STEP_YIELD, 120, 1, 2),  # queues its own next step and one callback
    )
    ready = model.loops[1].ready
    assert len(ready) == 2
    assert [(entry.t, entry.origin, entry.ref) for entry in ready] == [(120, Origin.TASK, 0)] * 2
    assert ready[0].describe(model.tasks) == "Task-1 main()"


def test_impossible_numbers_from_a_damaged_trace_do_not_stop_the_replay():
    huge = 2**64 - 1  # msgpack's largest int, past what a step row holds
    model = _model(
        *STRINGS,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.SELECT, 110, 0, 111, 0, -5),  # a negative ready queue
        (s.READY, 112, 1, 1, 0),
        (s.STEP_YIELD, huge, 1, 1),
    )
    (task,) = model.tasks
    assert task.steps[0].end == 2**63 - 1 and model.end == huge


# A loop recorded from outside (uvloop kept): each handle it saw says who queued it.
OUTSIDE = (*STRINGS, (s.STR, 9, "uvloop.Loop"), (s.STR, 10, "_set_result_unless_cancelled"),
           (s.LOOP_OPEN, 90, 90, 7, 0, 9), (s.LOOP_OUTSIDE, 90, 9))  # fmt: skip


def test_a_loop_seen_from_outside_takes_each_steps_waker_from_its_handle_begin():
    model = _model(
        *OUTSIDE,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.HANDLE_BEGIN, 110, 100, s.BY_OUTSIDE, 0, 0, 0, 0),
        (s.TASK_NEW, 115, 2, "Task-2", 5, 6, 1, 0),
        (s.STEP_WAIT, 120, 1, -1, s.WAIT_TASK, 2, 6, 6),
        (s.HANDLE_BEGIN, 130, 116, s.BY_TASK, 1, 0, 0, 0),  # child's first step, queued by main
        (s.TIMER_ADD, 131, 1, 200, 10),
        (s.STEP_WAIT, 135, 2, -1, s.WAIT_SLEEP, 1, 7, 7),
        (s.HANDLE_BEGIN, 205, 200, s.BY_TIMER, 1, 10, 0, 0),
        (s.TIMER_DUE, 1),
        (s.CALLBACK, 206, -1, 10),
        (s.HANDLE_BEGIN, 210, 206, s.BY_CALLBACK, 0, 10, s.BY_TIMER, 1),
        (s.STEP_DONE, 215, 2, -1, s.OUTCOME_OK, 0),
        (s.HANDLE_BEGIN, 240, 215, s.BY_TASK, 2, 0, 0, 0),  # woken by child's end
        (s.STEP_DONE, 250, 1, -1, s.OUTCOME_OK, 0),
        (s.HANDLE_BEGIN, 260, 255, s.BY_UNSEEN, 0, 0, 0, 0),  # uvloop's own I/O queued it
        (s.CALLBACK, 262, -1, 8),
        (s.RUN_END, 270),
    )
    main, child = model.tasks
    loop = model.loops[1]
    assert loop.outside == "uvloop.Loop"
    # a new task is ready from its birth; a woken one from when its wakeup was queued
    assert [(step.begin, step.end, step.ready_since) for step in child.steps] == [
        (130, 135, 115), (210, 215, 206)]  # fmt: skip
    assert [step.waker.describe(model.tasks) for step in child.steps] == [
        "Task-1 main()", "sleep timer #1"]  # fmt: skip
    assert main.steps[1].waker.describe(model.tasks) == "Task-2 child()"
    assert main.scheduled_delay == (110 - 100) + (240 - 215)
    assert (loop.handles, loop.steps, loop.callbacks, loop.timers_due) == (6, 4, 2, 1)
    assert loop.busy_time == 10 + 5 + 1 + 5 + 10 + 2
    assert not loop.series.ready_t and loop.iterations == 0  # no ready queue, no iterations
    spans = list(zip(loop.series.begin, loop.series.end, strict=True))
    assert spans == [(110, 120), (130, 135), (205, 206), (210, 215), (240, 250), (260, 262)]


def test_a_waker_whose_id_names_a_newer_task_is_the_task_collected_before_it():
    model = _model(
        *OUTSIDE,
        (s.TASK_NEW, 100, 1, "Task-1", 2, 3, 0, 0),
        (s.TASK_NEW, 100, 2, "Task-2", 5, 3, 0, 0),
        (s.HANDLE_BEGIN, 110, 100, s.BY_OUTSIDE, 0, 0, 0, 0),
        (s.STEP_DONE, 120, 2, -1, s.OUTCOME_OK, 0),  # Task-2 ends, queueing Task-1's wakeup...
        (s.TASK_GONE, 121, 2),
        (s.TASK_NEW, 122, 2, "Task-3", 5, 3, 0, 0),  # ...and its id is another task's by then
        (s.HANDLE_BEGIN, 130, 119, s.BY_TASK, 2, 0, 0, 0),
        (s.STEP_DONE, 140, 1, -1, s.OUTCOME_OK, 0),
    )
    assert model.tasks[0].steps[0].waker.describe(model.tasks) == "Task-2 child()"
