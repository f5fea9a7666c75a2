"""One time cursor for the whole app: the timeline moves it, every view follows, n is now."""

from __future__ import annotations

from tui_helpers import drive, screen_text

from visualizer.tui.widgets.output import OutputView
from visualizer.tui.widgets.scrub import ScrubBar
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
        lag = [line for line in screen_text(app).splitlines() if " lag " in line]
        await pilot.press("n")
        app.tick()
        await pilot.pause()
        live = {task.name: task.state.name for task in table.displayed_rows}
        return states, lines, header, live, app.session.cursor, lag

    states, lines, header, live, cursor, lag = drive(shop_trace, travel)
    # main's step, the only one by then, sat 1 ms in the ready queue; later ones 9 ms
    assert ["1.00ms" in line for line in lag] == [True, True], lag  # header, loop pane
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


async def _timeline_on(app, pilot, lane: int):
    await pilot.press("t")
    await pilot.pause()
    timeline = app.query_one("#timeline", Timeline)
    timeline.select_lane(lane)
    await pilot.press("g")
    await pilot.pause()
    return timeline


def test_s_steps_through_the_selected_tasks_steps_and_says_who_woke_each(shop_trace):
    async def steps(app, pilot):
        await _timeline_on(app, pilot, 1)  # producer
        await pilot.press("s")
        await pilot.pause()
        app.tick()
        await pilot.pause()
        return app.session.cursor - app.session.model.start, screen_text(app)

    at, text = drive(shop_trace, steps)
    assert at == 4 * MS  # the producer's one step began when the iteration's handles did
    assert "producer produce() step 1:" in text and "then Queue.put" in text
    assert "woken by Task-1 main()" in text


def test_w_jumps_to_the_waking_step_and_b_comes_back(shop_trace):
    async def jump(app, pilot):
        timeline = await _timeline_on(app, pilot, 1)
        await pilot.press("s")
        await pilot.pause()
        before = app.session.cursor
        await pilot.press("w")
        await pilot.pause()
        there = app.session.cursor, timeline.selected_key
        await pilot.press("b")
        await pilot.pause()
        return before, there, app.session.cursor

    before, (there, lane), back = drive(shop_trace, jump)
    assert lane == 0 and there < before  # inside main's step, which made the producer
    assert back == before


def test_e_and_braces_walk_events_and_iterations(shop_trace):
    async def walk(app, pilot):
        await _timeline_on(app, pilot, 0)
        start = app.session.model.start
        seen = []
        for key in ("right_curly_bracket", "right_curly_bracket", "E", "e"):
            await pilot.press(key)
            await pilot.pause()
            seen.append((app.session.cursor - start) / MS)
        return seen

    first_select, second_select, before, after = drive(shop_trace, walk)
    assert (first_select, second_select) == (1, 4)  # the two selects of the shop
    assert before < second_select <= after


def test_p_plays_forward_and_x_speeds_it_up(shop_trace):
    async def play(app, pilot):
        await _timeline_on(app, pilot, 0)
        await pilot.press("x", "x", "x", "x", "x", "x", "x")  # 128x
        await pilot.press("p")
        await pilot.pause(0.4)
        moved = app.session.cursor - app.session.model.start
        await pilot.press("p")
        return moved, app.speed, app.playing

    moved, speed, playing = drive(shop_trace, play)
    assert speed == 128 and not playing
    assert moved > 0


def test_a_click_on_the_scrub_bar_moves_the_cursor(shop_trace):
    async def click(app, pilot):
        await _timeline_on(app, pilot, 0)
        app.query_one("#scrub").post_message(ScrubBar.Jump(app.session.model.start + 30 * MS))
        await pilot.pause()
        return (app.session.cursor - app.session.model.start) // MS

    assert drive(shop_trace, click) == 30


def test_k_finds_the_callback_that_held_the_loop(tmp_path):
    from scenes import T0, _Loop, write_trace

    from visualizer.trace import schema as s

    loop = _Loop()
    loop.add(s.LOOP_OPEN, T0, 0, 1, loop.sid("MainThread"), loop.sid("RecordingEventLoop"))
    loop.task(T0, 1, "Task-1", "main", "app.py:9 in <module>", 0)
    t = T0
    for n in range(4):  # four iterations; the third one's step blocks for 250 ms
        loop.add(s.SELECT, t + MS, 0, t + 2 * MS, 0, 1)
        loop.add(s.READY, t + 2 * MS, 1, 1, 0)
        t += 252 * MS if n == 2 else 3 * MS
        loop.add(s.STEP_YIELD, t, 1, 1)
    trace = write_trace(tmp_path / "block.lvtrace", [loop.batch()])

    async def find(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("g", "k")
        await pilot.pause()
        found = (app.session.cursor - T0) // MS
        await pilot.press("k")
        await pilot.pause()
        return found, (app.session.cursor - T0) // MS

    first, again = drive(trace, find)
    assert first == 8  # the long step began after the third select returned
    assert again == first  # nothing further: the cursor stays


def test_zoom_and_pan_change_the_window_and_keep_the_cursor_on_screen(shop_trace):
    async def zoom(app, pilot):
        timeline = await _timeline_on(app, pilot, 0)
        timeline.cursor = app.session.model.start + 20 * MS
        await pilot.pause()
        whole = timeline.window
        await pilot.press("plus", "plus")
        zoomed = timeline.window
        await pilot.press("right")
        panned = timeline.window
        return whole, zoomed, panned, timeline.cursor

    (w0, w1), (z0, z1), (p0, p1), cursor = drive(shop_trace, zoom)
    assert (z1 - z0) * 4 <= (w1 - w0) + 4  # two zooms in: a quarter of the time on screen
    assert z0 <= cursor - 0 and p0 > z0 and p1 - p0 == z1 - z0


def test_details_show_the_task_as_it_was_at_the_cursor(shop_trace):
    async def details(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        app.query_one("#timeline", Timeline).cursor = app.session.model.start + 3_600_000
        await pilot.pause()
        await pilot.press("t")  # back to the table, still at the cursor
        app.tick()
        table = app.query_one("#tasks", Table)
        table.move_cursor(next(i for i, row in enumerate(table.displayed_rows)
                               if row.task.name == "Task-6"))  # fmt: skip
        await pilot.press("enter")
        await pilot.pause()
        past = screen_text(app)
        await pilot.press("escape", "n", "enter")
        await pilot.pause()
        return past, screen_text(app)

    past, now = drive(shop_trace, details)
    assert "● ready" in past and "at the time cursor" in past
    assert "steps (0 of 1, to the cursor)" in past and "result: failed" not in past
    assert "✗ failed" in now and "result: failed" in now and "steps (1)" in now
    assert "steps       0, longest 0ns" in past
    assert "woken by    nobody yet" in past  # its one step, woken by main, comes later
    assert "Task-1 main() ×1" in now
