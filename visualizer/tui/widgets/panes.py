"""The small panes: the header bar and the loop pane, redrawn from the model on each tick."""

from __future__ import annotations

import time

from rich.table import Table as RichTable
from rich.text import Text
from textual.widgets import Static

from ...model import NO_LOOP, UNRECORDED, Loop, Model
from ...model.series import Activity
from ...model.state import StackSample
from ...model.timeindex import LoopAt, Snapshot
from ...trace import schema
from ..format import (
    STATE_LOOK,
    clock,
    duration,
    exit_words,
    offset,
    percent,
    short_site,
    sparkline,
)  # fmt: skip
from ..session import Session

# The loop pane's words on a loop recorded from outside (uvloop's): what it cannot see.
SEEN_FROM_OUTSIDE = (
    f"seen from outside: its iterations, select, I/O and ready queue are {UNRECORDED}"
)
BLOCKED_AFTER = 0.3  # seconds without records, while the loop is not idle, before we say so


def loop_blocked_for(session: Session, loop: Loop) -> float:
    """Seconds the loop seems stuck in a callback (0 when it looks fine)."""
    if session.status is not None or session.program is None:
        return 0.0
    if loop.closed is not None or loop.idle_since is not None or loop.held is not None:
        return 0.0  # closed, waiting in select, or held by the stepper: not stuck
    since = session.model.stuck_since(loop.source)
    if since is not None:  # the watchdog saw it stuck (its samples are records: not silence)
        return max(0, session.now() - since) / 1e9
    if loop.outside:
        return 0.0  # its waits in select are not recorded: a silence says nothing
    quiet = time.monotonic() - session.last_data
    return quiet if quiet >= BLOCKED_AFTER else 0.0


def main_loop(model: Model) -> Loop | None:
    """The loop to show: the busiest one still open, else the busiest."""
    loops = sorted(model.loops.values(), key=lambda loop: (loop.closed is None, loop.handles))
    return loops[-1] if loops else None


class HeaderBar(Static):
    """Program, pid, state, elapsed; task counts by state; lag; records; the trace file."""

    def show(self, session: Session, snapshot: Snapshot | None = None) -> None:
        model = session.model
        status = session.status
        line1 = Text()
        line1.append(" loopviz ", style="bold reverse")
        line1.append(f" {session.title}", style="bold")
        if session.program is not None and session.program.pid is not None:
            line1.append(f"  pid {session.program.pid}")
        line1.append("  ")
        if snapshot is not None:
            at = offset(max(0, snapshot.t - (model.start or 0)))
            line1.append(f"⏪ at {at}s · n: back to now  ", style="bold black on yellow")
        line1.append_text(self._state(session, status))
        for _, note in model.notes:  # what the recorder said of the recording: never left out
            line1.append(f"  ⓘ {note}", style="bold yellow")
        findings = session.findings
        if findings:
            errors = any(finding.severity == "error" for finding in findings)
            line1.append(f"  ⚠ {len(findings):,} warning{'s' if len(findings) > 1 else ''} (W)",
                         style="bold red" if errors else "bold yellow")  # fmt: skip
        if session.cut:
            line1.append("  ⚠ trace cut short: the end of it is missing", style="bold yellow")
        if session.program is None:
            line1.append(f"  {clock(model.duration)}")
        else:
            end = session.ended if session.ended is not None else time.monotonic()
            line1.append(f"  {clock(int((end - session.started) * 1e9))}")
        line1.append(f"  records {model.records:,}")
        line1.append(f"  dropped {model.dropped:,}", style="bold red" if model.dropped else "")
        line1.append(f"  trace {session.trace_path}", style="dim")
        line2 = Text(" ")
        counts = model.state_counts() if snapshot is None else snapshot.state_counts()
        line2.append(f"tasks {sum(counts.values()):,}", style="bold")
        for state, (glyph, word, style) in STATE_LOOK.items():
            line2.append("  ")
            line2.append(f"{glyph} {counts.get(state, 0):,} {word}", style=style)
        loop = main_loop(model)
        if loop is not None:
            lag = loop.lag if snapshot is None else loop.lag_at(snapshot.t)
            line2.append(f"  lag {duration(lag)}")
        width = self.size.width or 80
        for line in (line1, line2):
            line.truncate(width, overflow="ellipsis")  # one row each, whatever the width
        self.update(Text("\n").join([line1, line2]))

    @staticmethod
    def _state(session: Session, status: int | None) -> Text:
        if session.error:
            return Text(f"✗ {session.error}", style="bold red")
        if session.program is None:
            status = session.model.exit_status
            if status is None:
                return Text("■ recorded", style="bold")
        elif status is None:
            held = session.held()
            if held is not None:
                where = ("before its select" if held.point == schema.POINT_TOP
                         else f"before callback {held.k} of {held.n}")  # fmt: skip
                return Text(f"⏸ held {where}", style="bold yellow")
            return Text("▶ running", style="bold green")
        detail = session.model.exit_detail.strip().splitlines()
        words = exit_words(status)
        if detail and status != 0:
            words += f": {detail[-1]}"
        return Text(f"■ {words}", style="bold" if status == 0 else "bold red")


