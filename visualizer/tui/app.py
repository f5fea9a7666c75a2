"""The loopviz viewer: header, tasks table, loop pane and output pane over one session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from ..model import Model, Task
from .format import FINISHED, STATE_LOOK, duration, short_site, state_text
from .keys import APP_KEYS, OUTPUT_KEYS, TASK_KEYS, bindings
from .screens.details import TaskDetails
from .screens.help import HelpScreen
from .session import Session
from .widgets.output import OutputView
from .widgets.panes import HeaderBar, LoopPane
from .widgets.table import Column, Table

MAIN_ONLY = frozenset(
    action.split("(")[0] for key in (*TASK_KEYS, *OUTPUT_KEYS) for action in key.action.split(",")
)
W = TypeVar("W", bound=Widget)
TICK = 0.25  # seconds between redraws from the model
MIN_SIZE = (60, 16)


def task_columns(get_session: Callable[[], Session]) -> list[Column]:
    """The tasks table's columns; the session (replaced on restart) answers the rest."""

    def now() -> int:
        return get_session().now()

    def parent(task: Task) -> str:
        return "" if task.parent is None else get_session().model.tasks[task.parent].name

    def waiting_on(task: Task) -> str:
        session = get_session()
        return session.model.waiting_on(task, session.now())

    return [
        Column(
            "id",
            "id",
            5,
            lambda t: str(t.index),
            sort_key=lambda t: t.index,
            align="right",
            priority=9,
        ),  # fmt: skip
        Column("name", "name", 14, lambda t: t.name, sort_key=lambda t: t.name, priority=8),
        Column(
            "state",
            "state",
            11,
            lambda t: state_text(t.state),
            sort_key=lambda t: t.state,
            priority=10,
        ),  # fmt: skip
        Column(
            "coro",
            "coroutine",
            18,
            lambda t: t.coro,
            sort_key=lambda t: t.coro,
            priority=7,
            flex=True,
        ),  # fmt: skip
        Column(
            "where",
            "where",
            22,
            lambda t: short_site(t.wait_site),
            sort_key=lambda t: t.wait_site,
            flex=True,
            priority=3,
        ),  # fmt: skip
        Column(
            "waiting",
            "waiting on",
            18,
            waiting_on,
            sort_key=lambda t: (t.state, t.wait),
            priority=6,
        ),  # fmt: skip
        Column(
            "steps",
            "steps",
            6,
            lambda t: f"{len(t.steps):,}",
            sort_key=lambda t: len(t.steps),
            align="right",
            priority=5,
        ),  # fmt: skip
        Column(
            "busy",
            "busy",
            8,
            lambda t: duration(t.busy),
            sort_key=lambda t: t.busy,
            align="right",
            priority=4,
        ),  # fmt: skip
        Column(
            "sched",
            "sched",
            8,
            lambda t: duration(t.scheduled_delay),
            sort_key=lambda t: t.scheduled_delay,
            align="right",
            priority=2,
        ),  # fmt: skip
        Column(
            "idle",
            "idle",
            8,
            lambda t: duration(t.idle(now())),
            sort_key=lambda t: t.idle(now()),
            align="right",
            priority=1,
        ),  # fmt: skip
        Column(
            "total",
            "total",
            8,
            lambda t: duration(t.total(now())),
            sort_key=lambda t: t.total(now()),
            align="right",
            priority=2,
        ),  # fmt: skip
        Column("parent", "parent", 10, parent, sort_key=lambda t: t.parent or -1, priority=0),
    ]


def task_matches(task: Task, text: str) -> bool:
    """The filter: a case-insensitive match on name, coroutine or state word."""
    needle = text.lower()
    word = STATE_LOOK[task.state][1]
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

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield self._tasks_table()
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
            row_key=lambda t: t.index,
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
            header.show(session)
            loop.show(session)
            output.take(model.output, model.start or 0)
            self._refresh_tasks(model)

    def _refresh_tasks(self, model: Model) -> None:
        table = self._main("#tasks", Table)
        table.empty_text = self._no_tasks_words()
        if self.session.version != self._version or not self.show_done:
            self._version = self.session.version
            tasks = model.tasks
            rows = tasks if self.show_done else [t for t in tasks if t.state not in FINISHED]
            table.set_rows(rows)
        else:
            table.refresh_rows()
        shown = len(table.displayed_rows)
        hidden = "" if self.show_done else " · done hidden"
        table.border_subtitle = f"{shown:,} of {len(model.tasks):,}{hidden}"

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
