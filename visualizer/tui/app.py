"""The loopviz viewer: header, tasks table, loop pane and output pane over one session."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from ..model import NO_LOOP, Model, Origin, Step, Task
from ..model.diagnose import ERROR, WARNING, Finding
from ..model.timeindex import Snapshot
from .format import FINISHED, STATE_LOOK, duration, offset, short_site, state_text
from .keys import APP_KEYS, OUTPUT_KEYS, STEP_KEYS, TASK_KEYS, TIME_KEYS, bindings
from .screens.confirm import ConfirmScreen
from .screens.details import TaskDetails
from .screens.details import wait_words as step_wait_words
from .screens.help import HelpScreen
from .screens.tree import TreeScreen
from .screens.warnings import SEVERITY_LOOK, WarningsScreen
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
from .widgets.panes import HeaderBar, LoopPane, main_loop
from .widgets.scrub import ScrubBar
from .widgets.stepper import StepperPane
from .widgets.table import Cell, Column, Table
from .widgets.timeline import Timeline

MAIN_ONLY = frozenset(
    action.split("(")[0] for key in (*TASK_KEYS, *OUTPUT_KEYS) for action in key.action.split(",")
)
W = TypeVar("W", bound=Widget)
TICK = 0.25  # seconds between redraws from the model
LOADING_TICK = 1.0  # ... while a trace file is read (the header still every TICK)
PLAY_FASTEST = 2 / 1024  # auto-play faster than a callback every this many seconds: flat out
# What `o` can run the program until (the stepper's kinds), in the order O cycles through them.
UNTIL_KINDS = (
    ("task", "a task is created"),
    ("done", "a task finishes"),
    ("io", "I/O arrives"),
    ("timer", "a timer is due"),
    ("output", "the program prints"),
    ("error", "an error is reported"),
)
PLAY_TICK = 0.05  # seconds between cursor moves while playing
BLOCKED_NS = 100_000_000  # k / K: a handle at least this long held the loop
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

    def flagged_name(row: Any) -> Cell:
        task = task_of(row)
        found = get_session().flagged.get(task.index)
        if not found:
            return task.name
        worst = ERROR if any(f.severity == ERROR for f in found) else WARNING
        glyph, style = SEVERITY_LOOK[worst]
        return Text.assemble((f"{glyph} ", style), task.name)

    def coro(row: Any) -> str:
        return task_of(row).coro

    def index(row: Any) -> int:
        return task_of(row).index

    right = {"align": "right"}
    return [
        Column("id", "id", 5, lambda r: str(index(r)), index, priority=9, **right),
        Column("name", "name", 14, flagged_name, name, priority=8),
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


def narration(model: Model, source: int, recent: list[tuple[Any, ...]]) -> str:
    """The stepper's sentence for what just happened in a held loop."""
    from ..model.narrate import story  # only a stepped program needs it

    return story(model, source, recent)