def _line(text: str, style: str = "") -> Text:
    """A row's text on one line, cut short with an ellipsis where it must be."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class LoopPane(Static):
    """Iterations, callbacks per second, select vs busy, queues, and the lag sparkline."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._last: tuple[float, int] | None = None  # (when, handles) at the previous tick
        self.chosen: int | None = None  # the loop (source) picked with `l`; None: the busiest

    def reset(self) -> None:
        self._last = None
        self.chosen = None

    def next_loop(self, model: Model) -> None:
        """Show the next loop of the program (by number), round to the busiest again."""
        sources = sorted(model.loops)
        later = [source for source in sources if self.chosen is None or source > self.chosen]
        self.chosen = later[0] if later else None
        self._last = None

    def show(self, session: Session, snapshot: Snapshot | None = None) -> None:
        model = session.model
        loop = model.loops.get(self.chosen) if self.chosen is not None else main_loop(model)
        if loop is not None and snapshot is not None:
            self._show_at(session, loop, snapshot.loops.get(loop.source), snapshot.t)
            return
        if loop is None:
            stuck = model.stuck_at(model.stacks[-1].loop) if model.stacks else None
            if stuck is not None and session.status is None:
                self._stuck_before_records(session, stuck)
            else:
                self.update(self._no_loop(session))
            return
        count = f" of {len(model.loops)}" if len(model.loops) > 1 else ""
        self.border_title = f"Loop {loop.source}{count} · {loop.thread_name or 'thread'}"
        grid = RichTable.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, min_width=7)  # fits "BLOCKED"
        # one line a row; a loop seen from outside has a paragraph on what it cannot see
        grid.add_column(no_wrap=not loop.outside, overflow="ellipsis")
        live = session.program is not None and session.status is None
        rate = self._rate(loop) if live else self._average(model, loop)
        if loop.outside:
            self._outside_rows(grid, loop, rate)
        else:
            elapsed = loop.select_time + loop.busy_time
            grid.add_row("iter", f"{loop.iterations:,} · {rate:,.0f} callbacks/s")
            select, busy = percent(loop.select_time, elapsed), percent(loop.busy_time, elapsed)
            grid.add_row("time", f"select {select} · busy {busy}")
            grid.add_row("now", f"ready {len(loop.ready)} · timers {len(loop.timers)} · "
                                f"fds {len(loop.watchers)}")  # fmt: skip
        self._lag_row(grid, [lag for _, lag in loop.lag_series[-60:]])
        blocked = loop_blocked_for(session, loop)
        if blocked:
            # nothing recorded while not idle: one callback or task step has held it that long
            alarm = "bold red"
            grid.add_row(Text("BLOCKED", alarm), Text(f"{blocked:.1f}s in one callback", alarm))
            stuck = model.stuck_at(loop.source)
            if stuck is not None:  # the watchdog's latest look at the loop's thread
                grid.add_row(Text("at", alarm), Text(short_site(stuck.where), alarm))
        elif loop.closed is not None:
            grid.add_row("end", f"closed after {duration(loop.closed - loop.opened)}")
        grid.add_row("trace", _line(session.trace_path, "dim"))
        self.update(grid)

    @staticmethod
    def _outside_rows(grid: RichTable, loop: Loop, rate: float) -> None:
        """A loop recorded from outside: the words for what it cannot see, then what it saw."""
        grid.add_row(loop.outside.partition(".")[0], SEEN_FROM_OUTSIDE)
        grid.add_row("busy", _line(f"{duration(loop.busy_time)} · {rate:,.0f} handles/s seen"))
        grid.add_row("timers", _line(f"{len(loop.timers)}"))

    def _show_at(self, session: Session, loop: Loop, then: LoopAt | None, t: int) -> None:
        """The loop at the time cursor: what it was doing and what was queued."""
        grid = RichTable.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, min_width=7)
        grid.add_column(no_wrap=not loop.outside, overflow="ellipsis")
        if then is None:
            grid.add_row("", "not open yet")
        elif loop.outside:
            grid.add_row(loop.outside.partition(".")[0], SEEN_FROM_OUTSIDE)
            running = then.activity == Activity.HANDLES
            grid.add_row("doing", _line("running a handle" if running else "no handle seen"))
            grid.add_row("timers", _line(f"{then.timers}"))
        else:
            doing = {Activity.SELECT: "waiting in select", Activity.HANDLES: "running handles"}
            grid.add_row("iter", f"{then.iterations:,}")
            grid.add_row("doing", doing.get(then.activity, "its own bookkeeping")
                         if then.activity is not None else "between phases")  # fmt: skip
            grid.add_row("then", f"ready {then.ready} · timers {then.timers} · fds {then.fds}")
        if then is not None:
            grid.add_row("tasks", _line(f"{then.alive:,} alive"))
            self._lag_row(grid, [lag for _, lag in loop.lag_series_at(t)[-60:]])
        grid.add_row("trace", _line(session.trace_path, "dim"))
        self.update(grid)

    def _stuck_before_records(self, session: Session, stuck: StackSample) -> None:
        """A loop stuck before it wrote its first records: the watchdog's samples say so."""
        self.border_title = f"Loop {stuck.loop}"
        alarm = "bold red"
        grid = RichTable.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, min_width=7)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        since = session.model.stuck_since(stuck.loop) or stuck.t
        held = max(0, session.now() - since) / 1e9
        grid.add_row(Text("BLOCKED", alarm), Text(f"{held:.1f}s in its first callback", alarm))
        grid.add_row(Text("at", alarm), Text(short_site(stuck.where), alarm))
        if stuck.label:
            grid.add_row("task", stuck.label)
        grid.add_row("trace", _line(session.trace_path, "dim"))
        self.update(grid)

    def _lag_row(self, grid: RichTable, series: list[int]) -> None:
        """The longest scheduling delay of each second, the last one on the right."""
        peak = duration(max(series, default=0))
        width = max(8, self.size.width - 12 - len(peak))
        grid.add_row("lag", Text(f"{sparkline(series, width)} {peak}"))

    def _rate(self, loop: Loop) -> float:
        now = time.monotonic()
        last, self._last = self._last, (now, loop.handles)
        if last is None or now <= last[0]:
            return 0.0
        return max(0, loop.handles - last[1]) / (now - last[0])

    @staticmethod
    def _average(model: Model, loop: Loop) -> float:
        """A recorded trace: callbacks per second over the loop's life."""
        end = loop.closed if loop.closed is not None else model.end
        return loop.handles / ((end - loop.opened) / 1e9) if end > loop.opened else 0.0

    @staticmethod
    def _no_loop(session: Session) -> Text:
        if session.status is not None or (session.program is None and session.finished):
            return Text(f"The program ended; {NO_LOOP}.", style="bold")
        return Text("No event loop yet.", style="dim")
