"""A task's details: lifecycle, durations, await chain with source, wakers, outcome, its steps."""

from __future__ import annotations

import linecache
from bisect import bisect_right
from typing import Any

from rich.console import Group
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...model import Model, Step, Task
from ...model.timeindex import TaskAt
from ...trace import schema
from ..format import FINISHED, clock, duration, percent, short_site, state_text
from ..keys import DETAIL_KEYS, bindings
from ..session import Session
from ..timetravel import idle_of, steps_of, task_of, total_of, waiting_words
from ..widgets.table import Column, Table


def parse_site(site: str) -> tuple[str, int, str] | None:
    """``path:12 in func`` → (path, 12, func); None when it isn't one."""
    where, _, func = site.partition(" in ")
    path, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return None
    return path, int(line), func


def source_lines(site: str, context: int) -> list[Text]:
    """The source around a site, its own line marked (nothing when the file can't be read)."""
    parsed = parse_site(site)
    if parsed is None:
        return []
    path, line, _ = parsed
    out = []
    for number in range(max(1, line - context), line + context + 1):
        text = linecache.getline(path, number).rstrip()
        if not text and number > line:
            break
        marker = "▶" if number == line else " "
        out.append(
            Text(f"   {marker}{number:>5} │ {text}", style="bold" if number == line else "dim")
        )
    return out


def wait_words(model: Model, step: Step) -> str:
    if step.wait == -1:
        return "finished"
    if step.wait == 0:
        return "yielded"
    name = schema.WAIT_NAMES.get(step.wait, "?")
    if step.wait == schema.WAIT_TASK and 0 <= step.ref < len(model.tasks):
        return f"task {model.tasks[step.ref].label}"
    if step.wait in (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE) and step.ref > 0:
        return f"{name} fd {step.ref}"
    return name


def step_columns(model: Model, task: Task) -> list[Column]:
    start = model.start or 0
    steps = task.steps
    return [
        Column("n", "#", 6, lambda i: str(i + 1), sort_key=lambda i: i, align="right"),
        Column(
            "begin",
            "began",
            9,
            lambda i: clock(steps[i].begin - start),
            sort_key=lambda i: steps[i].begin,
            align="right",
        ),  # fmt: skip
        Column(
            "ran",
            "ran",
            9,
            lambda i: duration(steps[i].end - steps[i].begin),
            sort_key=lambda i: steps[i].end - steps[i].begin,
            align="right",
        ),  # fmt: skip
        Column(
            "delay",
            "sched",
            9,
            lambda i: duration(max(0, steps[i].begin - steps[i].ready_since)),
            sort_key=lambda i: steps[i].begin - steps[i].ready_since,
            align="right",
            priority=-1,
        ),  # fmt: skip
        Column(
            "waker",
            "woken by",
            26,
            lambda i: (
                "created eagerly"
                if steps[i].waker is None
                else steps[i].waker.describe(model.tasks)
            ),
            priority=-2,
        ),  # fmt: skip
        Column("after", "then", 22, lambda i: wait_words(model, steps[i])),
        Column("site", "at", 30, lambda i: short_site(steps[i].site), flex=True, priority=-3),
    ]


def child_columns(model: Model) -> list[Column]:
    return [
        Column("id", "id", 6, lambda t: str(t.index), sort_key=lambda t: t.index, align="right"),
        Column("name", "name", 16, lambda t: t.name, sort_key=lambda t: t.name),
        Column("state", "state", 12, lambda t: state_text(t.state), sort_key=lambda t: t.state),
        Column("coro", "coroutine", 24, lambda t: t.coro, sort_key=lambda t: t.coro, flex=True),
    ]