class LoopvizApp(App[None]):
    """Shows one session; `make_session` builds a fresh one for a restart."""

    TITLE = "loopviz"
    CSS_PATH = "app.tcss"
    # The stepper's keys first: the footer shows them before it runs out of room.
    BINDINGS = (
        bindings(STEP_KEYS) + bindings(APP_KEYS) + bindings(TIME_KEYS) + bindings(TASK_KEYS)
        + bindings(OUTPUT_KEYS)
    )  # fmt: skip

    def __init__(
        self, session: Session, make_session: Callable[[], Session] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.make_session = make_session
        self.show_done = True
        self._version = -1
        self._was_at = False  # the table showed the tasks at the cursor last time
        self._full_tick = 0.0  # when the views were last redrawn while a trace file was read
        self._live_cursor: int | None = None  # where tick put the timeline's cursor, live
        self.playing = False
        self.speed = 1.0  # replay speed: trace seconds per second
        self._jumps: list[int | None] = []  # cursor positions before each jump, for `b`
        self._lanes = Lanes()
        self.play_interval = 0.5  # stepping: seconds between callbacks on auto-play (0: flat out)
        self.autoplaying = False
        self.until_kind = 0  # stepping: which of UNTIL_KINDS `o` runs to
        self._answers_told = 0  # the program's answers shown so far

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield StepperPane(id="stepper")
        yield self._tasks_table()
        yield Timeline(id="timeline", empty_text="no tasks yet")
        yield Static(id="span-info")
        yield Input(placeholder="filter: name, coroutine or state · Enter keeps · Esc clears",
                    id="filter")  # fmt: skip
        with Horizontal(id="bottom"):
            yield LoopPane(id="loop")
            yield OutputView(id="output")
        yield ScrubBar(id="scrub")
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
        if self.session.stepping:
            self.screen.add_class("-internals")
        self.session.start()
        self.tick()
        self.set_interval(TICK, self.tick)

    def _main(self, selector: str, kind: type[W]) -> W:
        """A widget of the main screen, whichever screen is on top."""
        if not self.screen_stack:
            raise NoMatches(f"no screen for {selector}: the app is shutting down")
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
        if session.program is None and not session.finished:
            # A trace file still being read: the views would be redrawn for a model that
            # changes under them, and each redraw takes the GIL from the read.
            now = time.monotonic()
            if now - self._full_tick < LOADING_TICK:
                with session.view():
                    header.show(session, None)
                return
            self._full_tick = now
        with session.view():
            model = session.model
            snapshot = None if session.cursor is None else model.at(session.cursor)
            header.show(session, snapshot)
            self._tell_answers(model)
            loop.show(session, snapshot)
            output.take(model.output, model.start or 0)
            output.show_until(session.cursor)
            self._refresh_tasks(model, snapshot)
            self.screen_stack[0].set_class(session.cursor is not None, "-past")
            self._main("#scrub", ScrubBar).show(
                model.start or 0,
                max(session.now(), model.end),
                session.cursor,
                self.playing,
                self.speed,
            )
            if self.screen_stack[0].has_class("-internals"):
                self._refresh_internals(model)
            if self.screen_stack[0].has_class("-timeline"):
                self._refresh_timeline(model)
                self._main("#span-info", Static).update(self._span_words(model))

    def _refresh_internals(self, model: Model) -> None:
        """The stepper's view of the loop it holds (else of the loop pane's), as it is now."""
        session = self.session
        source = session.held_loop()
        loop = model.loops.get(source) if source is not None else main_loop(model)
        story = ""
        if loop is not None and loop.held is not None:
            recent = [record for src, record in session.recent if src == loop.source]
            story = narration(model, loop.source, recent)
        self._main("#stepper", StepperPane).show(model, loop, session.now(), story)

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
            lanes.append(loop_lane(source, loop))
            counters.extend(loop_counters(loop))
        timeline.set_lanes(lanes, counters, model.start or 0, max(now, model.end))
        order = [("loop", source) for source in sorted(model.loops)]
        shown = [task_of(row).index for row in self._main("#tasks", Table).displayed_rows]
        order += shown
        if self.session.cursor is not None and not self._main("#tasks", Table).filter_text:
            # the table lists the tasks of the cursor's time; the lanes show the whole run
            listed = set(shown)
            order += [task.index for task in model.tasks if task.index not in listed]
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
            return f"The program ended; {NO_LOOP}."
        if ended:
            return "The program's loops ran no tasks."
        if session.program is None:
            return "Reading the trace…"
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
        session = self.session
        if session.program is None:
            self.action_play()  # a trace: play it, or stop playing
            return
        if self.autoplaying:
            self.autoplaying = False
        if session.held() is not None:
            self._steer("continue", "Running on.")
        elif self._cannot_hold():
            self.notify("uvloop's loop (kept with --keep-uvloop) has no step points loopviz can "
                        "hold it at: it runs on.", severity="warning", timeout=4)  # fmt: skip
        elif self._steer("pause", "Holding the program at its next step point…"):
            self.screen_stack[0].add_class("-internals")

    def _cannot_hold(self) -> bool:
        """Every loop still open is recorded from outside (uvloop's): nothing to hold."""
        with self.session.view() as model:
            open_loops = [loop for loop in model.loops.values() if loop.closed is None]
        return bool(open_loops) and all(loop.outside for loop in open_loops)

    def _steer(self, cmd: str, words: str, **fields: object) -> bool:
        """Tell the stepper `cmd`; the views follow the program again (live). False when
        there is no program to tell any more."""
        if not self.session.steer(cmd, **fields):
            self.notify("No running program to step: it has ended.", severity="warning")
            return False
        if self.session.cursor is not None:
            self.session.cursor = None
        self.notify(words, timeout=1.5)
        self.tick()
        return True

    def _live_and_held(self) -> bool:
        """The views show now and a stepper holds the program: keys move the program."""
        return self.session.cursor is None and self.session.held() is not None

    def action_step(self) -> None:
        if self.session.cursor is not None:
            self._find(1, kind="step")  # in the past: over what already ran
        elif self.session.program is not None:
            self.autoplaying = False
            if self._steer("step", "One callback…"):
                self.screen_stack[0].add_class("-internals")

    def action_step_back(self) -> None:
        self._find(-1, kind="step")

    def action_go_on(self) -> None:
        self.autoplaying = False
        self._steer("continue", "Running on.")

    def action_until_task(self) -> None:
        with self.session.view() as model:
            task = self._selected_task(model)
        if task is None:
            self.notify("Select a task first.", timeout=2)
            return
        if task.outcome is not None:
            self.notify(f"{task.label} has finished: it will not step again.", timeout=2)
            return
        self._steer("until_task", f"Running until {task.label} steps…", task=task.ident)

    def action_choose_kind(self) -> None:
        self.until_kind = (self.until_kind + 1) % len(UNTIL_KINDS)
        self.notify(f"o runs until: {UNTIL_KINDS[self.until_kind][1]}", timeout=2)

    def action_until_kind(self) -> None:
        kind, words = UNTIL_KINDS[self.until_kind]
        self._steer("until", f"Running until {words}…", kind=kind)

    def action_autoplay(self) -> None:
        if self.session.program is None:
            self.action_play()
            return
        self.autoplaying = not self.autoplaying
        if self.autoplaying:
            self._steer("play", self._play_words(), interval=self.play_interval)
        else:
            self._steer("pause", "Auto-play stopped.")

    def _play_words(self) -> str:
        if not self.play_interval:
            return "Auto-play: as fast as it goes."
        return f"Auto-play: a callback every {self.play_interval:g} s."

    def action_cancel_task(self) -> None:
        row = self._main("#tasks", Table).current
        if row is not None:
            self.ask_cancel(task_of(row))

    def ask_cancel(self, task: Task) -> None:
        """Cancel `task` in the program, once the person says yes."""
        if task.outcome is not None:
            self.notify(f"{task.label} has finished: nothing to cancel.", timeout=2)
            return
        if self.session.program is None or self.session.status is not None:
            self.notify("No running program: a recorded trace can't be changed.", timeout=2)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.session.steer("cancel", loop=task.loop, task=task.ident)
                self.notify(f"Asking {task.label} to cancel…", timeout=2)

        self.push_screen(ConfirmScreen(f"Cancel {task.label}?\nIt gets CancelledError where "
                                       "it waits; its finally blocks run."), answered)  # fmt: skip

    def action_dump(self) -> None:
        path = f"{self.session.trace_path}.stacks.txt"
        if self.session.steer("dump", path=path):
            self.notify(f"Asking the program for every task's stack ({path})…", timeout=2)
        else:
            self.notify("No running program to ask.", timeout=2)

    def _tell_answers(self, model: Model) -> None:
        """What the program answered to a command, as a notice each."""
        answers = model.answers
        for _, text in answers[self._answers_told :]:
            failed = "not delivered" in text or "cannot" in text or "gone" in text
            self.notify(text, severity="warning" if failed else "information", timeout=6)
        self._answers_told = len(answers)

    def action_tree(self) -> None:
        self.push_screen(TreeScreen(self.session, self._open_from_tree))

    def _open_from_tree(self, task: Task) -> None:
        self.push_screen(TaskDetails(self.session, task))

    def action_warnings(self) -> None:
        self.push_screen(WarningsScreen(self.session), self._go_to_finding)

    def _go_to_finding(self, finding: Finding | None) -> None:
        """To a warning's time, its task selected in the table and on the timeline."""
        if finding is None:
            return
        screen = self.screen_stack[0]
        if not screen.has_class("-timeline"):
            self.action_timeline()
        self._move_cursor(finding.t)
        if finding.tasks:
            self._main("#timeline", Timeline).select_lane(finding.tasks[0])

    def action_internals(self) -> None:
        self.screen_stack[0].toggle_class("-internals")
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

    # -- time travel -----------------------------------------------------------------------

    def _span_words(self, model: Model) -> Text:
        """The step of the selected lane's task at the cursor, and who woke it."""
        task, step, number = self._step_at_cursor(model)
        if task is None:
            return Text(" select a task's lane (↑ ↓) to see its step at the cursor", style="dim")
        if step is None:
            return Text(f" {task.label}: no step yet at the cursor", style="dim")
        start = model.start or 0
        words = Text(f" {task.label} step {number}: ", style="bold")
        span = f"{offset(step.begin - start)}s → {offset(step.end - start)}s"
        took = duration(step.end - step.begin)
        words.append(f"{span} ({took}), then {step_wait_words(model, step)}")
        if step.waker is None:
            words.append(" · ran at once as it was created (eager)")
        else:
            words.append(f" · woken by {step.waker.describe(model.tasks)} at "
                         f"{offset(step.waker.t - start)}s")  # fmt: skip
            if step.waker.origin == Origin.TASK:
                words.append("  w: go to it", style="dim")
        return words

    def _selected_task(self, model: Model) -> Task | None:
        if self.screen_stack[0].has_class("-timeline"):
            key = self._main("#timeline", Timeline).selected_key
            return model.tasks[key] if isinstance(key, int) and key < len(model.tasks) else None
        row = self._main("#tasks", Table).current
        return None if row is None else task_of(row)

    def _step_at_cursor(self, model: Model) -> tuple[Task | None, Step | None, int]:
        task = self._selected_task(model)
        if task is None:
            return None, None, 0
        t = self.session.view_time()
        steps = task.steps
        n = bisect_right(steps, t, key=lambda step: step.begin)
        return (task, steps[n - 1], n) if n else (task, None, 0)

    def _move_cursor(self, t: int | None, remember: bool = True) -> None:
        """Put the time cursor at `t` (None: live), within the run; every view follows."""
        session = self.session
        if remember:
            self._jumps.append(session.cursor)
        if t is not None:
            model = session.model
            t = max(model.start or 0, min(t, max(session.now(), model.end)))
            timeline = self._main("#timeline", Timeline)
            timeline.cursor = t
        session.cursor = t
        self.tick()

    def _find(self, step: int, **what: Any) -> None:
        with self.session.view() as model:
            t = self.session.view_time()
            found = model.next_event(t, **what) if step > 0 else model.prev_event(t, **what)
        if found is None:
            self.notify("Nothing more that way.", timeout=1.5)
        else:
            self._move_cursor(found.t)

    def action_event(self, step: int) -> None:
        self._find(step)

    def action_blocked(self, step: int) -> None:
        self._find(step, kind="blocked", min_ns=BLOCKED_NS)

    def action_iteration(self, step: int) -> None:
        if step > 0 and self._live_and_held():
            self._steer("tick", "To the next iteration…")
            return
        self._find(step, kind="select")

    def action_task_step(self, step: int) -> None:
        with self.session.view() as model:
            task = self._selected_task(model)
        if task is None:
            self.notify("Select a task first (a row, or a lane in the timeline).", timeout=2)
            return
        self._find(step, task=task.index, kind="step")

    def action_jump(self, where: int) -> None:
        model = self.session.model
        self._move_cursor(model.start or 0 if where == 0 else max(self.session.now(), model.end))

    def action_to_waker(self) -> None:
        with self.session.view() as model:
            _, step, _ = self._step_at_cursor(model)
        if step is None or step.waker is None or step.waker.origin != Origin.TASK:
            self.notify("No task woke the step at the cursor.", timeout=2)
            return
        self._move_cursor(step.waker.t - 1)  # inside the waking step, which ended then
        self._main("#timeline", Timeline).select_lane(int(step.waker.ref))

    def action_back(self) -> None:
        if self._jumps:
            self._move_cursor(self._jumps.pop(), remember=False)

    def action_play(self) -> None:
        self.playing = not self.playing
        if self.playing:
            if self.session.cursor is None:
                self._move_cursor(self.session.model.start or 0)
            self._player = self.set_interval(PLAY_TICK, self._play_tick)
        else:
            self._player.stop()
        self.tick()

    def _play_tick(self) -> None:
        session = self.session
        end = max(session.now(), session.model.end)
        t = (session.cursor or 0) + int(PLAY_TICK * self.speed * 1e9)
        if t >= end:
            self.action_play()  # stop at the end
            self._move_cursor(end if session.program is None else None, remember=False)
            return
        self._move_cursor(t, remember=False)

    def action_speed(self, factor: float) -> None:
        if self.session.program is not None and self.session.cursor is None:
            # stepping: the auto-play interval, from 2 s a callback to flat out
            interval = (self.play_interval or PLAY_FASTEST / 2) / factor
            self.play_interval = 0.0 if interval < PLAY_FASTEST else min(2.0, interval)
            if self.autoplaying:
                self._steer("play", self._play_words(), interval=self.play_interval)
            else:
                self.notify(self._play_words() + " (a starts it)", timeout=1.5)
            return
        self.speed = max(1 / 64, min(1024.0, self.speed * factor))
        self.notify(f"Replay speed {self.speed:g}×", timeout=1)
        self.tick()

    def on_scrub_bar_jump(self, event: ScrubBar.Jump) -> None:
        self._move_cursor(event.t)

    def action_live(self) -> None:
        if self.playing:
            self.action_play()
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
        self._answers_told = 0
        self._main("#tasks", Table).set_rows([])
        self._main("#output", OutputView).reset()
        self._main("#loop", LoopPane).reset()
        session.start()
        self.tick()

    def action_open(self) -> None:
        row = self._main("#tasks", Table).current
        if row is not None:
            self.push_screen(TaskDetails(self.session, task_of(row)))

    def on_table_selected(self, event: Table.Selected) -> None:
        if event.control.id == "tasks":
            self.push_screen(TaskDetails(self.session, task_of(event.row)))

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
