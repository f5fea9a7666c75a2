"""One time cursor for the whole app: the timeline moves it, every view follows, n is now."""

from __future__ import annotations

from tui_helpers import drive, screen_text

from visualizer.tui.widgets.output import OutputView
from visualizer.tui.widgets.table import Table
from visualizer.tui.widgets.timeline import Timeline

MS = 1_000_000


def test_t_shows_a_lane_per_task_and_one_per_loop(shop_trace):
    async def look(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        timeline = app.query_one("#timeline", Timeline)
        return timeline.shown_keys, screen_text(app)

    keys, text = drive(shop_trace, look)
    assert keys[0] == ("loop", 1) and sorted(keys[1:]) == list(range(8))
    assert "producer produce()" in text and "loop 1 MainThread" in text


def test_moving_the_cursor_shows_every_view_at_that_time(shop_trace):
    async def travel(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        timeline = app.query_one("#timeline", Timeline)
        start = app.session.model.start
        timeline.cursor = start + 3_600_000  # after main made its children, before they ran
        await pilot.pause()
        app.tick()
        await pilot.pause()
        table = app.query_one("#tasks", Table)
        states = {row.task.name: row.state.name for row in table.displayed_rows}
        lines = app.query_one("#output", OutputView)._shown
        header = screen_text(app).splitlines()[0]
        await pilot.press("n")
        app.tick()
        await pilot.pause()
        live = {task.name: task.state.name for task in table.displayed_rows}
        return states, lines, header, live, app.session.cursor

    states, lines, header, live, cursor = drive(shop_trace, travel)
    assert "⏪ at 0.004s" in header
    assert states["Task-1"] == "WAITING" and states["producer"] == "READY"
    assert "Task-6" in states and states["Task-6"] == "READY"  # it fails later
    assert lines == 0
    assert cursor is None and live["Task-6"] == "FAILED" and live["producer"] == "WAITING"


def test_lanes_follow_the_tasks_tables_filter(shop_trace):
    async def filtered(app, pilot):
        await pilot.press("slash", *"consume", "enter", "t")
        await pilot.pause()
        return app.query_one("#timeline", Timeline).shown_keys

    assert drive(shop_trace, filtered) == [("loop", 1), 2, 3]