class TaskDetails(Screen[None]):
    """One task, everything known about it; Esc goes back."""

    BINDINGS = bindings(DETAIL_KEYS)
    DEFAULT_CSS = """
    TaskDetails { layout: vertical; }
    TaskDetails > #about { height: 1fr; border: round $primary; padding: 0 1; }
    TaskDetails > #children { height: auto; max-height: 8; border: round $primary-darken-2; }
    TaskDetails > #events { height: 1fr; border: round $primary-darken-2; }
    TaskDetails Table:focus { border: round $accent; }
    """

    def __init__(self, session: Session, task: Task) -> None:
        super().__init__()
        self.session = session
        self.task_ = task
        self._version: object = None  # (records version, cursor) last shown

    def compose(self) -> ComposeResult:
        model = self.session.model
        with VerticalScroll(id="about"):
            yield Static(id="about-text")
        children = Table(child_columns(model), row_key=lambda t: t.index,
                         row_style=lambda t: "dim" if t.state in FINISHED else "",
                         id="children")  # fmt: skip
        children.display = bool(self.task_.children)
        yield children
        yield Table(step_columns(model, self.task_), row_key=lambda i: i, id="events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#about", VerticalScroll).border_title = self.task_.label
        self.query_one("#events", Table).border_title = "steps"
        self.refresh_view()
        self.set_interval(0.5, self.refresh_view)

    def refresh_view(self) -> None:
        session = self.session
        seen = (session.version, session.cursor)
        if seen == self._version and session.status is not None:
            return  # nothing new, and no clock running
        self._version = seen
        with session.view():
            task = self.task_
            now = session.view_time()
            row: Task | TaskAt | None = task
            if session.cursor is not None:  # the task as it was at the time cursor
                row = session.model.at(now).tasks.get(task.index)
            about = (
                self._about(session.model, row, now)
                if row is not None
                else Text(f"{task.label} did not exist yet at the time cursor (n: back to now)")
            )
            self.query_one("#about-text", Static).update(about)
            children = self.query_one("#children", Table)
            children.display = bool(task.children)
            children.border_title = f"children ({len(task.children)}) · Enter opens"
            children.set_rows([session.model.tasks[i] for i in task.children])
            events = self.query_one("#events", Table)
            shown = bisect_right(task.steps, now, key=lambda step: step.begin)
            if session.cursor is None:
                events.border_title = f"steps ({len(task.steps):,})"
            else:
                events.border_title = f"steps ({shown:,} of {len(task.steps):,}, to the cursor)"
            events.set_rows(range(shown))

    def _about(self, model: Model, row: Task | TaskAt, now: int) -> Group:
        """Everything about the task; what changes with time is read from `row`, the task now
        or as it was at the time cursor."""
        task = task_of(row)
        start = model.start or 0
        total = total_of(row, now)
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()

        def line(label: str, *parts: str | Text) -> None:
            # Text, not markup: names and sites come from the program and may hold brackets.
            grid.add_row(label, Text.assemble(*parts))

        past = ("   (at the time cursor; n: back to now)", "bold yellow") if row is not task else ""
        line("state", state_text(row.state), f"  since {clock(max(0, row.since - start))}", past)
        line("task", f"id {task.index} · loop {task.loop} · {task.name} · coroutine "
             f"{task.coro}()" + (" · eager" if task.eager else ""))  # fmt: skip
        line("created", f"{clock(task.created - start)} at {task.site or 'unknown'}")
        if task.parent is None:
            line("parent", "none")
        else:
            line("parent", model.tasks[task.parent].label, ("   p opens it", "dim"))
        names = ", ".join(model.tasks[i].name for i in task.children[:12])
        line("children", (names + (" ..." if len(task.children) > 12 else "")) or "none")
        idle = idle_of(row, now)
        line("time", f"total {duration(total)}   busy {duration(row.busy)} "
             f"({percent(row.busy, total)})   scheduled {duration(row.scheduled_delay)} "
             f"({percent(row.scheduled_delay, total)})   idle {duration(idle)} "
             f"({percent(idle, total)})")  # fmt: skip
        longest = task.longest_step if row is task else task.longest_of(steps_of(row))
        line("steps", f"{steps_of(row):,}, longest {duration(longest)}")
        if row.state not in FINISHED:
            hint = ("   w opens it", "dim") if row.wait == schema.WAIT_TASK else ""
            line("waiting on", waiting_words(model, row, now), hint)
        wakers = ", ".join(f"{who} ×{n}" for who, n in task.woken_by(steps_of(row)).most_common(6))
        line("woken by", wakers or "nobody yet")
        for when, by in task.cancel_requests:
            if when <= now:
                line("cancel", f"requested at {clock(when - start)} by {by}")
        parts: list[Any] = [grid]
        parts.extend(self._chain(row))
        if task.ended is not None and task.ended <= now:
            parts.extend(self._outcome(task))
        return Group(*parts)

    @staticmethod
    def _chain(task: Task | TaskAt) -> list[Any]:
        if not task.wait_chain:
            return []
        lines: list[Any] = [Text("\nawait chain, outermost first", style="bold")]
        sites = task.wait_chain.split("\n")
        for depth, site in enumerate(sites):
            lines.append(Text(f" {'  ' * depth}{site}"))
            lines.extend(source_lines(site, 2 if site == task.wait_site else 0))
        return lines

    @staticmethod
    def _outcome(task: Task) -> list[Any]:
        if task.outcome is None:
            return []
        word = schema.OUTCOME_NAMES[task.outcome]
        lines: list[Any] = [Text(f"\nresult: {word}", style="bold")]
        if task.error:
            lines.append(Text(task.error.rstrip(), style="red"))
        return lines

    # -- actions -------------------------------------------------------------------------------

    def _open(self, index: int | None) -> None:
        if index is not None and 0 <= index < len(self.session.model.tasks):
            self.app.push_screen(TaskDetails(self.session, self.session.model.tasks[index]))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_parent(self) -> None:
        self._open(self.task_.parent)

    def action_cancel_shown(self) -> None:
        self.app.ask_cancel(self.task_)  # type: ignore[attr-defined]

    def action_waited(self) -> None:
        if self.task_.wait == schema.WAIT_TASK:
            self._open(self.task_.wait_ref)  # what it waits on now

    def on_table_selected(self, event: Table.Selected) -> None:
        if event.control.id == "children":
            self._open(event.row.index)
