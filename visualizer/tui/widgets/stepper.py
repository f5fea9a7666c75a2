"""The loop internals view: where a stepped loop is held, what is queued, what comes next.

It reads the model only: the loop's `Held` (the stepper's PAUSED and QUEUED records), its
replayed ready queue (who queued each entry), its timers and I/O watchers, and the tasks.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text
from textual.widgets import Static

from ...model import UNRECORDED, Model, Origin, Scheduled
from ...model.state import Held, Loop, Queued, Task
from ...trace import schema
from ..format import duration, short_site

# _run_once's phases: select (wait for I/O), run the I/O callbacks' bookkeeping, move the
# timers that are due to the ready queue, run the ready callbacks.
PHASES = ("select", "I/O events", "due timers", "callbacks")
WHY_WORDS = {
    schema.WHY_READY: "callbacks are ready, so it only polls for I/O",
    schema.WHY_TIMER: "the earliest timer is due then",
    schema.WHY_NOTHING: "no callback and no timer: until I/O or another thread wakes it",
    schema.WHY_STOPPING: "loop.stop() was called: it polls once more and returns",
}
SOURCE_CONTEXT = 3  # lines of source shown above and below the line a task goes on from
BAR = 12  # cells in a timer's time-left bar


def _task(model: Model, index: int | None) -> Task | None:
    return model.tasks[index] if index is not None and 0 <= index < len(model.tasks) else None


def describe_queued(model: Model, entry: Queued, queued_by: Any = None) -> str:
    """A ready-queue entry for a person: "step Task-2 producer()", "wake Task-3 consumer()
    (its Queue.get is done)", "I/O callback fd 7: _read_ready", "callback print"."""
    task = _task(model, entry.task)
    if task is not None and entry.what == "wakeup":
        waited = schema.WAIT_NAMES.get(task.wait, "")
        return f"wake {task.label}" + (f" (its {waited} is done)" if task.wait else "")
    if task is not None:
        return f"step {task.label}" if task.rows else f"start {task.label} (its first step)"
    if isinstance(queued_by, Scheduled):
        if queued_by.origin == Origin.IO and queued_by.ref != -1:
            return f"I/O callback fd {queued_by.ref}: {entry.what}"
        if queued_by.origin == Origin.TIMER:
            return f"timer #{queued_by.ref} callback: {entry.what}"
        if queued_by.origin == Origin.THREAD:
            return f"from another thread: {entry.what}"
    return f"callback {entry.what}"


def _by_whom(model: Model, queued_by: Any) -> str:
    if isinstance(queued_by, int):
        task = _task(model, queued_by)
        return "" if task is None else f"queued by {task.label}"
    if isinstance(queued_by, Scheduled) and queued_by.origin != Origin.OUTSIDE:
        return f"queued by {queued_by.describe(model.tasks)}"
    return ""


