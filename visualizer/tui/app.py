"""The loopviz viewer: header, tasks table, loop pane and output pane over one session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from ..model import Model
from ..model.timeindex import Snapshot
from .format import FINISHED, STATE_LOOK, duration, short_site, state_text
from .keys import APP_KEYS, OUTPUT_KEYS, TASK_KEYS, bindings
from .screens.details import TaskDetails
from .screens.help import HelpScreen
from .session import Session
from .timetravel import (
    Lanes,
    idle_of,
    loop_counters,
    loop_lane,
    steps_of,
    task_of,
    total_of,
    waiting_words,
)
from .widgets.output import OutputView
from .widgets.panes import HeaderBar, LoopPane
from .widgets.table import Column, Table
from .widgets.timeline import Timeline

MAIN_ONLY = frozenset(
    action.split("(")[0] for key in (*TASK_KEYS, *OUTPUT_KEYS) for action in key.action.split(",")
)
W = TypeVar("W", bound=Widget)
TICK = 0.25  # seconds between redraws from the model
MIN_SIZE = (60, 16)


def task_columns(get_session: Callable[[], Session]) -> list[Column]:
    """The tasks table's columns. A row is a Task (live) or a TaskAt (at the time cursor); the
    session (replaced on restart) says which time it is."""

    def now() -> int:
        return get_session().view_time()

    def parent(row: Any) -> str:
        task = task_of(row)
        return "" if task.parent is None else get_session().model.tasks[task.parent].name

    def waiting(row: Any) -> str:
        return waiting_words(get_session().model, row, now())

    def name(row: Any) -> str:
        return task_of(row).name

    def coro(row: Any) -> str:
        return task_of(row).coro

    def index(row: Any) -> int:
        return task_of(row).index

    right = {"align": "right"}
    return [
        Column("id", "id", 5, lambda r: str(index(r)), index, priority=9, **right),
        Column("name", "name", 14, name, name, priority=8),
        Column("state", "state", 11, lambda r: state_text(r.state), lambda r: r.state,
               priority=10),
        Column("coro", "coroutine", 18, coro, coro, priority=7, flex=True),
        Column("where", "where", 22, lambda r: short_site(r.wait_site), lambda r: r.wait_site,
               flex=True, priority=3),
        Column("waiting", "waiting on", 18, waiting, lambda r: (r.state, r.wait), priority=6),
        Column("steps", "steps", 6, lambda r: f"{steps_of(r):,}", steps_of, priority=5,
               **right),
        Column("busy", "busy", 8, lambda r: duration(r.busy), lambda r: r.busy, priority=4,
               **right),
        Column("sched", "sched", 8, lambda r: duration(r.scheduled_delay),
               lambda r: r.scheduled_delay, priority=2, **right),
        Column("idle", "idle", 8, lambda r: duration(idle_of(r, now())),
               lambda r: idle_of(r, now()), priority=1, **right),
        Column("total", "total", 8, lambda r: duration(total_of(r, now())),
               lambda r: total_of(r, now()), priority=2, **right),
        Column("parent", "parent", 10, parent, lambda r: task_of(r).parent or -1, priority=0),
    ]  # fmt: skip


def task_matches(row: Any, text: str) -> bool:
    """The filter: a case-insensitive match on name, coroutine or state word."""
    needle = text.lower()
    task = task_of(row)
    word = STATE_LOOK[row.state][1]
    return needle in task.name.lower() or needle in task.coro.lower() or needle in word


class LoopvizApp(App[None]):
    """Shows one session; `make_session` builds a fresh one for a restart."""

    TITLE = "loopviz"
    CSS_PATH = "app.tcss"
    BINDINGS = bindings(APP_KEYS) + bindings(TASK_KEYS) + bindings(OUTPUT_KEYS)

    def __init__(
        self, session: Session, make_session: Callable[[], Session] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.make_session = make_session
        self.show_done = True
        self._version = -1
        self._was_at = False  # the table showed the tasks at the cursor last time
        self._live_cursor: int | None = None  # where tick put the timeline's cursor, live
        self._lanes = Lanes()

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield self._tasks_table()
        yield Timeline(id="timeline", empty_text="no tasks yet")
        yield Input(placeholder="filter: name, coroutine or state · Enter keeps · Esc clears",
                    id="filter")  # fmt: skip
        with Horizontal(id="bottom"):
            yield LoopPane(id="loop")
            yield OutputView(id="output")
        yield Static(id="too-small")
        yield Footer()

    def _tasks_table(self) -> Table:
        table = Table(
            task_columns(lambda: self.session),
            row_key=lambda row: task_of(row).index,
            row_style=lambda t: "dim" if t.state in FINISHED else "",
            matcher=task_matches,
            id="tasks",
        )
        table.border_title = "Tasks"
        return table

    def on_mount(self) -> None:
        self._main("#output", OutputView).border_title = "Output"
        self._main("#tasks", Table).focus()
        self.session.start()
        self.tick()
        self.set_interval(TICK, self.tick)

    def _main(self, selector: str, kind: type[W]) -> W:
        """A widget of the main screen, whichever screen is on top."""
        return self.screen_stack[0].query_one(selector, kind)

    def on_resize(self) -> None:
        width, height = self.size
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.set_class(small, "-too-small")
        if small:
            self._main("#too-small", Static).update(
                f"Terminal too small: {width}×{height}; loopviz needs at least "
                f"{MIN_SIZE[0]}×{MIN_SIZE[1]}. Make the window bigger, or press q to quit."
            )

    # -- the tick -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Redraw every pane from the model (values that depend on time change without data)."""
        try:
            header = self._main("#header", HeaderBar)
            loop = self._main("#loop", LoopPane)
            output = self._main("#output", OutputView)
        except NoMatches:
            return  # shutting down: the main screen's widgets are gone, a last timer fired
        session = self.session
        with session.view():
            model = session.model
            snapshot = None if session.cursor is None else model.at(session.cursor)
            header.show(session, snapshot)
            loop.show(session, snapshot)
            output.take(model.output, model.start or 0)
            output.show_until(session.cursor)
            self._refresh_tasks(model, snapshot)
            if self.screen_stack[0].has_class("-timeline"):
                self._refresh_timeline(model)

    def _refresh_tasks(self, model: Model, snapshot: Snapshot | None) -> None:
        table = self._main("#tasks", Table)
        table.empty_text = self._no_tasks_words()
        if snapshot is not None:
            rows: Sequence[Any] = list(snapshot.tasks.values())
            if not self.show_done:
                rows = [row for row in rows if row.state not in FINISHED]
            table.set_rows(rows)
        elif self.session.version != self._version or not self.show_done or self._was_at:
            self._version = self.session.version
            tasks = model.tasks
            rows = tasks if self.show_done else [t for t in tasks if t.state not in FINISHED]
            table.set_rows(rows)
        else:
            table.refresh_rows()
        self._was_at = snapshot is not None
        shown = len(table.displayed_rows)
        hidden = "" if self.show_done else " · done hidden"
        total = len(model.tasks) if snapshot is None else len(snapshot.tasks)
        table.border_subtitle = f"{shown:,} of {total:,}{hidden}"

    def _refresh_timeline(self, model: Model) -> None:
        """Lanes in the tasks table's order (its sort and filter), loops on top."""
        timeline = self._main("#timeline", Timeline)
        now = self.session.now()
        lanes = self._lanes.tasks(model, now)
        counters = []
        for source, loop in sorted(model.loops.items()):
            label = f"loop {source} {loop.thread_name}"
            lanes.append(loop_lane(source, model.series(source), label))
            counters.extend(loop_counters(model.series(source)))
        timeline.set_lanes(lanes, counters, model.start or 0, max(now, model.end))
        order = [("loop", source) for source in sorted(model.loops)]
        order += [task_of(row).index for row in self._main("#tasks", Table).displayed_rows]
        timeline.set_order(order)
        if self.session.cursor is None:
            self._live_cursor = max(now, model.end) - 1  # live: the cursor stays at now
            timeline.cursor = self._live_cursor

    def _no_tasks_words(self) -> str:
        session = self.session
        if session.error:
            return f"Could not read the trace: {session.error}"
        ended = session.status is not None or (session.program is None and session.finished)
        if ended and not session.model.loops:
            return "The program ended without running an asyncio event loop."
        if ended:
            return "The program's loops ran no tasks."
        return "No tasks yet."

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The tasks and output keys belong to the main screen only."""
        if action == "filter" and self._main("#filter", Input).has_focus:
            return False  # a "/" typed into the filter is text
        return not (action in MAIN_ONLY and len(self.screen_stack) > 1)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_pause(self) -> None:
        paused = not self.session.paused
        self.session.set_paused(paused)
        self.notify("View paused; recording goes on." if paused else "Catching up.", timeout=2)
        self.tick()

    def action_timeline(self) -> None:
        screen = self.screen_stack[0]
        screen.toggle_class("-timeline")
        shown = screen.has_class("-timeline")
        self.set_focus(self._main("#timeline" if shown else "#tasks", Widget))
        self.tick()

    def on_timeline_cursor_moved(self, event: Timeline.CursorMoved) -> None:
        timeline = event.control
        if event.t != timeline.cursor or event.t == self._live_cursor or not timeline.has_focus:
            return  # stale, or the cursor following now (or clamped by new data), not a person
        self.session.cursor = event.t
        self.tick()

    def action_live(self) -> None:
        self.session.cursor = None
        self.notify("Live: every view shows now.", timeout=1.5)
        self.tick()

    def action_next_loop(self) -> None:
        with self.session.view() as model:
            self._main("#loop", LoopPane).next_loop(model)
        self.tick()

    def action_zoom(self) -> None:
        focused = self.focused
        target = next((w for w in ("tasks", "output", "loop") if focused and focused.id == w), None)
        zoomed = self.screen.has_class("-zoom")
        self.screen.remove_class("-zoom", "-zoom-tasks", "-zoom-output")
        if not zoomed and target in ("tasks", "output"):
            self.screen.add_class("-zoom", f"-zoom-{target}")

    def action_restart(self) -> None:
        if self.make_session is None:
            self.notify("Nothing to restart: this is a recorded trace.", severity="warning")
            return
        self.notify("Restarting the program…", timeout=2)
        old = self.session
        self.run_worker(lambda: self._restart(old), thread=True, exclusive=True, group="restart")

    def _restart(self, old: Session) -> None:
        old.close()
        assert self.make_session is not None
        self.call_from_thread(self._swap, self.make_session())

    def _swap(self, session: Session) -> None:
        self.session = session
        self._version = -1
        self._main("#tasks", Table).set_rows([])
        self._main("#output", OutputView).reset()
        self._main("#loop", LoopPane).reset()
        session.start()
        self.tick()

    def action_open(self) -> None:
        row = self._main("#tasks", Table).current
        if row is not None:
            self.push_screen(TaskDetails(self.session, row))

    def on_table_selected(self, event: Table.Selected) -> None:
        if event.control.id == "tasks":
            self.push_screen(TaskDetails(self.session, event.row))

    def action_filter(self) -> None:
        field = self._main("#filter", Input)
        field.add_class("-open")
        # Focused now, not after a refresh (it is always displayed, only 0 rows high while
        # closed): the keys typed right after / must land in it, not in the table.
        self.set_focus(field)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._main("#tasks", Table).filter_text = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._main("#tasks", Table).focus()

    def on_key(self, event: Any) -> None:
        field = self._main("#filter", Input)
        if event.key == "escape" and field.has_focus:
            field.value = ""
            field.remove_class("-open")
            self._main("#tasks", Table).focus()
            event.stop()

    def action_sort(self, step: int) -> None:
        self._main("#tasks", Table).cycle_sort(step)

    def action_invert(self) -> None:
        self._main("#tasks", Table).invert()

    def action_toggle_done(self) -> None:
        self.show_done = not self.show_done
        self._version = -1
        self.tick()

    def action_follow(self) -> None:
        table = self._main("#tasks", Table)
        table.follow = not table.follow
        self.notify("Following the newest task." if table.follow else "Not following.", timeout=1)

    def action_follow_output(self) -> None:
        self._main("#output", OutputView).action_follow_output()
