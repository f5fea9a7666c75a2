"""The viewer's time cursor: tasks at a past time, and the timeline's lanes.

With the cursor unset the views are live (the model's present); with it set they show the
model's `Snapshot` at that time. The tasks table's rows are then `TaskAt`s instead of `Task`s,
so the cell functions here take either. Lanes are rebuilt only for tasks that ran since.
"""

from __future__ import annotations

from typing import Any

from ..model import UNRECORDED, Loop, Model, Task
from ..model.timeindex import TaskAt
from .format import FINISHED
from .widgets.timeline import LOOP_PALETTE, Counter, Lane, task_lane


def task_of(row: Any) -> Task:
    """The task a row shows (a Task live, a TaskAt at the cursor)."""
    return row.task if type(row) is TaskAt else row


def steps_of(row: Any) -> int:
    return row.steps if type(row) is TaskAt else len(row.steps)


def total_of(row: Any, now: int) -> int:
    task = task_of(row)
    end = task.ended if task.ended is not None and task.ended <= now else now
    return max(0, end - task.created)


def idle_of(row: Any, now: int) -> int:
    return max(0, total_of(row, now) - row.busy - row.scheduled_delay)


def waiting_words(model: Model, row: Any, now: int) -> str:
    """The "waiting on" cell: the model's words live, the same without a countdown at a past
    time (the timers pending then are not kept, only how many there were)."""
    if type(row) is not TaskAt:
        return model.waiting_on(row, now)
    if row.state in FINISHED:
        return ""
    return model.wait_words(row.state, row.wait, row.ref)


class Lanes:
    """The timeline's lanes for a model, kept between ticks: a lane is remade only when its
    task ran since (more steps) and otherwise just has its open end moved to now."""

    def __init__(self) -> None:
        self._lanes: dict[int, tuple[int, Lane]] = {}  # task index -> (steps when made, lane)

    def tasks(self, model: Model, now: int) -> list[Lane]:
        lanes = []
        for task in model.tasks:
            made = self._lanes.get(task.index)
            steps = len(task.steps)
            if (
                made is None
                or made[0] != steps
                or task.ended is not None
                and made[1].end
                and (made[1].end[-1] < task.ended)
            ):
                lane = task_lane(task, now)
                self._lanes[task.index] = (steps, lane)
            else:
                lane = made[1]
                if task.ended is None and lane.end and lane.end[-1] < now:
                    lane.end[-1] = now  # still in its last state
            lanes.append(lane)
        return lanes


def loop_lane(source: int, loop: Loop) -> Lane:
    """A loop's lane: busy running handles, or blocked in select (LoopPhase codes are the
    series' Activity values, so its arrays are drawn as they are). A loop recorded from
    outside has only the handles it saw, and says so."""
    series = loop.series
    label = f"loop {source} {loop.thread_name}"
    if loop.outside:
        label = f"loop {source} {loop.outside.partition('.')[0]}"  # only the handles it saw
    return Lane(("loop", source), label, series.begin, series.end, series.kind, LOOP_PALETTE)


def loop_counters(loop: Loop) -> list[Counter]:
    series = loop.series
    ready = Counter("ready queue", series.ready_t, series.ready_n)
    if loop.outside:
        ready = Counter("ready queue", (), (), missing=UNRECORDED)
    return [ready, Counter("tasks alive", series.alive_t, series.alive_n)]