class StepperPane(Static):
    """The loop internals of one loop: phase, ready queue, timers, I/O, the next callback."""

    def __init__(self, narrate: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.narrate = narrate

    def show(self, model: Model, loop: Loop | None, now: int, story: str = "") -> None:
        if loop is None:
            self.border_title = "Loop internals"
            self.update(Text("No event loop yet.", style="dim"))
            return
        if loop.outside:
            self._show_outside(model, loop, now)
            return
        held = loop.held
        self.border_title = f"Loop {loop.source} internals · " + self._state_words(loop, held)
        parts: list[RenderableType] = [self._phases(loop, held)]
        if held is not None and held.point == schema.POINT_TOP and not story:
            if held.timeout == 0:
                wait = "select will not wait (timeout 0)"
            elif held.timeout is None:
                wait = "select will wait until I/O"
            else:
                wait = f"select will wait up to {duration(held.timeout)}"
            parts.append(Text(f"{wait}: {WHY_WORDS.get(held.why, '')}"))
        if story:
            parts.append(Text(story, style="italic"))
        parts.append(self._lists(model, loop, held, now))
        parts.extend(self._next_up(model, held))
        self.update(Group(*parts))

    def _show_outside(self, model: Model, loop: Loop, now: int) -> None:
        """A loop recorded from outside has no insides to show, nor step points to hold at."""
        self.border_title = f"Loop {loop.source} internals · {loop.outside}, seen from outside"
        words = Text(
            f"{loop.outside} runs its iterations in C: its select, I/O events, ready queue and "
            f"I/O watchers are {UNRECORDED}, and the stepper cannot hold it. A subclass sees its "
            "tasks' steps, its callbacks and its timers: they are in the tasks, the timeline and "
            "the loop pane."
        )
        self.update(Group(words, self._timer_list(model, loop, now, BAR)))

    @staticmethod
    def _state_words(loop: Loop, held: Held | None) -> str:
        if held is None:
            if loop.closed is not None:
                return "closed"
            return "waiting in select" if loop.idle_since is not None else "running"
        if held.point == schema.POINT_TOP:
            return f"held before its select (iteration {loop.iterations + 1:,})"
        return f"held before callback {held.k} of {held.n}"

    @staticmethod
    def _phases(loop: Loop, held: Held | None) -> Text:
        """The four phases of an iteration, the one it is in marked."""
        if held is None:
            current = None if loop.idle_since is None else 0
        else:
            current = 0 if held.point == schema.POINT_TOP else 3
        text = Text()
        for number, phase in enumerate(PHASES):
            if number:
                text.append(" → ", style="dim")
            label = f"{number + 1} {phase}"
            if number == 3 and held is not None and held.point == schema.POINT_HANDLE:
                label += f" ({held.k} of {held.n})"
            text.append(label, style="bold reverse" if number == current else "")
        return text

    def _lists(self, model: Model, loop: Loop, held: Held | None, now: int) -> RichTable:
        grid = RichTable.grid(padding=(0, 2), expand=True)
        grid.add_column(ratio=3)  # wraps: the next callback's words matter most
        grid.add_column(ratio=2, overflow="ellipsis", no_wrap=True)
        grid.add_column(ratio=2, overflow="ellipsis", no_wrap=True)
        ready = self._ready_list(model, loop, held, max(16, self.size.width * 3 // 7 - 6))
        bar = max(4, min(BAR, self.size.width // 12))  # narrow panes keep the time left legible
        grid.add_row(ready, self._timer_list(model, loop, now, bar), self._io_list(model, loop))
        return grid

    @staticmethod
    def _ready_list(model: Model, loop: Loop, held: Held | None, width: int = 60) -> Text:
        queue = list(loop.queue)
        if held is None:
            return Text(f"ready queue: {len(queue)}", style="bold")
        text = Text(f"ready queue ({len(held.queue)})", style="bold")
        paired = len(queue) == len(held.queue)
        for i, entry in enumerate(held.queue[:12]):
            queued_by = queue[i][1] if paired else None
            first = i == 0 and held.point == schema.POINT_HANDLE
            line = Text("\n▶ " if first else "\n  ", style="bold green" if first else "")
            line.append(describe_queued(model, entry, queued_by), style="bold" if first else "")
            by = _by_whom(model, queued_by)
            if by:  # one line at most: it says where the entry came from, not what it does
                line.append(f"\n    {by if len(by) <= width else by[: width - 1] + '…'}",
                            style="dim")  # fmt: skip
            text.append_text(line)
        if len(held.queue) > 12:
            text.append(f"\n  … {len(held.queue) - 12} more", style="dim")
        if not held.queue:
            text.append("\n  (empty)", style="dim")
        return text

    @staticmethod
    def _timer_list(model: Model, loop: Loop, now: int, bar: int = BAR) -> Text:
        timers = sorted(loop.timers.items(), key=lambda item: item[1][0])
        text = Text(f"timers ({len(timers)})", style="bold")
        sleepers = {task.wait_ref: task for task in model.tasks
                    if task.loop == loop.source and task.outcome is None
                    and task.wait == schema.WAIT_SLEEP}  # fmt: skip
        longest = max((when - now for _, (when, _) in timers[:8]), default=0)
        for seq, (when, what) in timers[:8]:
            left = when - now
            filled = 0 if longest <= 0 else round(bar * max(0, left) / longest)
            task = sleepers.get(seq)
            wakes = f"wakes {task.label}" if task is not None else what
            text.append(f"\n#{seq} ")
            text.append("█" * filled + "░" * (bar - filled), style="cyan")
            text.append(f" {duration(max(0, left))} {wakes}")
        if len(timers) > 8:
            text.append(f"\n… {len(timers) - 8} more", style="dim")
        return text

    @staticmethod
    def _io_list(model: Model, loop: Loop) -> Text:
        text = Text(f"I/O watchers ({len(loop.watchers)})", style="bold")
        waiting = {(task.wait_ref, task.wait): task for task in model.tasks
                   if task.loop == loop.source and task.outcome is None
                   and task.wait in (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE)}  # fmt: skip
        for (fd, mask), callback in sorted(loop.watchers.items())[:8]:
            read = mask == schema.READ
            task = waiting.get((fd, schema.WAIT_IO_READ if read else schema.WAIT_IO_WRITE))
            who = f" → {task.label}" if task is not None else f" {callback}"
            text.append(f"\nfd {fd} {'read' if read else 'write'}{who}")
        if len(loop.watchers) > 8:
            text.append(f"\n… {len(loop.watchers) - 8} more", style="dim")
        return text

    @staticmethod
    def _next_up(model: Model, held: Held | None) -> list[RenderableType]:
        """The handle about to run (before a select: the first in the queue, which runs first
        after it, I/O callbacks going to the back): for a task, where its coroutine goes on."""
        entry = held.queue[0] if held is not None and held.queue else None
        task = _task(model, entry.task) if entry is not None else None
        if entry is None or task is None or not entry.where:
            return []
        label = "next: " if held is not None and held.point == schema.POINT_HANDLE else (
            "first after the select: ")  # fmt: skip
        parts: list[RenderableType] = [
            Text.assemble((label, "bold"), f"{task.label} goes on at {short_site(entry.where)}")
        ]
        place, _, _ = entry.where.rpartition(" in ")
        path, _, line = place.rpartition(":")
        if path and line.isdigit() and linecache.getline(path, int(line)):
            number = int(line)
            source = Text()
            for n in range(max(1, number - SOURCE_CONTEXT), number + SOURCE_CONTEXT + 1):
                code = linecache.getline(path, n).rstrip("\n")
                if not code and n > number:
                    break
                mark = "▶" if n == number else " "
                style = "bold reverse" if n == number else "dim"
                source.append(f"{mark}{n:5} │ {code}\n", style=style)
            parts.append(source)
        if task.wait_chain and entry.what == "wakeup":
            chain = " → ".join(short_site(site) for site in task.wait_chain.split("\n"))
            parts.append(Text(f"await chain: {chain}", style="dim"))
        return parts
