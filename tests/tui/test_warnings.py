"""The warnings in the viewer: counted in the header, flagged in the tasks table, listed by W,
and Enter goes to the warning's task and time."""

from __future__ import annotations

import asyncio
import time

from tui_helpers import drive, screen_text

import visualizer
from visualizer.tui.widgets.table import Table
from visualizer.tui.widgets.timeline import Timeline


def _blocking_trace(path):
    async def main():
        await asyncio.sleep(0)
        time.sleep(0.15)  # holds the loop: loop-blocked at its default 100 ms
        await asyncio.create_task(asyncio.sleep(0.01), name="napper")

    with visualizer.record(str(path)), asyncio.Runner(loop_factory=visualizer.loop_factory) as r:
        r.run(main())
    return path


def test_a_warning_is_counted_flagged_listed_and_jumped_to(tmp_path):
    trace = _blocking_trace(tmp_path / "blocks.lvtrace")

    async def look(app, pilot):
        for _ in range(50):  # the rules run once the trace is read
            if app.session.findings and app.session.finished:
                break
            await pilot.pause(0.05)
        app.tick()
        await pilot.pause()
        main_screen = screen_text(app)
        names = [row.name for row in app.query_one("#tasks", Table).displayed_rows]
        await pilot.press("W")
        await pilot.pause()
        listed = screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        app.tick()
        await pilot.pause()
        timeline = app.query_one("#timeline", Timeline)
        finding = app.session.findings[0]
        return main_screen, names, listed, finding, app.session.cursor, timeline.selected_key

    main_screen, names, listed, finding, cursor, lane = drive(trace, look)
    assert finding.rule == "loop-blocked"
    assert "⚠ 1 warning (W)" in main_screen
    flagged = [line for line in main_screen.splitlines() if "⚠ Task-" in line]
    assert len(flagged) == 1 and "150." in flagged[0]  # the task that blocked, and only it
    assert "1 ⚠ Loop blocked" in listed and "held loop 1 for" in listed
    assert cursor == finding.t and lane == finding.tasks[0]  # its time, its lane
    assert "napper" in names


def test_a_clean_run_has_no_warnings(tmp_path):
    trace = tmp_path / "clean.lvtrace"

    async def fine():
        await asyncio.sleep(0.01)

    with visualizer.record(str(trace)), asyncio.Runner(loop_factory=visualizer.loop_factory) as r:
        r.run(fine())

    async def look(app, pilot):
        while not app.session.finished:
            await pilot.pause(0.05)
        await pilot.press("W")
        await pilot.pause()
        return app.session.findings, screen_text(app)

    findings, text = drive(trace, look)
    assert findings == [] and "No warnings: no rule fired." in text
