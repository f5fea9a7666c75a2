"""Pure data rebuilt from a trace: tasks, loops, output. No Textual here."""

from .replay import Model
from .state import Loop, Origin, Scheduled, State, Step, Task

__all__ = ["Loop", "Model", "Origin", "Scheduled", "State", "Step", "Task"]
