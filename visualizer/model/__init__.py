"""Pure data rebuilt from a trace: tasks, loops, output. No Textual here."""

from ..trace.schema import NO_LOOP
from .replay import Model
from .series import Activity, LoopSeries, value_at
from .state import UNRECORDED, Loop, Origin, Scheduled, State, Step, Task
from .timeindex import Event, LoopAt, Snapshot, TaskAt

__all__ = [
    "NO_LOOP", "UNRECORDED", "Activity", "Event", "Loop", "LoopAt", "LoopSeries", "Model", "Origin",
    "Scheduled", "Snapshot", "State", "Step", "Task", "TaskAt", "value_at",
]  # fmt: skip
